"""Upscale, prompt enhancement, chained upscale, re-run, delete and presets on the simulator."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from backend import store as st
from backend.media import probe_video
from backend.operations import Refused
from backend.wiring import start_backend
from tests.helpers import RUN_STARTS, make_settings, wait_for
from tests.integration.test_local_runs import params, wait_terminal

pytestmark = pytest.mark.integration


@pytest.fixture
def backend(tmp_path):
    b = start_backend(make_settings(tmp_path, sim_seconds=1))
    yield b
    b.close()


def test_upscale_uses_the_parent_video_on_the_box_and_writes_3x(backend):
    parent = wait_terminal(backend, backend.ops.launch(params(), name="base").id)
    assert parent.status == st.COMPLETED
    cache = Path(backend.settings.hosts["sim"].remote_root) / "cache"
    cached_before = sorted(cache.iterdir())
    up = wait_terminal(backend, backend.ops.upscale(parent.id, weight=0.4).id)
    assert up.status == st.COMPLETED, up.failure_cause
    assert up.parent_id == parent.id and up.run_type == "upscale"
    info = probe_video(up.output_path)
    assert (info.width, info.height) == (3840, 2112)
    spec = json.loads(up.spec)
    assert set(k for k, v in spec.items() if isinstance(v, dict)) == {"upscale"}
    assert spec["upscale"]["control_weight"] == 0.4 and spec["num_steps"] == 10
    assert sorted(cache.iterdir()) == cached_before  # nothing uploaded again


def test_upscale_of_an_unfinished_or_missing_run_is_refused(backend):
    queued = backend.ops.launch(params("[sim:crash]"))
    failed = wait_terminal(backend, queued.id)
    with pytest.raises(Refused, match="only a completed run"):
        backend.ops.upscale(failed.id)


def test_chained_upscale_follows_a_completed_run(backend):
    first = backend.ops.launch(params(), name="chain", with_upscale=True)
    assert wait_terminal(backend, first.id).status == st.COMPLETED
    child = wait_for(lambda: backend.ops.find_runs(
        __import__("backend.store.history", fromlist=["RunFilter"]).RunFilter(run_types=["upscale"]))[0],
        what="the chained upscale")[0]
    assert child.parent_id == first.id
    assert wait_terminal(backend, child.id).status == st.COMPLETED


def test_enhance_makes_a_new_prompt_linked_to_the_original(backend):
    run = wait_terminal(backend, backend.ops.enhance(params("a car on a road")).id)
    assert run.status == st.COMPLETED, run.failure_cause
    # defect 5: Cosmos' standalone prompt upsampler, not a whole generation
    script = backend.store.get_run(run.id).job_script
    assert "upsample.py" in script and "transfer.py" not in script
    assert "upsampler_pipeline.py" in json.loads(run.spec)["script"]
    log = "\n".join(backend.store.log_text(run.id))
    assert "Upsampled prompt:" in log and "Start creating base model" not in log
    [note] = backend.ops.get_run(run.id).model_notes  # which video it read is recorded
    assert note["role"] == "upsampler_input" and "input video" in note["label"]
    text, _, parent = backend.ops.get_prompt(run.result_prompt_id)
    original = backend.store.get_run(run.id).prompt_id
    assert parent == original and text.startswith("a car on a road") and len(text) > 20


def test_rerun_repeats_every_setting(backend):
    first = wait_terminal(backend, backend.ops.launch(params(seed=42, num_steps=12), name="x").id)
    again = wait_terminal(backend, backend.ops.rerun(first.id).id)
    assert again.id != first.id and again.name == "x (re-run)"
    assert json.loads(again.spec) | {"input_video_path": None} == \
        json.loads(first.spec) | {"input_video_path": None}


def test_delete_removes_only_that_run(backend):
    keep = wait_terminal(backend, backend.ops.launch(params(), name="keep").id)
    gone = wait_terminal(backend, backend.ops.launch(params(), name="gone").id)
    root = Path(backend.settings.hosts["sim"].remote_root)
    removed = backend.ops.delete_run(gone.id)
    assert any("log lines" in r for r in removed)
    wait_for(lambda: not (root / "runs" / gone.id).exists(), what="the remote folder to go")
    assert (root / "runs" / keep.id / "outputs" / "output.mp4").exists()
    assert Path(keep.output_path).exists() and not (Path(gone.output_path)).exists()
    assert any((root / "cache").iterdir())  # the shared input cache stays
    assert backend.store.get_run(gone.id) is None


def test_an_active_run_cannot_be_deleted(tmp_path):
    b = start_backend(make_settings(tmp_path, sim_seconds=30))
    try:
        run_id = b.ops.launch(params()).id
        with pytest.raises(Refused, match="kill it first"):
            b.ops.delete_run(run_id)
        wait_for(lambda: b.ops.get_run(run_id).status == st.RUNNING, timeout=RUN_STARTS)
        b.ops.kill(run_id, force=True)
        wait_terminal(b, run_id)
    finally:
        b.close()


def test_presets_round_trip_without_content(backend):
    p = params(seed=9, guidance=7.5, weights={"depth": 0.4, "edge": 0.2})
    backend.ops.save_preset("night look", p)
    backend.ops.save_preset("night look", p)  # saving again updates, never duplicates
    loaded = backend.ops.load_preset("night look")
    assert (loaded.seed, loaded.guidance, loaded.weights) == (9, 7.5, p.weights)
    assert loaded.prompt == "" and loaded.input_video is None
    assert backend.ops.list_presets() == ["night look"]


def test_outputs_carry_their_settings_and_gpu_samples_are_recorded(tmp_path):
    from backend.media import read_embedded_settings

    settings = make_settings(tmp_path, sim_seconds=4)
    b = start_backend(settings)
    try:
        # held at sampling until the telemetry has sampled it: a 4 s run can end between two
        # samples (every 2 s) on a loaded machine
        run_id = b.ops.launch(params(prompt="a sunlit street [sim:hold]", seed=1234),
                              name="meta").id
        wait_for(lambda: b.ops.gpu_metrics(run_id), timeout=RUN_STARTS,
                 what="a GPU sample of the held run")
        (settings.data_dir / "sim-box" / "runs" / run_id / "outputs" / "sim-release").touch()
        run = wait_terminal(b, run_id)
        embedded = read_embedded_settings(run.output_path)
        assert embedded["run_id"] == run.id and embedded["params"]["seed"] == 1234
        samples = b.ops.gpu_metrics(run.id)
        assert samples and all(s["gpu"] in run.gpus for s in samples)
        assert max(s["utilization"] for s in samples) > 50
        overview = {h["name"]: h for h in b.ops.hosts_overview()}
        sim = wait_for(lambda: (o := {h["name"]: h for h in b.ops.hosts_overview()}["sim"])
                       ["reachable"] and o)
        assert [g["index"] for g in sim["gpus"]] == [0, 1, 2, 3] and sim["orphans"] == []
        assert "sim" in overview
    finally:
        b.close()


def test_orphan_containers_are_listed_and_removable(backend):
    from backend.remote.docker import DockerClient

    runtime = backend.scheduler.runtime("sim")
    docker = DockerClient(runtime.shell, runtime.host.docker)
    argv = list(runtime.host.docker) + [
        "run", "-d", "--name", "stray", "--label", "cosmos.run=01unknownrun00000000000000",
        "--label", f"cosmos.app={backend.scheduler.instance_id}", "img", "sleep", "60"]
    docker.run_detached(argv)
    orphan = wait_for(lambda: backend.ops.hosts_overview()[0]["orphans"])
    assert orphan[0]["name"] == "stray"
    backend.ops.remove_orphan("sim", "stray")
    wait_for(lambda: docker.inspect("stray") is None, what="orphan removal")
    with pytest.raises(Refused):
        backend.ops.remove_orphan("sim", "not-ours")


def test_multi_control_run_with_given_control_videos(backend, tmp_path):
    from backend.media import make_test_clip

    depth = make_test_clip(tmp_path / "depth.mp4", width=640, height=360, frames=121,
                           pattern="smptebars")
    edge = make_test_clip(tmp_path / "edge.mp4", width=640, height=360, frames=121,
                          pattern="rgbtestsrc")
    p = params(weights={"vis": 0.25, "depth": 0.25, "seg": 0.25, "edge": 0.25},
               control_videos={"depth": str(depth), "edge": str(edge)},
               seg_prompt="robot arm . table . mug", sigma_max=75)
    run = wait_terminal(backend, backend.ops.launch(p).id)
    assert run.status == st.COMPLETED, run.failure_cause
    spec = json.loads(run.spec)
    assert set(k for k, v in spec.items() if isinstance(v, dict)) == {"vis", "depth", "seg",
                                                                        "edge"}
    assert "input_control" not in spec["vis"]  # derived by Cosmos from the input video
    assert "input_control" not in spec["seg"]  # segmented by Cosmos, with the text prompt
    for control in ("depth", "edge"):
        staged = Path(spec[control]["input_control"])
        assert staged.name == f"{control}.mp4" and staged.resolve().exists()
    assert spec["seg"]["input_control_prompt"] == "robot arm . table . mug"
    assert spec["sigma_max"] == 75
    assert probe_video(run.output_path).width == 1280
    cache = Path(backend.settings.hosts["sim"].remote_root) / "cache"
    assert len(list(cache.iterdir())) == 3  # input + two control videos, each once


# -- the Transfer1 defects of issue 13, each through the operations a person uses --------------
def test_defect4_upscale_carries_the_parents_seed_and_guidance(backend):
    parent = wait_terminal(backend, backend.ops.launch(params(seed=77, guidance=6.5)).id)
    assert parent.status == st.COMPLETED
    up = backend.ops.upscale(parent.id)
    spec = json.loads(wait_for(lambda: backend.store.get_run(up.id).spec, timeout=60,
                               what="the upscale's spec"))
    assert spec["seed"] == 77 and spec["guidance"] == 6.5  # not Cosmos' 1 and 5


def test_defect2_enhance_with_depth_and_no_control_video_rewrites_from_the_input(backend):
    """Cosmos' integrated upsampler crashes on it (the simulator now does too); the run goes
    through the standalone upsampler reading the input video, and says so."""
    run = wait_terminal(backend, backend.ops.enhance(params("a car on a road",
                                                            weights={"depth": 0.7})).id)
    assert run.status == st.COMPLETED, run.failure_cause
    text, _, _ = backend.ops.get_prompt(run.result_prompt_id)
    assert text != "a car on a road" and text.startswith("a car on a road")
    [note] = backend.ops.get_run(run.id).model_notes
    assert "input video" in note["label"] and "depth has no control video" in note["label"]


def test_defect3_keypoint_only_enhance_is_refused_naming_the_controls_it_reads(backend):
    from backend.operations import ValidationFailed

    with pytest.raises(ValidationFailed) as refused:
        backend.ops.enhance(params("a dancer", weights={"keypoint": 1.0}))
    [error] = refused.value.errors
    assert error.field == "weights" and "vis, edge, depth or seg" in error.message
    assert backend.ops.list_runs() == []  # nothing queued
