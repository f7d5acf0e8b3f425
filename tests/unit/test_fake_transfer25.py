"""The fake Cosmos-Transfer2.5 (`examples/inference.py` of the stand-in checkout), run as the
orchestrator runs it: real processes, real ffmpeg, real output files, upstream's checks and
wording, its log lines and its failure modes (a guardrail block exits 0)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from backend.models.transfer2_5.outcome import classify_sample
from backend.models.transfer2_5.progress import ProgressTracker
from backend.simulator import SHIMS_DIR
from backend.simulator.checkout import INFERENCE25_PY, install_checkout
from tests.unit.test_fake_transfer import FFMPEG, free_port, make_clip, video_info

PROMPT = "A robot arm pours coffee in a sunlit kitchen"


@pytest.fixture(scope="module")
def checkout(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("cosmos25")
    install_checkout(root, "transfer2.5")
    make_clip(root / "in.mp4", "256x144", 25)
    make_clip(root / "mask.mp4", "256x144", 25)
    return root


def env(**extra: str) -> dict[str, str]:
    e = {k: v for k, v in os.environ.items() if not k.startswith(("COSMOS_", "LOGURU"))}
    e.update(PATH=f"{SHIMS_DIR}{os.pathsep}{e.get('PATH', '')}", COSMOS_SIM_PYTHON=sys.executable,
             COSMOS_SIM_FFMPEG=FFMPEG, COSMOS_SIM_SECONDS="0.4", PYTHONUNBUFFERED="1",
             COSMOS_VERBOSE="1")
    e.update(extra)
    return e


def infer(checkout: Path, samples: list[dict], *args: str, out: str, nproc: int = 1,
          extra_env: dict | None = None, jsonl: bool = False) -> subprocess.CompletedProcess:
    spec = checkout / (f"{out}.jsonl" if jsonl else f"{out}.json")
    spec.write_text("\n".join(json.dumps(s) for s in samples) + "\n" if jsonl
                    else json.dumps(samples[0]))
    launcher = ["python"] if nproc == 1 else ["torchrun", f"--nproc_per_node={nproc}",
                                              f"--master_port={free_port()}"]
    return subprocess.run([*launcher, INFERENCE25_PY, "-i", str(spec), "-o", out, *args],
                          cwd=checkout, env=env(**(extra_env or {})), capture_output=True,
                          text=True, timeout=90)


def sample(name="s1", **kw) -> dict:
    return dict({"name": name, "prompt": PROMPT, "video_path": "in.mp4",
                 "edge": {"control_weight": 1.0}}, **kw)


def test_a_run_writes_upstreams_outputs_at_the_inputs_size_and_int_fps(checkout: Path) -> None:
    done = infer(checkout, [sample(depth={"control_weight": 0.5},
                                   vis={"mask_path": "mask.mp4"})], out="o1")
    assert done.returncode == 0, done.stderr
    out = checkout / "o1"
    for name in ("s1.mp4", "s1.json", "s1.txt", "s1_control_edge.mp4", "s1_control_depth.mp4",
                 "s1_control_vis.mp4", "s1_mask_vis.mp4", "config.yaml", "console.log",
                 "debug.log"):
        assert (out / name).is_file(), name
    assert video_info(out / "s1.mp4")[:3] == (256, 144, 25)  # keep_input_resolution
    recipe = json.loads((out / "s1.json").read_text())
    assert recipe["video_path"] == str(checkout / "in.mp4") and recipe["guidance"] == 3
    assert recipe["seed"] == 2025 and recipe["depth"]["control_path"] is None
    assert "Found 3 hint keys across all samples" in done.stdout
    assert "Loading the multicontrol model" in done.stdout
    assert f"Generated video saved to {out.name}/s1.mp4" in done.stdout
    assert "Generating samples:" in done.stderr and "Generating chunk 1/1" in done.stdout
    tracker = ProgressTracker()
    tracker.feed_all((done.stdout + done.stderr).replace("\r", "\n").splitlines())
    assert tracker.progress.n_steps == 35
    assert classify_sample(name="s1", exit_code=0, log_lines=done.stdout.splitlines(),
                           have_video=True).status == "completed"


def test_without_verbose_the_src_records_are_hidden_as_upstreams_console_filter(
        checkout: Path) -> None:
    done = infer(checkout, [sample()], out="o2", extra_env={"COSMOS_VERBOSE": "0"})
    assert done.returncode == 0, done.stderr
    assert "Generating chunk" not in done.stdout and "Loading input video" not in done.stdout
    assert "Generated video saved to" in done.stdout
    debug = (checkout / "o2" / "debug.log").read_text()
    assert "Generating chunk 1/1" in debug  # debug.log has everything


@pytest.mark.parametrize("data, words", [
    (sample(guidance=3.5), "got a number with a fractional part [type=int_from_float"),
    (sample(guidance=9), "less than or equal to 7"),
    (sample(output_dir="/o"), "Extra inputs are not permitted [type=extra_forbidden"),
    ({k: v for k, v in sample().items() if k != "edge"}, "No controls provided"),
    (sample(video_path="missing.mp4"), "Path does not point to a file"),
    (sample(sigma_max=80), "Input should be a valid string"),
    (sample(edge={"control_weight": 1.5}), "edge.control_weight"),
    (sample(vis={"preset_blur_strength": "max"}), "'very_low', 'low', 'medium'"),
    ({k: v for k, v in sample().items() if k != "name"}, "Field required"),
])
def test_validation_is_upstreams_with_its_wording(checkout: Path, data: dict, words: str) -> None:
    done = infer(checkout, [data], out="bad")
    assert done.returncode == 1 and words in done.stderr, done.stderr
    assert "Error validating parameters from" in done.stderr and "at line 0" in done.stderr


def test_unknown_keys_in_a_control_block_are_ignored_like_upstream(checkout: Path) -> None:
    done = infer(checkout, [sample(edge={"control_weight": 1.0, "input_control": "mask.mp4"})],
                 out="o3")
    assert done.returncode == 0  # why the orchestrator refuses them itself (spec.check_sample)


def test_batch_names_must_be_unique_and_a_blocked_sample_exits_0(checkout: Path) -> None:
    dup = infer(checkout, [sample("a"), sample("a")], out="dup", jsonl=True)
    assert dup.returncode == 1 and "Inference samplename a is not unique" in dup.stderr
    mixed = infer(checkout, [sample("a"), sample("b", prompt="[sim:guardrail] x"),
                             sample("c", prompt="[sim:guardrail_video] y")], out="o4", jsonl=True)
    assert mixed.returncode == 0, mixed.stderr  # keep_going: the batch goes on
    out = checkout / "o4"
    assert (out / "a.mp4").is_file() and not (out / "b.mp4").exists()
    assert not (out / "c.mp4").exists() and (out / "c_control_edge.mp4").is_file()
    lines = mixed.stdout.splitlines()
    judge = {n: classify_sample(name=n, exit_code=0, log_lines=lines,
                                have_video=(out / f"{n}.mp4").exists()) for n in "abc"}
    assert judge["a"].status == "completed"
    assert (judge["b"].status, judge["b"].stage) == ("blocked", "prompt")
    assert (judge["c"].status, judge["c"].stage) == ("blocked", "video")


def test_no_keep_going_raises_on_a_block(checkout: Path) -> None:
    done = infer(checkout, [sample(prompt="[sim:guardrail] x")], "--no-keep-going", out="o5")
    assert done.returncode == 1 and "Exception: Guardrail blocked generation." in done.stderr


@pytest.mark.parametrize("how, words", [("oom", "torch.OutOfMemoryError: CUDA out of memory"),
                                        ("crash", "illegal memory access"),
                                        ("nccl", "DistBackendError")])
def test_failures(checkout: Path, how: str, words: str) -> None:
    done = infer(checkout, [sample(prompt=f"[sim:{how}] {PROMPT}")], out=f"f-{how}")
    assert done.returncode == 1 and words in done.stderr


def test_distilled_model_needs_the_experimental_flag_and_edge_only(checkout: Path) -> None:
    plain = infer(checkout, [sample(num_steps=4)], "--model=edge/distilled", out="d1")
    assert plain.returncode == 2 and "Invalid choice" in plain.stderr
    flagged = {"COSMOS_EXPERIMENTAL_CHECKPOINTS": "1"}
    ok = infer(checkout, [sample(num_steps=4)], "--model=edge/distilled", out="d2",
               extra_env=flagged)
    assert ok.returncode == 0, ok.stderr
    assert "Passed guardrail on negative prompt" not in ok.stdout  # no negative prompt
    depth = infer(checkout, [sample(edge=None, depth={"control_weight": 1.0}, num_steps=4)],
                  "--model=edge/distilled", out="d3", extra_env=flagged)
    assert depth.returncode == 1 and "KeyError" in depth.stderr


def test_gpu_counts_and_offline_checkpoints(checkout: Path, tmp_path: Path) -> None:
    five = infer(checkout, [sample()], out="g5", nproc=5)
    assert five.returncode == 1 and "Split by width dimension" in five.stderr
    two = infer(checkout, [sample()], out="g2", nproc=2)
    assert two.returncode == 0, two.stderr
    offline = infer(checkout, [sample()], out="off", extra_env={
        "HF_HOME": str(tmp_path), "HF_HUB_OFFLINE": "1"})
    assert offline.returncode == 1 and "LocalEntryNotFoundError" in offline.stderr
    unknown = infer(checkout, [sample()], "--frobnicate", out="u")
    assert unknown.returncode == 2 and "Unrecognized options: --frobnicate" in unknown.stderr
