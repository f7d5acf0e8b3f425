"""Transfer2.5 end to end on a box over real SSH, with both engines (cosmos-sim run by the SSH
user, and a real Docker engine with the fake Transfer2.5 inside a container), as the Transfer1
runs are tested in test_remote_runs.py / test_real_docker.py: a run with its control videos
and recipe brought home, the exit-0 guardrail block, and a batch."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from backend import store as st
from backend.config import load_config
from backend.media import make_test_clip, probe_video
from backend.models.params import GenerationParams
from backend.wiring import start_backend
from tests.integration.conftest import write_app_config
from tests.integration.remote_helpers import remote_log, wait_terminal

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    return make_test_clip(tmp_path_factory.mktemp("clip25") / "street.mp4", width=320,
                          height=180, frames=25)


@pytest.fixture
def box(tmp_path, engine, remote_root, no_user_ssh):
    started = []

    def start(**scheduler):
        image = engine.image or "cosmos-sim/transfer2.5:latest"  # docker: the test image
        config = write_app_config(tmp_path, {"box": engine.table(
            remote_root, seconds=1.5, images={"transfer2.5": image})}, trust_sshd=engine.sshd)
        if scheduler:
            text = config.read_text().replace("[scheduler]", "[scheduler]\n" + "\n".join(
                f"{k} = {json.dumps(v)}" for k, v in scheduler.items()))
            config.write_text(text)
        backend = start_backend(load_config(config))
        started.append(backend)
        return backend

    yield start
    for backend in started:
        backend.close()


def t25(clip: Path, prompt: str = "a rainy neon street, photorealistic", **kw) -> GenerationParams:
    p = GenerationParams(prompt=prompt, negative_prompt="blurry", input_video=str(clip),
                         weights={"edge": 1.0, "seg": 0.5}, model="transfer2.5", guidance=3,
                         seed=2025, sigma_max=None, num_steps=35,
                         control_options={"seg": {"mask_prompt": "car . road"}},
                         extra={"resolution": "720"})
    for key, value in kw.items():
        setattr(p, key, value)
    return p


def test_a_transfer25_run_end_to_end(box, engine, remote_root, clip):
    b = box()
    run = wait_terminal(b, b.ops.launch(t25(clip), host="box").id)
    assert run.status == st.COMPLETED, (run.failure_cause, b.store.log_text(run.id)[-20:])
    assert run.model == "transfer2.5"
    info = probe_video(run.output_path)
    assert (info.width, info.height, info.frames) == (320, 180, probe_video(clip).frames)
    summary = b.ops.get_run(run.id)
    files = {f["role"]: Path(f["path"]) for f in summary.model_files}
    assert set(files) == {"control.edge", "control.seg", "mask.seg"}
    assert all(p.is_file() and p.parent == Path(run.output_path).parent for p in files.values())
    assert probe_video(files["control.edge"]).frames == info.frames
    recipe = json.loads(run.recipe)
    assert recipe["name"] == run.id and recipe["seg"]["mask_prompt"] == "car . road"
    assert recipe["video_path"].endswith("/inputs/input.mp4")
    spec = json.loads(run.spec)
    assert spec["guidance"] == 3 and "input_control" not in json.dumps(spec)
    log = remote_log(remote_root, run.id).decode()
    assert "Generated video saved to" in log and "Generating chunk 1/1" in log
    assert "python examples/inference.py" in run.job_script
    assert "--entrypoint bash" in run.command
    progress = run.progress_dict()
    assert progress["phase"] == "done" and progress["n_steps"] == 35


def test_a_guardrail_block_at_exit_0_is_blocked_with_its_stage(box, engine, clip):
    b = box()
    run = wait_terminal(b, b.ops.launch(t25(clip, "[sim:guardrail_video] a street"),
                                        host="box").id)
    assert run.exit_code == 0 and run.status == st.BLOCKED, run.failure_cause
    assert "at the video check" in run.failure_cause and "GUARDRAIL BLOCKED" in \
        run.failure_evidence
    assert run.output_path is None
    # the control videos it wrote before the video check still came home
    assert {f["role"] for f in b.ops.get_run(run.id).model_files} >= {"control.edge"}


def test_a_transfer25_batch_over_ssh(box, engine, clip):
    b = box(batching=True, max_batch=3)
    b.worker.stop()  # queue all three first, so one claim takes them together
    ids = [b.ops.launch(t25(clip, prompt), host="box").id
           for prompt in ("first street", "[sim:guardrail] second", "third street")]
    b.worker.scheduler = None
    b.worker.start()
    runs = [wait_terminal(b, i, timeout=180) for i in ids]
    assert [r.status for r in runs] == [st.COMPLETED, st.BLOCKED, st.COMPLETED], \
        [(r.status, r.failure_cause) for r in runs]
    assert len({r.batch_id for r in runs}) == 1 and runs[0].batch_id
    assert "at the prompt check" in runs[1].failure_cause
    assert runs[0].output_path != runs[2].output_path
    assert all(json.loads(r.recipe)["name"] == r.id for r in (runs[0], runs[2]))
