"""Cosmos 3 end to end: a video2video and a text2video run (and an image2video) on the
built-in simulator box, and the same over real SSH to cosmos-sim and to a real Docker engine
(the fake cosmos-framework inside a container), as Transfer2.5 is tested in
test_transfer25_remote.py. Nothing of ours is mocked."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from backend import store as st
from backend.config import load_config
from backend.media import make_test_clip, probe_video
from backend.models.params import GenerationParams
from backend.wiring import start_backend
from tests.helpers import SAMPLE, make_settings
from tests.integration.conftest import write_app_config
from tests.integration.remote_helpers import remote_log, wait_terminal

pytestmark = pytest.mark.integration


def c3(mode: str = "video2video", prompt: str = "a rainy neon street", **extra) -> GenerationParams:
    p = GenerationParams(prompt=prompt, negative_prompt="", model="cosmos3", guidance=None,
                         sigma_max=None, num_steps=8, seed=11, weights={}, fps=None,
                         extra={"mode": mode, "checkpoint": "Cosmos3-Nano",
                                "parallelism": "latency", "guardrails": "on",
                                "resolution": "256"})
    if mode == "video2video":
        p.weights = {"edge": 1.0}
    else:
        p.extra["num_frames"] = 25
    p.extra.update(extra)
    return p


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    return make_test_clip(tmp_path_factory.mktemp("clip3") / "street.mp4", width=320,
                          height=180, frames=25)


@pytest.fixture
def local(tmp_path):
    b = start_backend(make_settings(tmp_path, sim_seconds=1.0))
    yield b
    b.close()


def _recipe_and_status(run) -> tuple[dict, dict]:
    recipe = json.loads(run.recipe)
    status = json.loads((Path(run.output_path).parent / "sample_outputs.json").read_text())
    return recipe, status


def test_video2video_on_the_sim_box(local, clip, tmp_path):
    depth = make_test_clip(tmp_path / "depth.mp4", width=320, height=180, frames=25)
    p = c3()
    p.weights = {"edge": 0.7, "depth": 0.3}
    p.input_video, p.control_videos = str(clip), {"depth": str(depth)}
    run = wait_terminal(local, local.ops.launch(p, name="c3 v2v").id)
    assert run.status == st.COMPLETED, (run.failure_cause, local.store.log_text(run.id)[-15:])
    assert run.model == "cosmos3" and run.guardrails is True
    info = probe_video(run.output_path)
    assert (info.width, info.height, info.frames) == (320, 192, 25)
    recipe, status = _recipe_and_status(run)
    assert recipe["name"] == run.id and recipe["model_mode"] == "video2video"
    assert recipe["depth"]["control_path"].endswith("/inputs/depth.mp4")
    assert status["status"] == "success"
    roles = {f["role"] for f in local.ops.get_run(run.id).model_files}
    assert roles == {"control.edge", "control.depth"}
    assert "python -m cosmos_framework.scripts.inference" in run.job_script
    assert "--checkpoint-path Cosmos3-Nano" in run.job_script
    assert run.progress_dict()["phase"] == "done"


def test_text2video_on_the_sim_box_has_no_input(local):
    p = c3("text2video")
    p.fps = 12
    run = wait_terminal(local, local.ops.launch(p).id)
    assert run.status == st.COMPLETED, (run.failure_cause, local.store.log_text(run.id)[-15:])
    info = probe_video(run.output_path)
    assert (info.width, info.height, info.frames) == (320, 192, 25)
    assert round(info.fps) == 12
    spec = json.loads(run.spec)
    assert spec["model_mode"] == "text2video" and "vision_path" not in spec
    recipe, _ = _recipe_and_status(run)
    assert recipe["guidance"] == 6.0  # the mode's own default, resolved by the model


def test_image2video_on_the_sim_box_from_a_still(local, tmp_path):
    still = tmp_path / "still.png"
    import imageio_ffmpeg

    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-y", "-i", str(SAMPLE), "-frames:v", "1",
                    str(still)], check=True)
    p = c3("image2video")
    p.input_video = str(still)
    run = wait_terminal(local, local.ops.launch(p).id)
    assert run.status == st.COMPLETED, (run.failure_cause, local.store.log_text(run.id)[-15:])
    assert json.loads(run.recipe)["vision_path"].endswith("/inputs/input.png")


def test_a_guardrail_block_and_a_missing_control_on_the_sim_box(local, clip):
    blocked = wait_terminal(local, local.ops.launch(c3("text2video", "[sim:guardrail] x")).id)
    assert blocked.status == st.BLOCKED and "at the prompt check" in blocked.failure_cause
    assert blocked.exit_code == 0 and blocked.output_path is None
    off = c3("text2video", "[sim:guardrail] x", guardrails="off")
    run = wait_terminal(local, local.ops.launch(off).id)
    assert run.status == st.COMPLETED and run.guardrails is False


# -- over real SSH, to cosmos-sim and to a real Docker engine ----------------------------------
@pytest.fixture
def box(tmp_path, engine, remote_root, no_user_ssh):
    started = []

    def start():
        image = engine.image or "cosmos-sim/cosmos3:latest"
        config = write_app_config(tmp_path, {"box": engine.table(
            remote_root, seconds=1.5, models=["transfer1", "cosmos3"],
            images={"cosmos3": image})}, trust_sshd=engine.sshd)
        backend = start_backend(load_config(config))
        started.append(backend)
        return backend

    yield start
    for backend in started:
        backend.close()


def test_a_cosmos3_video2video_run_over_ssh(box, engine, remote_root, clip):
    b = box()
    p = c3()
    p.input_video = str(clip)
    run = wait_terminal(b, b.ops.launch(p, host="box").id)
    assert run.status == st.COMPLETED, (run.failure_cause, b.store.log_text(run.id)[-20:])
    assert probe_video(run.output_path).frames == 25
    assert json.loads(run.recipe)["edge"]["preset_edge_threshold"] == "medium"
    log = remote_log(remote_root, run.id).decode()
    assert "Saved transfer outputs to" in log
    remote = Path(remote_root) / "runs" / run.id / "outputs" / run.id
    assert sorted(p.name for p in remote.iterdir()) == [
        "control_edge.mp4", "sample_args.json", "sample_outputs.json", "vision.mp4"]


def test_a_cosmos3_text2video_video_block_over_ssh(box, engine, clip):
    b = box()
    run = wait_terminal(b, b.ops.launch(c3("text2video", "[sim:guardrail_video] a street"),
                                        host="box").id)
    assert run.status == st.BLOCKED and run.exit_code == 0, run.failure_cause
    assert "at the video check" in run.failure_cause and "Guardrail blocked video" in \
        run.failure_evidence
