"""The fake Cosmos 3 (`python -m cosmos_framework.scripts.inference` of the stand-in checkout),
run as the orchestrator runs it: real processes, real ffmpeg, upstream's folder per sample,
sample_outputs.json only on success, its error records, and judged by the profile."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from backend.models.cosmos3.command import build_inference_argv
from backend.models.profile import ItemResult, get_profile
from backend.simulator import SHIMS_DIR
from backend.simulator.checkout import install_checkout
from tests.unit.test_fake_transfer import FFMPEG, free_port, make_clip, video_info

C3 = get_profile("cosmos3")


@pytest.fixture(scope="module")
def checkout(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("cosmos3")
    install_checkout(root, "cosmos3")
    make_clip(root / "in.mp4", "320x180", 25)
    make_clip(root / "depth.mp4", "320x180", 25)
    return root


def run(checkout: Path, sample: dict, *, out: str, nproc: int = 1, **setup):
    spec = checkout / f"{out}.json"
    spec.write_text(json.dumps(sample))
    argv = build_inference_argv(num_gpus=nproc, master_port=free_port(), spec_path=str(spec),
                                output_dir=str(checkout / out),
                                checkpoint=setup.pop("checkpoint", "Cosmos3-Nano"),
                                parallelism=setup.pop("parallelism", "latency"), **setup)
    env = {k: v for k, v in os.environ.items() if not k.startswith("COSMOS_")}
    env.update(PATH=f"{SHIMS_DIR}{os.pathsep}{env.get('PATH', '')}", PYTHONPATH=str(checkout),
               COSMOS_SIM_PYTHON=sys.executable, COSMOS_SIM_FFMPEG=FFMPEG,
               COSMOS_SIM_SECONDS="0.4", COSMOS_SIM_GPUS="8")
    done = subprocess.run(argv, cwd=checkout, env=env, capture_output=True, text=True,
                          timeout=90)
    return done


def judged(checkout: Path, out: str, name: str, done) -> "object":
    folder = checkout / out / name
    status = folder / "sample_outputs.json"
    return C3.classify(ItemResult(name, "inference", 0, 1, done.returncode,
                                  (done.stdout + done.stderr).splitlines(),
                                  (folder / "vision.mp4").is_file(),
                                  {f"status:outputs/{name}/sample_outputs.json":
                                   status if status.is_file() else None}))


def test_text2video_writes_a_folder_with_vision_args_and_outputs(checkout):
    done = run(checkout, {"name": "t", "model_mode": "text2video", "prompt": "a red car",
                          "num_frames": 25, "fps": 12, "resolution": "256", "num_steps": 4,
                          "seed": 7}, out="t2v")
    assert done.returncode == 0, done.stderr
    folder = checkout / "t2v" / "t"
    assert sorted(p.name for p in folder.iterdir()) == ["sample_args.json",
                                                        "sample_outputs.json", "vision.mp4"]
    assert video_info(folder / "vision.mp4")[:3] == (320, 192, 25)
    args = json.loads((folder / "sample_args.json").read_text())
    assert args["model_mode"] == "text2video" and args["guidance"] == 6.0  # the mode default
    assert judged(checkout, "t2v", "t", done).status == "completed"


def test_video2video_writes_the_control_and_takes_the_tuned_defaults(checkout):
    done = run(checkout, {"name": "v", "model_mode": "video2video", "prompt": "snow",
                          "vision_path": "in.mp4", "resolution": "256",
                          "seg": {"weight": 1.0}}, out="v2v")
    # seg without a control_path: upstream's error record, no status file, exit 0
    assert done.returncode == 0
    assert "Error generating sample 'v': Missing pre-computed control input for 'seg'" \
        in done.stdout
    assert not (checkout / "v2v" / "v" / "sample_outputs.json").exists()
    assert judged(checkout, "v2v", "v", done).status == "failed"
    done = run(checkout, {"name": "w", "model_mode": "video2video", "prompt": "snow",
                          "vision_path": "in.mp4", "resolution": "256",
                          "edge": {"weight": 1.0}, "depth": {"weight": 0.5,
                                                             "control_path": "depth.mp4"}},
               out="v2v", nproc=2)
    assert done.returncode == 0, done.stderr
    folder = checkout / "v2v" / "w"
    assert {"control_edge.mp4", "control_depth.mp4", "vision.mp4"} <= {
        p.name for p in folder.iterdir()}
    assert video_info(folder / "vision.mp4")[2] == 25
    assert judged(checkout, "v2v", "w", done).status == "completed"


@pytest.mark.parametrize("prompt, stage", [("[sim:guardrail] a car", "prompt"),
                                           ("[sim:guardrail_video] a car", "video")])
def test_a_guardrail_block_is_blocked_with_its_stage_and_off_means_off(checkout, prompt, stage):
    sample = {"name": "g", "model_mode": "text2video", "prompt": prompt, "num_frames": 9,
              "resolution": "256", "num_steps": 2}
    done = run(checkout, sample, out=f"g-{stage}")
    out = judged(checkout, f"g-{stage}", "g", done)
    assert done.returncode == 0 and out.status == "blocked" and out.stage == stage
    done = run(checkout, sample, out=f"g-off-{stage}", guardrails=False)
    assert judged(checkout, f"g-off-{stage}", "g", done).status == "completed"


def test_upstreams_setup_and_sample_refusals(checkout):
    bad = run(checkout, {"name": "b", "prompt": "x", "fps": 12, "warp": 1}, out="bad")
    assert bad.returncode == 1 and "warp\n  Extra inputs are not permitted" in bad.stderr
    split = run(checkout, {"name": "s", "model_mode": "text2video", "prompt": "x"},
                out="split", nproc=3)
    assert split.returncode == 1 and "must divide WORLD_SIZE(3)" in split.stderr
    ok = run(checkout, {"name": "s", "model_mode": "text2video", "prompt": "x",
                        "num_frames": 9, "resolution": "256", "num_steps": 2},
             out="split-ok", nproc=3, parallelism="throughput")
    assert ok.returncode == 0, ok.stderr
