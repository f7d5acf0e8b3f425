"""The fake Cosmos-Transfer1 (`transfer.py` in the stand-in checkout), run through the torchrun
shim as the orchestrator runs it: real processes, real ffmpeg, real output files."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from backend.simulator import SHIMS_DIR
from backend.simulator.checkout import TRANSFER_PY, checkout_files, install_checkout

ROOT = Path(__file__).resolve().parents[2]
imageio_ffmpeg = pytest.importorskip("imageio_ffmpeg")
FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()
PROMPT = "A robot arm pours coffee in a sunlit kitchen"


def make_clip(path: Path, size: str, frames: int) -> Path:
    subprocess.run([FFMPEG, "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                    f"testsrc=size={size}:rate=25", "-frames:v", str(frames), "-c:v", "libx264",
                    "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(path)], check=True)
    return path


def video_info(path: Path) -> tuple[int, int, int, str]:
    """(width, height, frames, codec) from ffmpeg's stderr (no ffprobe here)."""
    err = subprocess.run([FFMPEG, "-hide_banner", "-i", str(path), "-map", "0:v:0", "-c", "copy",
                          "-f", "null", "-"], capture_output=True, text=True).stderr
    m = re.search(r"Video: (\w+).*?\b(\d{2,5})x(\d{2,5})\b", err)
    frames = int(re.findall(r"frame=\s*(\d+)", err)[-1])
    return int(m.group(2)), int(m.group(3)), frames, m.group(1)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def checkout(tmp_path_factory) -> Path:
    """A stand-in checkout with two test clips: 16:9 (25 frames) and a shorter control."""
    root = tmp_path_factory.mktemp("cosmos")
    install_checkout(root)
    make_clip(root / "in.mp4", "256x144", 25)
    make_clip(root / "edge_ctrl.mp4", "256x144", 20)
    return root


def sim_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COSMOS_SIM_", "LOGURU"))}
    env.update(PATH=f"{SHIMS_DIR}{os.pathsep}{env.get('PATH', '')}", COSMOS_SIM_PYTHON=sys.executable,
               COSMOS_SIM_FFMPEG=FFMPEG, COSMOS_SIM_SECONDS="0.4", PYTHONUNBUFFERED="1")
    env.update(extra)
    return env


def transfer(checkout: Path, spec: dict, *args: str, nproc: int = 1, env: dict | None = None,
             port: int | None = None, out: str = "out") -> subprocess.CompletedProcess:
    """`torchrun ... transfer.py --controlnet_specs <spec> ...` from the checkout, as documented."""
    spec_path = checkout / f"spec-{out.replace('/', '_')}.json"
    spec_path.write_text(json.dumps(spec))
    argv = ["torchrun", f"--nproc_per_node={nproc}", "--nnodes=1", "--node_rank=0",
            f"--master_port={port or free_port()}", TRANSFER_PY, "--controlnet_specs", str(spec_path),
            "--video_save_folder", out, "--num_gpus", str(nproc), *args]
    return subprocess.run(argv, cwd=checkout, env=sim_env(**(env or {})), capture_output=True,
                          text=True, timeout=60)


def final_args(stdout: str) -> dict:
    text = stdout.split("final args: ", 1)[1]
    return json.loads(text[: text.index("\n}") + 2])


def test_single_run_writes_bucket_sized_h264_with_t_frames(checkout: Path) -> None:
    spec = {"prompt": PROMPT, "input_video_path": "in.mp4", "edge": {"control_weight": 0.7}, "depth": {}}
    result = transfer(checkout, spec, "--fps", "25", out="single")
    assert result.returncode == 0, result.stderr
    assert video_info(checkout / "single/output.mp4") == (1280, 704, 25, "h264")
    assert (checkout / "single/output.txt").read_bytes() == PROMPT.encode()
    out = result.stdout
    markers = ["control_inputs: {", "args in json: {", "final args: {",
               "No control weight specified for depth. Setting to 0.5.", "Using random seed 1.",
               "Start creating base model", "Loading base model checkpoint (local):",
               "Loading ctrl model from ckpt_path:", "running preprocessor",
               "Running batch generation with batch_size=1", "Running guardrail checks on all prompts",
               "Starting T5 compute", "Run generation", "Starting data augmentation",
               "Making all control and input videos to be length of 25 frames.",
               "Starting latent encoding", "Starting diffusion sampling", "Completed VAE decode",
               "Finish generation", "Run guardrail on generated videos",
               "Saved video to single/output.mp4", "Saved prompt to single/output.txt"]
    positions = [out.index(m) for m in markers]
    assert positions == sorted(positions)
    line = re.compile(r"^\[\d\d-\d\d \d\d:\d\d:\d\d\|(\w+)\|([^:\]]+):(\d+):(\w+)\] (.*)$")
    assert line.match(next(ln for ln in out.splitlines() if "Saved video" in ln))
    assert "|WARNING|" in next(ln for ln in out.splitlines() if "No control weight" in ln)
    assert "  0%|          | 0/1 [00:00<?, ?it/s]" in result.stderr
    assert "100%|\u2588\u2588\u2588\u2588\u2588\u2588\u2588\u2588\u2588\u2588| 1/1" in result.stderr
    assert not list((checkout / "single").glob(".*"))  # no temp render left behind


def test_control_video_sets_t_and_weights_change_the_look(checkout: Path) -> None:
    base = {"prompt": PROMPT, "input_video_path": "in.mp4"}
    a = transfer(checkout, {**base, "edge": {"control_weight": 1.0, "input_control": "edge_ctrl.mp4"}}, out="look_a")
    b = transfer(checkout, {**base, "vis": {"control_weight": 0.2}, "seg": {"control_weight": 0.9}}, out="look_b")
    assert a.returncode == 0 and b.returncode == 0, a.stderr + b.stderr
    assert "length of 20 frames." in a.stdout  # T = min over input and controls
    assert video_info(checkout / "look_a/output.mp4")[2] == 20
    assert (checkout / "look_a/output.mp4").read_bytes() != (checkout / "look_b/output.mp4").read_bytes()


def test_upscale_outputs_three_times_the_bucket(checkout: Path) -> None:
    result = transfer(checkout, {"input_video_path": "in.mp4", "upscale": {"control_weight": 0.5}},
                      "--num_steps", "10", out="up")
    assert result.returncode == 0, result.stderr
    assert video_info(checkout / "up/output.mp4") == (3840, 2112, 25, "h264")


def test_batch_of_two_loads_once_and_writes_video_dirs(checkout: Path) -> None:
    jsonl = checkout / "batch.jsonl"
    jsonl.write_text(json.dumps({"visual_input": "in.mp4", "prompt": "first"}) + "\n"
                     + json.dumps({"visual_input": "in.mp4", "prompt": "second",
                                   "control_overrides": {"edge": {"control_weight": 0.1},
                                                         "seg": {"control_weight": 1.0}}}) + "\n")
    spec = {"input_video_path": "in.mp4", "edge": {"control_weight": 0.8}}
    result = transfer(checkout, spec, "--batch_input_path", str(jsonl), out="batch")
    assert result.returncode == 0, result.stderr
    for i, prompt in enumerate(("first", "second")):
        assert video_info(checkout / f"batch/video_{i}/output.mp4")[:2] == (1280, 704)
        assert (checkout / f"batch/video_{i}/prompt.txt").read_text() == prompt
    assert result.stdout.count("Start creating base model") == 1
    assert "Ignoring unknown control key in override: seg" in result.stdout


@pytest.mark.parametrize("how, signature", [
    ("oom", "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB. GPU 0 has a total capacity of 79.19 GiB"),
    ("crash", "RuntimeError: CUDA error: an illegal memory access was encountered"),
    ("nccl", "torch.distributed.DistBackendError: NCCL error in:"),
])
def test_failure_directives_fail_like_cosmos(checkout: Path, how: str, signature: str) -> None:
    spec = {"prompt": f"{PROMPT} [sim:{how}]", "input_video_path": "in.mp4", "edge": {"control_weight": 1}}
    result = transfer(checkout, spec, out=f"fail_{how}")
    assert result.returncode == 1
    assert signature in result.stderr and "Traceback (most recent call last)" in result.stderr
    assert "Starting diffusion sampling" in result.stdout
    assert not (checkout / f"fail_{how}/output.mp4").exists()


@pytest.mark.parametrize("spec_prompt, env", [
    (f"{PROMPT} [sim:guardrail]", {}),
    (f"{PROMPT} sim-unsafe", {}),
    (PROMPT, {"COSMOS_SIM_FAIL": "guardrail"}),
])
def test_guardrail_blocks_then_crashes_with_typeerror(checkout: Path, spec_prompt: str, env: dict) -> None:
    spec = {"prompt": spec_prompt, "input_video_path": "in.mp4", "edge": {"control_weight": 1}}
    result = transfer(checkout, spec, env=env, out="blocked")
    assert result.returncode != 0
    critical = [ln.split("] ", 1)[1] for ln in result.stdout.splitlines() if "|CRITICAL|" in ln]
    assert critical[0].startswith("GUARDRAIL BLOCKED: ")
    assert critical[1:] == ["Input text prompt 0 is not safe", "All prompts failed safety checks",
                            "Guardrail blocked generation for entire batch."]
    assert "TypeError: cannot unpack non-iterable NoneType object" in result.stderr
    assert not (checkout / "blocked/output.mp4").exists()


def test_multi_gpu_logs_every_rank_and_prefixes_tracebacks(checkout: Path) -> None:
    spec = {"prompt": f"{PROMPT} [sim:oom]", "input_video_path": "in.mp4", "edge": {"control_weight": 1}}
    result = transfer(checkout, spec, nproc=2, out="mgpu")
    assert result.returncode == 1
    assert result.stdout.count("Initialized distributed training with local rank") == 2
    assert "|CRITICAL|" in result.stdout and "Training with 2 GPUs." in result.stdout
    assert "[rank1]: torch.OutOfMemoryError: CUDA out of memory" in result.stderr
    assert "ChildFailedError" in result.stderr


def test_gpu_count_rules(checkout: Path) -> None:
    spec = {"prompt": PROMPT, "input_video_path": "in.mp4", "edge": {"control_weight": 1}}
    three = transfer(checkout, spec, nproc=3, out="cp3")
    assert three.returncode == 1 and "AssertionError: 16 cannot divide cp_size 3" in three.stderr
    few = transfer(checkout, spec, nproc=2, env={"CUDA_VISIBLE_DEVICES": "0"}, out="few")
    assert few.returncode == 1 and "RuntimeError: CUDA error: invalid device ordinal" in few.stderr
    none = transfer(checkout, spec, env={"CUDA_VISIBLE_DEVICES": ""}, out="nogpu")
    assert none.returncode == 1 and "No CUDA GPUs are available" in none.stderr


def test_cli_value_beats_spec_only_as_two_tokens(checkout: Path) -> None:
    spec = {"prompt": PROMPT, "input_video_path": "in.mp4", "guidance": 7, "edge": {"control_weight": 1}}
    two_tokens = transfer(checkout, spec, "--guidance", "3", env={"COSMOS_SIM_SECONDS": "0"}, out="m1")
    one_token = transfer(checkout, spec, "--guidance=3", env={"COSMOS_SIM_SECONDS": "0"}, out="m2")
    assert final_args(two_tokens.stdout)["guidance"] == 3.0
    assert final_args(one_token.stdout)["guidance"] == 7


@pytest.mark.parametrize("spec, message", [
    ({"edge": {"control_weight": 1}}, "ValueError: Must have 'input_video' specified if sigma_max < 80"),
    ({"sigma_max": 80, "edge": {"control_weight": 1}},
     "ValueError: edge controlnet must have 'input_control' video specified if no 'input_video' specified."),
    ({"input_video_path": "in.mp4", "foo": {"control_weight": 1}}, "ValueError: Invalid hint_key: foo."),
    ({"input_video_path": "in.mp4", "edge": {"control_weight": -1}},
     "ValueError: Control weight for edge must be a valid non-negative float"),
    ({"input_video_path": "in.mp4", "edge": {"control_weight": "lots"}},
     "ValueError: Control weight for edge must be a valid non-negative float"),
    ({"input_video_path": "missing.mp4", "edge": {"control_weight": 1}},
     "FileNotFoundError: [Errno 2] No such file or directory: 'missing.mp4'"),
    ({"input_video_path": "in.mp4", "edge": {"control_weight": 1, "input_control": "nope.mp4"}},
     "FileNotFoundError: [Errno 2] No such file or directory: 'nope.mp4'"),
    ({"input_video_path": "in.mp4", "negative_prompt": "", "edge": {"control_weight": "0.5"}},
     "TypeError: expected Tensor as element 0 in argument 0, but got NoneType"),
])
def test_validation_errors_are_cosmos_errors(checkout: Path, spec: dict, message: str) -> None:
    result = transfer(checkout, {"prompt": PROMPT, **spec}, env={"COSMOS_SIM_SECONDS": "0"}, out="invalid")
    assert result.returncode == 1
    assert message in result.stderr


def test_missing_checkpoint_names_the_file(checkout: Path, tmp_path: Path) -> None:
    spec = {"prompt": PROMPT, "input_video_path": "in.mp4", "seg": {"control_weight": 1}}
    ckpts = tmp_path / "ckpts"
    for rel, content in checkout_files().items():
        if rel.startswith("checkpoints/") and not rel.endswith("seg_control.pt"):
            (ckpts / rel[len("checkpoints/"):]).parent.mkdir(parents=True, exist_ok=True)
            (ckpts / rel[len("checkpoints/"):]).write_bytes(content)
    result = transfer(checkout, spec, "--checkpoint_dir", str(ckpts), env={"COSMOS_SIM_SECONDS": "0"}, out="ck")
    assert result.returncode == 1
    assert f"No such file or directory: '{ckpts}/nvidia/Cosmos-Transfer1-7B/seg_control.pt'" in result.stderr


def test_master_port_in_use_fails_like_torchrun(checkout: Path) -> None:
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen(1)
    try:
        spec = {"prompt": PROMPT, "input_video_path": "in.mp4", "edge": {"control_weight": 1}}
        result = transfer(checkout, spec, port=holder.getsockname()[1], out="port")
    finally:
        holder.close()
    assert result.returncode == 1
    assert "EADDRINUSE" in result.stderr and "Address already in use" in result.stderr


def test_upsample_prompt_is_deterministic_and_needs_rank(checkout: Path) -> None:
    spec = {"prompt": PROMPT, "input_video_path": "in.mp4", "edge": {"control_weight": 1}}
    first = transfer(checkout, spec, "--upsample_prompt", out="ups1")
    second = transfer(checkout, spec, "--upsample_prompt", out="ups2")
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    assert f"Upsampling prompt 1/1: {PROMPT[:50]}..." in first.stdout
    assert "Upsampled prompt 1: " in first.stdout
    text = (checkout / "ups1/output.txt").read_text()
    assert text.startswith(PROMPT.rstrip(".")) and "256x144" in text and text != PROMPT
    assert text == (checkout / "ups2/output.txt").read_text()
    plain = subprocess.run([sys.executable, TRANSFER_PY, "--controlnet_specs", "spec-ups1.json",
                            "--upsample_prompt", "--video_save_folder", "ups3"], cwd=checkout,
                           env=sim_env(COSMOS_SIM_SECONDS="0"), capture_output=True, text=True)
    assert plain.returncode == 1 and "KeyError: 'RANK'" in plain.stderr


def test_loguru_level_is_honoured(checkout: Path) -> None:
    spec = {"prompt": PROMPT, "input_video_path": "in.mp4", "edge": {}}
    result = transfer(checkout, spec, env={"LOGURU_LEVEL": "WARNING", "COSMOS_SIM_SECONDS": "0"}, out="quiet")
    assert result.returncode == 0
    levels = set(re.findall(r"^\[[^|]+\|(\w+)\|", result.stdout, re.M))
    assert levels == {"WARNING"}


def test_sigterm_during_a_hang_exits_143_through_the_engine(checkout: Path, tmp_path: Path) -> None:
    """The demo path: cosmos-sim engine -> bash -> torchrun shim -> fake transfer.py."""
    engine = [sys.executable, "-m", "backend.simulator.engine", "--root", str(tmp_path / "engine")]
    env = {k: v for k, v in os.environ.items() if not k.startswith("COSMOS_SIM_")}
    env["PYTHONPATH"] = str(ROOT)

    def sim(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(engine + list(args), capture_output=True, text=True, cwd=ROOT, env=env, timeout=60)

    (checkout / "ok.json").write_text(json.dumps(
        {"prompt": PROMPT, "input_video_path": "in.mp4", "edge": {"control_weight": 1}}))
    (checkout / "hang.json").write_text(json.dumps(
        {"prompt": PROMPT + " [sim:hang]", "input_video_path": "in.mp4", "edge": {"control_weight": 1}}))
    common = ["run", "-d", "-v", f"{checkout}:{checkout}", "-w", str(checkout), "--gpus", "1",
              "-e", "COSMOS_SIM_SECONDS=0.4", "--ipc", "host", "--network", "none", "cosmos-sim/transfer1:latest"]

    def job(spec: str) -> list[str]:
        return ["torchrun", "--nproc_per_node=1", f"--master_port={free_port()}", TRANSFER_PY,
                "--num_gpus", "1", "--video_save_folder", "engine_out", "--controlnet_specs", spec]

    ok = sim(*common, *job("ok.json")).stdout.strip()
    hang = sim(*common, *job("hang.json"), "--video_save_name", "hung").stdout.strip()
    assert sim("wait", ok).stdout == "0\n"
    assert video_info(checkout / "engine_out/output.mp4")[:2] == (1280, 704)
    deadline = time.monotonic() + 30
    while "Starting diffusion sampling" not in sim("logs", hang).stdout:
        assert time.monotonic() < deadline, sim("logs", hang).stdout
        time.sleep(0.1)
    assert sim("stop", "-t", "5", hang).returncode == 0
    state = json.loads(sim("inspect", "-f", "{{json .State}}", hang).stdout)
    assert state["ExitCode"] == 143
    assert "Received SIGTERM" in sim("logs", hang).stdout
    assert not (checkout / "engine_out/hung.mp4").exists()
    assert not list((checkout / "engine_out").glob(".hung*"))
    sim("rm", "-f", ok, hang)


def test_checkout_install_is_idempotent(tmp_path: Path) -> None:
    install_checkout(tmp_path)
    transfer_py = tmp_path / TRANSFER_PY
    mtime = transfer_py.stat().st_mtime_ns
    install_checkout(tmp_path)
    assert transfer_py.stat().st_mtime_ns == mtime
    assert transfer_py.read_bytes() == (ROOT / "backend/simulator/fake_transfer.py").read_bytes()
    assert "SIMULATED" in (tmp_path / "README.md").read_text()
    for name in ("base_model", "vis_control", "edge_control", "depth_control", "seg_control",
                 "keypoint_control", "4kupscaler_control"):
        assert (tmp_path / f"checkpoints/nvidia/Cosmos-Transfer1-7B/{name}.pt").is_file()
    assert (tmp_path / "checkpoints/nvidia/Cosmos-Tokenize1-CV8x8x8-720p/encoder.jit").is_file()


# -- the prompt upsampler: the integrated path's crash and the standalone pipeline -------------
@pytest.mark.parametrize("hint", ["depth", "seg"])
def test_integrated_upsampler_crashes_on_depth_or_seg_without_a_control_video(checkout: Path,
                                                                              hint: str) -> None:
    """Defect 2: `_init_prompt_upsampler` picks seg/depth and reads its un-preprocessed
    input_control (None); `_prompt_upsample(video_path=None)` iterates over it, after a full
    model load. The simulator used to report the run as completed."""
    spec = {"prompt": PROMPT, "input_video_path": "in.mp4", hint: {"control_weight": 0.7}}
    done = transfer(checkout, spec, "--upsample_prompt", out=f"ups-{hint}")
    assert done.returncode != 0
    assert "TypeError: 'NoneType' object is not iterable" in done.stderr
    assert "Complete loading base model checkpoint" in done.stdout  # after the whole load
    assert not (checkout / f"ups-{hint}/output.mp4").exists()
    given = dict(spec, **{hint: {"control_weight": 0.7, "input_control": "edge_ctrl.mp4"}})
    assert transfer(checkout, given, "--upsample_prompt", out=f"ups-{hint}-ok").returncode == 0


def test_keypoint_only_upsampling_returns_the_prompt_unchanged(checkout: Path) -> None:
    spec = {"prompt": PROMPT, "input_video_path": "in.mp4", "keypoint": {"control_weight": 1}}
    done = transfer(checkout, spec, "--upsample_prompt", out="ups-kp")
    assert done.returncode == 0 and "Upsampling prompt" not in done.stdout
    assert (checkout / "ups-kp/output.txt").read_text() == PROMPT


def _upsampler(checkout: Path, *args: str, launcher: str = "torchrun", env: dict | None = None):
    from backend.simulator.checkout import UPSAMPLER_PY

    pre = ["torchrun", "--nproc_per_node=1", f"--master_port={free_port()}"] \
        if launcher == "torchrun" else [sys.executable]
    full = sim_env(PYTHONPATH=str(checkout), **(env or {}))
    if "OMP_NUM_THREADS" not in (env or {}):
        full.pop("OMP_NUM_THREADS", None)  # as torchrun leaves it for one process
    return subprocess.run([*pre, UPSAMPLER_PY, *args], cwd=checkout, env=full,
                          capture_output=True, text=True, timeout=60)


def test_standalone_upsampler_prints_the_upsampled_prompt(checkout: Path) -> None:
    done = _upsampler(checkout, "--prompt", PROMPT, "--input_video", "in.mp4", env={
        "OMP_NUM_THREADS": "1", "TORCHELASTIC_ERROR_FILE": "/tmp/x"})
    assert done.returncode == 0, done.stderr
    [line] = [x for x in done.stdout.splitlines() if x.startswith("Upsampled prompt:")]
    assert PROMPT.rstrip(".") in line and "in.mp4: 256x144" in line
    assert "Start creating base model" not in done.stdout  # no 7B pipeline


def test_standalone_upsampler_needs_torchruns_variables(checkout: Path) -> None:
    plain = _upsampler(checkout, "--prompt", "x", "--input_video", "in.mp4", launcher="python")
    assert plain.returncode == 1 and "KeyError: 'RANK'" in plain.stderr
    # upstream deletes OMP_NUM_THREADS unconditionally; torchrun sets it only for >1 process
    one = _upsampler(checkout, "--prompt", "x", "--input_video", "in.mp4")
    assert one.returncode == 1 and "KeyError: 'OMP_NUM_THREADS'" in one.stderr
    missing = _upsampler(checkout, "--input_video", "in.mp4", "--checkpoint_dir", "nowhere",
                         env={"OMP_NUM_THREADS": "1"})
    assert missing.returncode == 1 and "Cosmos-UpsamplePrompt1-12B-Transfer" in missing.stderr


def test_our_launcher_runs_the_standalone_upsampler_without_the_prompt_on_argv(checkout: Path,
                                                                                tmp_path: Path
                                                                                ) -> None:
    """The orchestrator's upsample.py: prompt from a file, the pipeline's own __main__, the
    missing torchrun variables filled in, the result written to outputs/output.txt."""
    from backend.models.params import GenerationParams
    from backend.models.transfer1.enhance import enhance_files

    p = GenerationParams(prompt=PROMPT + " 'quoted' $(rm -rf /)", negative_prompt="n",
                         input_video="/x/in.mp4", weights={"edge": 1.0})
    files, why = enhance_files(p, {"input": str(checkout / "in.mp4")},
                               checkpoint_dir="checkpoints", offload=False)
    job = tmp_path / "job"
    job.mkdir()
    for name, text in files.items():
        (job / name).write_text(text)
    done = subprocess.run(["torchrun", "--nproc_per_node=1", f"--master_port={free_port()}",
                           str(job / "upsample.py")], cwd=checkout,
                          env=sim_env(PYTHONPATH=str(checkout)), capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    result = (job / "outputs" / "output.txt").read_text()
    assert result.startswith(PROMPT.rstrip(".")) and "'quoted' $(rm -rf /)" in result
    assert "input video" in why and "Saved prompt to" in done.stdout
