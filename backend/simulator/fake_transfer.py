#!/usr/bin/env python3
"""cosmos-sim stand-in for `cosmos_transfer1/diffusion/inference/transfer.py` (CPU, no model).

Why: a user without a GPU, and the test suite, must be able to run the whole Cosmos workflow.
This script takes exactly the real CLI, merges and validates the spec JSON the way Cosmos
does (raising Cosmos' own errors), prints the same loguru markers and tqdm clip bar in the same
order, writes `<name>.mp4` at the size Cosmos would (a visible ffmpeg render of the input,
shaped by the control weights) plus `<name>.txt`, and can be told to fail every way Cosmos
fails. It follows the contract in docs `cosmos-transfer1.md`.

Knobs (environment):
  COSMOS_SIM_SECONDS     target duration of a single-item run (float, default 10)
  COSMOS_SIM_LOAD_SHARE  share of it spent "loading models" (default 0.4; paid once per run,
                         so a batch of N saves N-1 loads, as in reality)
  COSMOS_SIM_FAIL        oom | guardrail | crash | hang | nccl (same as a `[sim:<x>]` in the prompt)
  COSMOS_SIM_FFMPEG      ffmpeg binary (else `ffmpeg` on PATH)
  COSMOS_SIM_GPUS        GPUs on the box when CUDA_VISIBLE_DEVICES is unset (default 8)
  LOGURU_LEVEL           log threshold, as for the real script

STDLIB ONLY and a single file: it is copied verbatim into a stand-in Cosmos checkout and may
run under any python3 (on the host or inside a real Docker container).
"""

from __future__ import annotations

import argparse
import copy
import errno
import json
import math
import os
import pickle
import re
import shutil
import signal
import subprocess
import sys
import time
import traceback

VALID_HINT_KEYS = {"vis", "seg", "edge", "depth", "keypoint", "upscale", "hdmap", "lidar"}
PRESETS = ["very_low", "low", "medium", "high", "very_high"]
DEFAULT_PROMPT = (
    "The video captures a stunning, photorealistic scene with remarkable attention to detail, "
    "giving it a lifelike appearance that is almost indistinguishable from reality. It appears "
    "to be from a high-budget 4K movie, showcasing ultra-high-definition quality with impeccable "
    "resolution."
)
DEFAULT_NEGATIVE_PROMPT = (
    "The video captures a game playing, with bad crappy graphics and cartoonish frames. It "
    "represents a recording of old outdated games. The lighting looks very fake. The textures "
    "are very raw and basic. The geometries are very primitive. The images are very pixelated "
    "and of poor CG quality. There are many subtitles in the footage. Overall, the video is "
    "unrealistic at all."
)
BASE_7B = "nvidia/Cosmos-Transfer1-7B"
BASE_AV = "nvidia/Cosmos-Transfer1-7B-Sample-AV"
TOKENIZER = "nvidia/Cosmos-Tokenize1-CV8x8x8-720p"
DEFAULT_CKPT = {h: "%s/%s_control.pt" % (BASE_7B, h) for h in ("vis", "seg", "edge", "depth", "keypoint")}
DEFAULT_CKPT.update({"upscale": BASE_7B + "/4kupscaler_control.pt",
                     "hdmap": BASE_AV + "/hdmap_control.pt", "lidar": BASE_AV + "/lidar_control.pt"})
#: Aspect buckets of Cosmos-Transfer1 (aspect, width, height).
BUCKETS = [(16 / 9, 1280, 704), (4 / 3, 960, 704), (1.0, 960, 960), (3 / 4, 704, 960), (9 / 16, 704, 1280)]
MAX_FRAMES = 5000
CLIP_FRAMES = 121
#: The fake guardrail's own blocklist (the real one blocks on its own too).
BLOCKLIST = ("sim-unsafe", "sim-blocked")
FAILURES = ("oom", "guardrail", "crash", "hang", "nccl")
#: Not failures: `[sim:hold]` holds the run at its first diffusion sampling, logging a line a
#: second, until a file `sim-release` appears in the output folder (`touch` it to go on). For
#: acting on a run while it runs (a reload, a second browser) however slow the machine is.
SWITCHES = ("hold",)
HOLD_FILE = "sim-release"
PRESET_PRIORITY = ("vis", "edge", "depth", "seg", "keypoint", "hdmap", "lidar")

# Source locations printed in log lines (plausible paths of the real modules).
T_PY = "cosmos_transfer1/diffusion/inference/transfer.py"
U_PY = "cosmos_transfer1/diffusion/inference/inference_utils.py"
P_PY = "cosmos_transfer1/diffusion/inference/world_generation_pipeline.py"
PRE_PY = "cosmos_transfer1/diffusion/inference/preprocessors.py"
MISC_PY = "cosmos_transfer1/utils/misc.py"
DIST_PY = "cosmos_transfer1/utils/distributed.py"
CKPT_PY = "cosmos_transfer1/checkpointer/base.py"
GUARD_PY = "cosmos_transfer1/auxiliary/guardrail/common/core.py"
T5_PY = "cosmos_transfer1/auxiliary/t5_text_encoder.py"
UPS_PY = "cosmos_transfer1/auxiliary/upsampler/model/upsampler.py"


def _torch_error(module: str, name: str, base: type) -> type:
    """An exception class that prints as torch's (`torch.OutOfMemoryError: ...`)."""
    cls = type(name, (base,), {})
    cls.__module__ = module
    cls.__qualname__ = name
    return cls


OutOfMemoryError = _torch_error("torch", "OutOfMemoryError", RuntimeError)
DistBackendError = _torch_error("torch.distributed", "DistBackendError", RuntimeError)

# ---------------------------------------------------------------------------------------------
# logging (loguru format, stdout) and the tqdm clip bar (stderr)
# ---------------------------------------------------------------------------------------------
LEVELS = {"TRACE": 5, "DEBUG": 10, "INFO": 20, "SUCCESS": 25, "WARNING": 30, "ERROR": 40, "CRITICAL": 50}


def _threshold() -> int:
    raw = os.environ.get("LOGURU_LEVEL", "INFO").strip().upper()
    if raw.isdigit():
        return int(raw)
    return LEVELS.get(raw, 20)


THRESHOLD = _threshold()


def log(level: str, where: tuple, message: str) -> None:
    """`[MM-DD HH:mm:ss|LEVEL|path:line:function] message`, flushed at once."""
    if LEVELS[level] < THRESHOLD:
        return
    path, line, func = where
    stamp = time.strftime("%m-%d %H:%M:%S")
    sys.stdout.write("[%s|%s|%s:%d:%s] %s\n" % (stamp, level, path, line, func, message))
    sys.stdout.flush()


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    minutes, secs = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return "%d:%02d:%02d" % (hours, minutes, secs) if hours else "%02d:%02d" % (minutes, secs)


class ClipBar:
    """tqdm's default bar on stderr with `\\r` updates; one per rank, as with real multi-GPU."""

    open_bars = 0  # a failure report starts on a fresh line when a bar is mid-line

    def __init__(self, total: int, ranks: int) -> None:
        self.total, self.ranks, self.n = total, ranks, 0
        ClipBar.open_bars += 1
        self.start = time.monotonic()
        self._emit(first=True)

    def _line(self) -> str:
        if self.n == 0:
            return "  0%%|          | 0/%d [00:00<?, ?it/s]" % self.total
        elapsed = time.monotonic() - self.start
        per = elapsed / self.n
        filled = int(10 * self.n / self.total)
        bar = "\u2588" * filled + " " * (10 - filled)
        rate = "%5.2fs/it" % per if per >= 1 or per == 0 else "%5.2fit/s" % (1 / per)
        return "%3d%%|%s| %d/%d [%s<%s, %s]" % (
            int(100 * self.n / self.total), bar, self.n, self.total, _clock(elapsed),
            _clock(per * (self.total - self.n)), rate)

    def _emit(self, first: bool = False) -> None:
        line = self._line()
        sys.stderr.write("".join(("" if first and r == 0 else "\r") + line for r in range(self.ranks)))
        sys.stderr.flush()

    def update(self) -> None:
        self.n += 1
        self._emit()

    def close(self) -> None:
        ClipBar.open_bars -= 1
        sys.stderr.write("\n")
        sys.stderr.flush()


# ---------------------------------------------------------------------------------------------
# timing: a deadline schedule, so ffmpeg and probing overhead is absorbed by the sleeps
# ---------------------------------------------------------------------------------------------
def _env_float(name: str, default: float, low: float, high: float) -> float:
    try:
        value = float(os.environ.get(name, default))
    except ValueError:
        value = default
    return min(high, max(low, value))


class Schedule:
    """Sleeps until planned timestamps: the run takes COSMOS_SIM_SECONDS, not more."""

    def __init__(self) -> None:
        self.total = _env_float("COSMOS_SIM_SECONDS", 10.0, 0.0, 86400.0)
        self.load_share = _env_float("COSMOS_SIM_LOAD_SHARE", 0.4, 0.0, 1.0)
        self.at = time.monotonic()

    @property
    def load(self) -> float:
        return self.total * self.load_share

    @property
    def item(self) -> float:
        return self.total * (1.0 - self.load_share)

    def spend(self, seconds: float) -> None:
        self.at += seconds
        delay = self.at - time.monotonic()
        if delay > 0:
            time.sleep(delay)


# ---------------------------------------------------------------------------------------------
# arguments and the spec merge (transfer.py parse_arguments / inference_utils)
# ---------------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    """Exactly the real transfer.py flags and defaults."""
    p = argparse.ArgumentParser(description="Control to world generation demo script",
                                conflict_handler="resolve")
    p.add_argument("--prompt", type=str, default=DEFAULT_PROMPT, help="prompt which the sampled video condition on")
    p.add_argument("--negative_prompt", type=str, default=DEFAULT_NEGATIVE_PROMPT, help="negative prompt")
    p.add_argument("--input_video_path", type=str, default="", help="Optional input RGB video path")
    p.add_argument("--num_input_frames", type=int, default=1, choices=[1],
                   help="Number of conditional frames for long video generation")
    p.add_argument("--sigma_max", type=float, default=70.0, help="sigma_max for partial denoising")
    p.add_argument("--blur_strength", type=str, default="medium", choices=PRESETS)
    p.add_argument("--canny_threshold", type=str, default="medium", choices=PRESETS)
    p.add_argument("--controlnet_specs", type=str, required=True,
                   help="Path to JSON file specifying multicontrolnet configurations")
    p.add_argument("--is_av_sample", action="store_true", help="Whether the model is an driving post-training model")
    p.add_argument("--checkpoint_dir", type=str, default="checkpoints", help="Base directory containing model checkpoints")
    p.add_argument("--tokenizer_dir", type=str, default="Cosmos-Tokenize1-CV8x8x8-720p")
    p.add_argument("--video_save_name", type=str, default="output", help="Output filename for generating a single video")
    p.add_argument("--video_save_folder", type=str, default="outputs/", help="Output folder for generating a batch of videos")
    p.add_argument("--batch_input_path", type=str, help="Path to a JSONL file of input prompts for generating a batch of videos")
    p.add_argument("--batch_size", type=int, default=1, help="Batch size")
    p.add_argument("--num_steps", type=int, default=35, help="Number of diffusion sampling steps")
    p.add_argument("--guidance", type=float, default=5, help="Classifier-free guidance scale value")
    p.add_argument("--fps", type=int, default=24, help="FPS of the output video")
    p.add_argument("--seed", type=int, default=1, help="Random seed")
    p.add_argument("--num_gpus", type=int, default=1, help="Number of GPUs used to run context parallel inference.")
    p.add_argument("--offload_diffusion_transformer", action="store_true")
    p.add_argument("--offload_text_encoder_model", action="store_true")
    p.add_argument("--offload_guardrail_models", action="store_true")
    p.add_argument("--upsample_prompt", action="store_true")
    p.add_argument("--offload_prompt_upsampler", action="store_true")
    p.add_argument("--use_distilled", action="store_true")
    p.add_argument("--save_input_noise", action="store_true")
    p.add_argument("--benchmark", action="store_true")
    return p


def load_controlnet_specs(cfg: argparse.Namespace) -> tuple:
    """Split the spec JSON into hint dicts and plain args; a non-hint dict is an error."""
    with open(cfg.controlnet_specs, "r") as f:
        controlnet_specs_in = json.load(f)
    controlnet_specs, args = {}, {}
    for hint_key, config in controlnet_specs_in.items():
        if hint_key in VALID_HINT_KEYS:
            controlnet_specs[hint_key] = config
        elif isinstance(config, dict):
            raise ValueError("Invalid hint_key: %s. Must be one of %s" % (hint_key, VALID_HINT_KEYS))
        else:
            args[hint_key] = config
    return controlnet_specs, args


def parse_arguments(argv: list | None = None) -> tuple:
    """CLI, then spec JSON values replace CLI values unless `--<key>` is literally in argv."""
    tokens = sys.argv if argv is None else argv
    cmd_args = build_parser().parse_args(argv)
    control_inputs, json_args = load_controlnet_specs(cmd_args)
    log("INFO", (T_PY, 263, "parse_arguments"), "control_inputs: " + json.dumps(control_inputs, indent=4))
    log("INFO", (T_PY, 264, "parse_arguments"), "args in json: " + json.dumps(json_args, indent=4))
    for key in json_args:
        if "--%s" % key not in tokens:
            setattr(cmd_args, key, json_args[key])
    log("INFO", (T_PY, 271, "parse_arguments"), "final args: " + json.dumps(vars(cmd_args), indent=4))
    return cmd_args, control_inputs


def validate_controlnet_specs(cfg: argparse.Namespace, controlnet_specs: dict) -> dict:
    """Cosmos' checks and defaults, in Cosmos' order, with Cosmos' messages."""
    for hint_key, config in controlnet_specs.items():
        if hint_key not in VALID_HINT_KEYS:
            raise ValueError("Invalid hint_key: %s. Must be one of %s" % (hint_key, VALID_HINT_KEYS))
        if not cfg.input_video_path and cfg.sigma_max < 80:
            raise ValueError("Must have 'input_video' specified if sigma_max < 80")
        if not cfg.input_video_path and "input_control" not in config:
            raise ValueError(
                "%s controlnet must have 'input_control' video specified if no 'input_video' specified." % hint_key)
        if "ckpt_path" not in config:
            log("INFO", (U_PY, 412, "validate_controlnet_specs"),
                "No checkpoint path specified for %s. Using default." % hint_key)
            name = DEFAULT_CKPT[hint_key]
            if cfg.use_distilled and hint_key == "edge":
                name = BASE_7B + "/edge_control_distilled.pt"
            config["ckpt_path"] = os.path.join(cfg.checkpoint_dir, name)
            log("INFO", (U_PY, 419, "validate_controlnet_specs"), "Using default checkpoint path: %s" % config["ckpt_path"])
        if "control_weight" not in config:
            log("WARNING", (U_PY, 425, "validate_controlnet_specs"),
                "No control weight specified for %s. Setting to 0.5." % hint_key)
            config["control_weight"] = "0.5"
        else:
            weight = config["control_weight"]
            if not isinstance(weight, str) or not weight.endswith(".pt"):
                try:
                    scalar_value = float(weight)
                    if scalar_value < 0:
                        raise ValueError("Control weight for %s must be non-negative." % hint_key)
                except (ValueError, TypeError):
                    raise ValueError("Control weight for %s must be a valid non-negative float or a path "
                                     "to a .pt file." % hint_key)
    if cfg.use_distilled:
        if cfg.is_av_sample or cfg.save_input_noise:
            raise ValueError("Distilled model is not supported with --is_av_sample or --save_input_noise")
        if list(controlnet_specs) != ["edge"]:
            raise ValueError("Distilled model only supports a single edge control")
    return controlnet_specs


# ---------------------------------------------------------------------------------------------
# devices, distributed init, checkpoints
# ---------------------------------------------------------------------------------------------
def visible_gpus() -> int:
    cvd = os.environ.get("CUDA_VISIBLE_DEVICES")
    if cvd is not None:
        return len([d for d in cvd.split(",") if d.strip()])
    try:
        return int(os.environ.get("COSMOS_SIM_GPUS", "8"))
    except ValueError:
        return 8


def world_size() -> int:
    try:
        return max(1, int(os.environ.get("WORLD_SIZE", "1")))
    except ValueError:
        return 1


CUDA_HINT = ("\nCUDA kernel errors might be asynchronously reported at some other API call, so the "
             "stacktrace below might be incorrect.\nFor debugging consider passing "
             "CUDA_LAUNCH_BLOCKING=1\nCompile with `TORCH_USE_CUDA_DSA` to enable device-side assertions.\n")


def init_distributed(cfg: argparse.Namespace) -> None:
    """torch.cuda.set_device + megatron initialize_model_parallel, with their failures."""
    world, num_gpus, visible = world_size(), int(cfg.num_gpus), visible_gpus()
    if visible == 0:
        raise RuntimeError("No CUDA GPUs are available")
    if max(world, num_gpus) > visible:
        raise RuntimeError("CUDA error: invalid device ordinal" + CUDA_HINT)
    if num_gpus > 1 and "RANK" not in os.environ:
        raise ValueError("Error initializing torch.distributed using env:// rendezvous: "
                         "environment variable RANK expected, but not set")
    if world % num_gpus != 0:
        raise RuntimeError(
            "world_size (%d) is not divisible by tensor_model_parallel_size (1) x "
            "pipeline_model_parallel_size (1) x context_parallel_size (%d)" % (world, num_gpus))
    if world != num_gpus:
        raise RuntimeError("cosmos-sim: --num_gpus %d must equal the torchrun world size %d "
                           "(--nproc_per_node)" % (num_gpus, world))
    if num_gpus > 1:
        for rank in range(world):
            log("CRITICAL", (DIST_PY, 63, "init"),
                "Initialized distributed training with local rank %d with timeout 1800" % rank)
        for rank in range(world):
            log("CRITICAL", (T_PY, 335, "demo"), "Training with %d GPUs." % world)


def require_file(path: str) -> None:
    if not os.path.isfile(path):
        raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), path)


def load_models(cfg: argparse.Namespace, control_inputs: dict, sched: Schedule) -> None:
    """The load phase markers; a missing checkpoint fails like torch.load does."""
    base = os.path.join(cfg.checkpoint_dir, BASE_AV if cfg.is_av_sample else BASE_7B, "base_model.pt")
    tokenizer = os.path.join(cfg.checkpoint_dir, TOKENIZER)
    share = sched.load
    log("INFO", (P_PY, 180, "_load_model"), "Start creating base model")
    for name in ("encoder.jit", "decoder.jit"):
        require_file(os.path.join(tokenizer, name))
    sched.spend(share * 0.25)
    log("INFO", (P_PY, 183, "_load_model"), "Done creating base model")
    log("INFO", (P_PY, 186, "_load_model"), "Start creating ctrlnet model")
    sched.spend(share * 0.15)
    log("INFO", (P_PY, 189, "_load_model"), "Done creating ctrlnet model")
    log("INFO", (U_PY, 645, "load_network_model"), "Loading base model checkpoint (local): %s" % base)
    require_file(base)
    sched.spend(share * 0.3)
    log("SUCCESS", (CKPT_PY, 121, "load"), "Complete loading base model checkpoint (local): %s" % base)
    log("INFO", (U_PY, 651, "load_network_model"), "Done loading the base model checkpoint.")
    for hint_key, spec in control_inputs.items():
        ckpt = spec["ckpt_path"]
        log("INFO", (U_PY, 688, "load_model_by_config"), "Loading ctrl model from ckpt_path: %s" % ckpt)
        if not os.path.exists(ckpt) and len(control_inputs) == 1:
            ckpt = os.path.join(cfg.checkpoint_dir, ckpt)  # single-control fallback
        require_file(ckpt)
        sched.spend(share * 0.3 / max(1, len(control_inputs)))


# ---------------------------------------------------------------------------------------------
# media: probing and rendering with ffmpeg
# ---------------------------------------------------------------------------------------------
def ffmpeg_exe() -> str:
    exe = os.environ.get("COSMOS_SIM_FFMPEG") or shutil.which("ffmpeg")
    if not exe:
        raise RuntimeError("cosmos-sim: ffmpeg not found (set COSMOS_SIM_FFMPEG or put ffmpeg on PATH)")
    return exe


def probe(path: str) -> dict:
    """Frame count, size and fps of a video (ffmpeg has no ffprobe here: parse `-i` stderr)."""
    require_file(path)
    proc = subprocess.run([ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", path, "-map", "0:v:0",
                           "-c", "copy", "-f", "null", "-"], capture_output=True, text=True)
    err = proc.stderr
    stream = re.search(r"Stream #\S+.*?Video: .*?\b(\d{2,5})x(\d{2,5})\b", err)
    frames = re.findall(r"frame=\s*(\d+)", err)
    if proc.returncode != 0 or not stream:
        raise RuntimeError("Failed to read video %s: %s" % (path, err.strip().splitlines()[-1:] or err))
    fps = re.search(r"(\d+(?:\.\d+)?) fps", err)
    return {"path": path, "width": int(stream.group(1)), "height": int(stream.group(2)),
            "frames": int(frames[-1]) if frames else 1, "fps": float(fps.group(1)) if fps else 24.0}


def bucket(width: int, height: int) -> tuple:
    aspect = width / float(height)
    _, w, h = min(BUCKETS, key=lambda b: abs(math.log(b[0] / aspect)))
    return w, h


def dominant_colour(path: str) -> str:
    """Name of the mean colour of the first frame (for the deterministic prompt upsampler)."""
    proc = subprocess.run([ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-i", path,
                           "-frames:v", "1", "-vf", "scale=1:1", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
                          capture_output=True)
    rgb = tuple(proc.stdout[:3]) if len(proc.stdout) >= 3 else (128, 128, 128)
    palette = {"red": (200, 40, 40), "orange": (230, 140, 40), "yellow": (220, 210, 60),
               "green": (60, 170, 70), "teal": (40, 150, 150), "blue": (50, 80, 200),
               "purple": (130, 60, 170), "pink": (230, 130, 180), "brown": (120, 80, 40),
               "black": (15, 15, 15), "grey": (128, 128, 128), "white": (240, 240, 240)}
    return min(palette, key=lambda n: sum((a - b) ** 2 for a, b in zip(palette[n], rgb)))


LOOKS = {
    "vis": "gblur=sigma={s}",
    "edge": "edgedetect=low=0.08:high=0.2,dilation",
    "depth": "format=gray,eq=contrast=1.6:brightness=0.05,format=yuv420p",
    "seg": "hue=h=120:s=2,lutyuv=y='floor(val/64)*64+32'",
    "keypoint": ("drawbox=x=iw*0.48:y=ih*0.2:w=iw*0.04:h=ih*0.45:color=yellow:t=fill,"
                 "drawbox=x=iw*0.35:y=ih*0.3:w=iw*0.3:h=ih*0.03:color=cyan:t=fill,"
                 "drawbox=x=iw*0.42:y=ih*0.62:w=iw*0.03:h=ih*0.3:color=magenta:t=fill,"
                 "drawbox=x=iw*0.55:y=ih*0.62:w=iw*0.03:h=ih*0.3:color=magenta:t=fill"),
    "hdmap": "hue=h=240:s=1.5",
    "lidar": "negate",
}


def scalar_weights(controls: dict) -> dict:
    """Cosmos' normalisation of scalar weights: divide by max(sum, 1). `.pt` maps count as 0.5."""
    raw = {}
    for hint, spec in controls.items():
        weight = spec.get("control_weight", "0.5")
        raw[hint] = 0.5 if isinstance(weight, str) and weight.endswith(".pt") else float(weight)
    total = max(sum(raw.values()), 1.0)
    return {hint: value / total for hint, value in raw.items()}


def render_command(src: dict, controls: dict, out: str, frames: int, fps: int, size: tuple,
                   regions: list | None = None, control_dir: str | None = None) -> list:
    """ffmpeg command for the visible render: the input at the bucket size, each control's look
    blended over it with its (normalised) weight; a given control video is used for its look.

    Like Cosmos, a control it computes itself is also written to `control_dir` as
    `<hint>_input_control_0.mp4`. Each regional prompt's mask video tints its region, so a
    "re-generate here" run visibly changes only where the mask is white."""
    w, h = size
    # looks and blends are drawn at half size and scaled up once at the end: the simulator's
    # ffmpeg was most of a simulated run's CPU (2.1 of 4.6 CPU-seconds for an edge run)
    hw, hh = w // 4 * 2, h // 4 * 2
    prep = "scale=%d:%d,setsar=1,format=yuv420p,setpts=N/%d/TB" % (hw, hh, fps)
    inputs = ["-i", src["path"]]
    weights = scalar_weights(controls)
    active = [hint for hint in PRESET_PRIORITY if weights.get(hint, 0) > 0]
    # blend mixes every plane alike, so blend in planar RGB (in YUV it would wash out chroma)
    graph = ["[0:v]%s,split=%d[base0]%s" % (prep, len(active) + 1, "".join("[c%d]" % i for i in range(len(active)))),
             "[base0]format=gbrp[base]"]
    current = "base"
    extra_outputs = []
    encode = ["-frames:v", str(frames), "-r", str(fps), "-c:v", "libx264", "-preset", "ultrafast",
              "-pix_fmt", "yuv420p", "-an"]
    for i, hint in enumerate(active):
        video = controls[hint].get("input_control")
        look = LOOKS[hint].format(s=round(2 + 8 * weights[hint], 2))
        if video and os.path.exists(video) and video != src["path"]:
            inputs += ["-i", video]
            graph.append("[c%d]nullsink" % i)
            graph.append("[%d:v]%s,format=gbrp[l%d]" % (len(inputs) // 2 - 1, prep, i))
        elif control_dir:
            # the computed control, as Cosmos writes it, at half size: a layer to look at,
            # kept cheap so the simulator stays quick
            graph.append("[c%d]%s,format=gbrp,split[l%d][k%d]" % (i, look, i, i))
            graph.append("[k%d]format=yuv420p[kk%d]" % (i, i))
            extra_outputs += ["-map", "[kk%d]" % i] + encode + [
                "-crf", "32", os.path.join(control_dir, "%s_input_control_0.mp4" % hint)]
        else:
            graph.append("[c%d]%s,format=gbrp[l%d]" % (i, look, i))
        graph.append("[l%d][%s]blend=all_mode=normal:all_opacity=%.3f:shortest=1[b%d]"
                     % (i, current, min(1.0, 0.25 + weights[hint]), i))
        current = "b%d" % i
    graph.append("[%s]scale=%d:%d:flags=bilinear,setsar=1,format=gbrp[full]" % (current, w, h))
    current = "full"
    for j, mask in enumerate(regions or []):
        inputs += ["-i", mask]
        graph.append("[%s]split[r%d][q%d]" % (current, j, j))
        graph.append("[q%d]drawbox=x=0:y=0:w=iw:h=ih:color=0x3060ff@0.5:t=fill,format=gbrp[t%d]" % (j, j))
        graph.append("[%d:v]scale=%d:%d:flags=neighbor,setsar=1,setpts=N/%d/TB,format=gbrp[m%d]"
                     % (len(inputs) // 2 - 1, w, h, fps, j))
        graph.append("[r%d][t%d][m%d]maskedmerge[g%d]" % (j, j, j, j))
        current = "g%d" % j
    graph.append("[%s]format=yuv420p[out]" % current)
    return [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y", *inputs,
            "-filter_complex", ";".join(graph), "-map", "[out]"] + encode + [
            "-crf", "25", out] + extra_outputs


def upscale_command(src: dict, out: str, frames: int, fps: int, size: tuple) -> list:
    """3x the bucket, bicubic, kept cheap (ultrafast, low quality) but with all T frames."""
    w, h = size
    vf = "scale=%d:%d,setsar=1,scale=%d:%d:flags=bicubic,format=yuv420p,setpts=N/%d/TB" % (w, h, 3 * w, 3 * h, fps)
    return [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y", "-i", src["path"],
            "-vf", vf, "-frames:v", str(frames), "-r", str(fps), "-c:v", "libx264", "-preset", "ultrafast",
            "-crf", "32", "-pix_fmt", "yuv420p", "-an", out]


# ---------------------------------------------------------------------------------------------
# failure injection and the guardrail
# ---------------------------------------------------------------------------------------------
def directives(prompt) -> set:
    found = set(m.lower() for m in re.findall(r"\[sim:([a-z_]+)\]", prompt or "", re.I))
    env = os.environ.get("COSMOS_SIM_FAIL", "").strip().lower()
    if env:
        found.add(env)
    return found & set(FAILURES + SWITCHES)


def guardrail_reason(prompt) -> str | None:
    lowered = prompt.lower()  # a missing (None) batch prompt breaks here, as in Cosmos
    if "guardrail" in directives(prompt):
        return "Llama Guard 3 flagged the prompt: unsafe content (category S1)"
    for word in BLOCKLIST:
        if word in lowered:
            return "Prompt blocked by blocklist: %s" % word
    return None


def diffusion_sample(cfg: argparse.Namespace, item: dict, clip: int) -> None:
    """Where the real sampler spends its time, and where it fails."""
    fails = item["fail"]
    if int(cfg.num_gpus) > 1:
        assert 16 % int(cfg.num_gpus) == 0, "16 cannot divide cp_size %d" % int(cfg.num_gpus)
    # first, so a held run can still fail after its release ([sim:hold] [sim:oom])
    if "hold" in fails and clip == 0:
        release = os.path.join(cfg.video_save_folder, HOLD_FILE)
        held = 0
        while not os.path.exists(release):
            log("INFO", (P_PY, 671, "generate_world_from_control"),
                "[sim:hold] held for %d s: touch %s to go on" % (held, release))
            time.sleep(1.0)
            held += 1
    if "oom" in fails:
        raise OutOfMemoryError(
            "CUDA out of memory. Tried to allocate 2.00 GiB. GPU 0 has a total capacity of 79.19 GiB "
            "of which 1.23 GiB is free. Including non-PyTorch memory, this process has 77.94 GiB "
            "memory in use. Of the allocated memory 75.12 GiB is allocated by PyTorch, and 1.31 GiB "
            "is reserved by PyTorch but unallocated. If reserved but unallocated memory is large try "
            "setting PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True to avoid fragmentation.  See "
            "documentation for Memory Management  (https://pytorch.org/docs/stable/notes/cuda.html"
            "#environment-variables)")
    if "nccl" in fails:
        raise DistBackendError(
            "NCCL error in: /pytorch/torch/csrc/distributed/c10d/ProcessGroupNCCL.cpp:3356, unhandled "
            "system error (run with NCCL_DEBUG=INFO for details), NCCL version 2.26.2\nncclSystemError: "
            "System call (e.g. socket, malloc) or external library call failed or device error. \n"
            "Last error:\nsocketStartConnect: Connect to 127.0.0.1<45679> failed : Software caused "
            "connection abort")
    if "crash" in fails:
        raise RuntimeError("CUDA error: an illegal memory access was encountered" + CUDA_HINT)
    if "hang" in fails:
        while True:  # a wedged NCCL collective: no output until killed
            time.sleep(3600)


# ---------------------------------------------------------------------------------------------
# the pipeline
# ---------------------------------------------------------------------------------------------
_children: list = []
_temp_files: list = []


def preprocess(item: dict) -> None:
    """`running preprocessor`: inputs must exist; auto controls are 'generated'."""
    log("INFO", (T_PY, 392, "demo"), "running preprocessor")
    if item["video"]:
        require_file(item["video"])
    generators = {"depth": "DepthAnythingModel", "seg": "GroundingDinoSam2Model",
                  "keypoint": "WholebodyKeypointModel"}
    for hint, spec in item["controls"].items():
        given = spec.get("input_control")
        if given:
            require_file(given)
        elif hint in ("hdmap", "lidar"):
            raise ValueError("%s controlnet requires an 'input_control' video (no preprocessor exists)" % hint)
        elif hint in generators and item["video"]:
            log("INFO", (PRE_PY, 71, "__call__"),
                "no input_control provided for %s. generating input control video with %s"
                % (hint, generators[hint]))


def regional_masks(cfg: argparse.Namespace) -> list:
    """The mask videos of the spec's `regional_prompts` (Cosmos turns each into a `.pt` map;
    a missing file fails the run as it would there)."""
    masks = []
    for region in getattr(cfg, "regional_prompts", None) or []:
        path = region.get("region_definitions_path") if isinstance(region, dict) else None
        if not isinstance(path, str) or not path.endswith(".mp4"):
            continue  # [x1,y1,x2,y2] boxes and .pt maps: accepted, not drawn by the simulator
        require_file(path)
        log("INFO", (T_PY, 402, "demo"), "Processing regional prompt: %s" % str(region.get("prompt", ""))[:60])
        masks.append(path)
    return masks


def upsample_prompts(items: list, sched: Schedule) -> None:
    """Deterministic 'Pixtral' upsampler, choosing its hint as `_init_prompt_upsampler` does:
    vis/edge (a control video given or derived), else the first of seg/depth, whose
    un-preprocessed `input_control` it reads; without one that is None, and
    `_prompt_upsample` iterates over it (TypeError), after the whole model was loaded."""
    if "RANK" not in os.environ:
        raise KeyError("RANK")
    for i, item in enumerate(items):
        controls = item["controls"]
        if any(h in controls for h in ("vis", "edge")):
            hint = "vis"
        else:
            hint = next((h for h in controls if h in ("seg", "depth")), None)
        if hint is None:
            continue  # keypoint only: no upsampler, the prompt comes back unchanged
        prompt = item["prompt"] or ""
        log("INFO", (UPS_PY, 132, "_prompt_upsample_with_offload"),
            "Upsampling prompt %d/%d: %s..." % (i + 1, len(items), prompt[:50]))
        if hint != "vis" and not controls[hint].get("input_control"):
            image_paths = None  # the pipeline's control_inputs never got a generated video
            [path for path in image_paths]  # noqa: B018 - fails exactly like upsampler.py
        media = item["media"]
        colour = dominant_colour(media["path"])
        base = prompt.strip().rstrip(".") or "A scene"
        item["prompt"] = ("%s. The footage is %dx%d over %d frames, dominated by %s tones, with crisp "
                          "photorealistic detail, natural lighting and smooth, realistic camera motion."
                          % (base, media["width"], media["height"], item["frames"], colour))
        sched.spend(sched.item * 0.03)
        log("INFO", (UPS_PY, 140, "_prompt_upsample_with_offload"),
            "Upsampled prompt %d: %s..." % (i + 1, item["prompt"][:50]))


def prepare_media(cfg: argparse.Namespace, item: dict) -> None:
    """Probe input and controls: T = min frame count (<= 5000), size = the input's bucket."""
    videos = [item["video"]] if item["video"] else []
    videos += [s["input_control"] for s in item["controls"].values() if s.get("input_control")]
    infos = [probe(v) for v in videos]
    item["media"] = infos[0]
    item["frames"] = min(MAX_FRAMES, min(info["frames"] for info in infos))
    item["size"] = bucket(infos[0]["width"], infos[0]["height"])
    if "upscale" in item["controls"]:
        item["out_size"] = (item["size"][0] * 3, item["size"][1] * 3)
    else:
        item["out_size"] = item["size"]


def start_render(cfg: argparse.Namespace, item: dict) -> None:
    folder = os.path.dirname(item["video_path"]) or "."
    os.makedirs(folder, exist_ok=True)
    item["tmp"] = os.path.join(folder, ".%s.sim-render-%d.mp4" % (os.path.basename(item["video_path"]), os.getpid()))
    _temp_files.append(item["tmp"])
    fps = int(cfg.fps)
    if "upscale" in item["controls"]:
        cmd = upscale_command(item["media"], item["tmp"], item["frames"], fps, item["size"])
    else:
        cmd = render_command(item["media"], item["controls"], item["tmp"], item["frames"], fps, item["size"],
                             regions=item.get("regions"), control_dir=item.get("control_dir"))
    item["proc"] = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _children.append(item["proc"])


def finish_render(item: dict) -> None:
    proc = item["proc"]
    _, err = proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError("cosmos-sim: ffmpeg render failed (%d): %s" % (proc.returncode, err.decode(errors="replace")[-800:]))
    os.replace(item["tmp"], item["video_path"])
    _temp_files.remove(item["tmp"])


def run_model(cfg: argparse.Namespace, item: dict, sched: Schedule, ranks: int) -> None:
    """Data augmentation and the per-clip loop (`_run_model` / `generate_world_from_control`)."""
    budget = sched.item
    log("INFO", (P_PY, 560, "_run_model"), "Starting data augmentation")
    log("INFO", (P_PY, 571, "_run_model"),
        "Making all control and input videos to be length of %d frames." % item["frames"])
    start_render(cfg, item)
    sched.spend(budget * 0.04)
    log("INFO", (P_PY, 598, "_run_model"), "Completed data augmentation")
    clips = max(1, int(math.ceil((item["frames"] - 1) / float(CLIP_FRAMES - 1))))
    per_clip = budget * 0.80 / clips
    bar = ClipBar(clips, ranks)
    for clip in range(clips):
        log("INFO", (P_PY, 645, "generate_world_from_control"), "Starting latent encoding")
        sched.spend(per_clip * 0.1)
        log("INFO", (P_PY, 652, "generate_world_from_control"), "Completed latent encoding")
        log("INFO", (P_PY, 670, "generate_world_from_control"), "Starting diffusion sampling")
        diffusion_sample(cfg, item, clip)
        sched.spend(per_clip * 0.75)
        log("INFO", (P_PY, 688, "generate_world_from_control"), "Completed diffusion sampling")
        log("INFO", (P_PY, 695, "generate_world_from_control"), "Starting VAE decode")
        sched.spend(per_clip * 0.15)
        log("INFO", (P_PY, 701, "generate_world_from_control"), "Completed VAE decode")
        bar.update()
    bar.close()


def generate(cfg: argparse.Namespace, items: list, sched: Schedule, ranks: int):
    """`pipeline.generate` for one batch: None when the guardrail blocks every prompt."""
    budget = sched.item
    log("INFO", (P_PY, 812, "generate"), "Running batch generation with batch_size=%d" % len(items))
    for item in items:
        prepare_media(cfg, item)
    if cfg.upsample_prompt:
        upsample_prompts(items, sched)
    log("INFO", (P_PY, 840, "generate"), "Running guardrail checks on all prompts")
    safe = []
    for i, item in enumerate(items):
        reason = guardrail_reason(item["prompt"])
        if reason:
            log("CRITICAL", (GUARD_PY, 51, "run_safety_check"), "GUARDRAIL BLOCKED: %s" % reason)
            log("CRITICAL", (P_PY, 848, "generate"), "Input text prompt %d is not safe" % i)
        else:
            safe.append(item)
    sched.spend(budget * 0.02 * len(items))
    if not safe:
        log("CRITICAL", (P_PY, 853, "generate"), "All prompts failed safety checks")
        return None
    log("INFO", (P_PY, 860, "generate"), "Running text embedding on all prompts")
    log("INFO", (T5_PY, 88, "encode_prompts"), "Starting T5 compute")
    sched.spend(budget * 0.03 * len(items))
    log("INFO", (T5_PY, 101, "encode_prompts"), "Completed T5 compute")
    if not cfg.negative_prompt:
        raise TypeError("expected Tensor as element 0 in argument 0, but got NoneType")
    log("INFO", (P_PY, 871, "generate"), "Finish text embedding on prompt")
    log("INFO", (P_PY, 874, "generate"), "Run generation")
    started = time.monotonic()
    for item in safe:
        run_model(cfg, item, sched, ranks)
    log("INFO", (P_PY, 890, "generate"), "Finish generation")
    log("INFO", (P_PY, 893, "generate"), "Run guardrail on generated videos")
    sched.spend(budget * 0.05 * len(safe))
    for item in safe:
        finish_render(item)
    return safe, time.monotonic() - started


def read_prompts(path: str) -> list:
    """The JSONL batch file: one object per line (a pretty-printed JSON fails, as in Cosmos)."""
    prompts = []
    with open(path, "r") as f:
        for line in f:
            if line.strip():
                prompts.append(json.loads(line.strip()))
    return prompts


def demo(cfg: argparse.Namespace, control_inputs: dict) -> None:
    """transfer.py's demo(): validate, init, load once, then generate each batch."""
    sched = Schedule()
    control_inputs = validate_controlnet_specs(cfg, control_inputs)
    log("INFO", (MISC_PY, 211, "set_random_seed"), "Using random seed %s." % cfg.seed)
    init_distributed(cfg)
    ranks = max(1, int(cfg.num_gpus))
    load_models(cfg, control_inputs, sched)
    if cfg.batch_input_path:
        log("INFO", (T_PY, 368, "demo"), "Reading batch inputs from path: %s" % cfg.batch_input_path)
        prompts = read_prompts(cfg.batch_input_path)
    else:
        prompts = [{"prompt": cfg.prompt, "visual_input": cfg.input_video_path}]
    batch_size = int(cfg.batch_size)
    if "upscale" in control_inputs and batch_size > 1:
        batch_size = 1
        log("INFO", (T_PY, 377, "demo"), "Setting batch_size=1 as upscale does not support batch generation")
    os.makedirs(cfg.video_save_folder, exist_ok=True)
    for start in range(0, len(prompts), batch_size):
        items = []
        for i, entry in enumerate(prompts[start:start + batch_size]):
            index = start + i
            controls = copy.deepcopy(control_inputs)
            for hint_key, override in (entry.get("control_overrides") or {}).items():
                if hint_key in controls:
                    controls[hint_key].update(override)
                else:
                    log("WARNING", (T_PY, 388, "demo"), "Ignoring unknown control key in override: %s" % hint_key)
            if cfg.batch_input_path:
                folder = os.path.join(cfg.video_save_folder, "video_%d" % index)
                video_path, prompt_path = os.path.join(folder, "output.mp4"), os.path.join(folder, "prompt.txt")
            else:
                video_path = os.path.join(cfg.video_save_folder, "%s.mp4" % cfg.video_save_name)
                prompt_path = os.path.join(cfg.video_save_folder, "%s.txt" % cfg.video_save_name)
            video = entry.get("visual_input") or cfg.input_video_path
            item = {"prompt": entry.get("prompt"), "video": video, "controls": controls,
                    "video_path": video_path, "prompt_path": prompt_path}
            if not cfg.batch_input_path:
                item["control_dir"] = cfg.video_save_folder
                item["regions"] = regional_masks(cfg)
            item["fail"] = directives(item["prompt"])
            if not item["video"]:  # sigma_max >= 80: the first control video drives the render
                item["video"] = ""
            preprocess(item)
            if not item["video"]:
                item["video"] = next(s["input_control"] for s in controls.values() if s.get("input_control"))
            items.append(item)
        outputs = generate(cfg, items, sched, ranks)
        if outputs is None:
            log("CRITICAL", (T_PY, 424, "demo"), "Guardrail blocked generation for entire batch.")
        videos, elapsed = outputs  # a fully blocked batch unpacks None: TypeError, as in Cosmos
        for item in videos:
            os.makedirs(os.path.dirname(item["prompt_path"]) or ".", exist_ok=True)
            with open(item["prompt_path"], "wb") as f:
                f.write((item["prompt"] or "").encode("utf-8"))
            log("INFO", (T_PY, 446, "demo"), "Saved video to %s" % item["video_path"])
            log("INFO", (T_PY, 447, "demo"), "Saved prompt to %s" % item["prompt_path"])
        if cfg.use_distilled:
            print("video paths: %s" % [item["video_path"] for item in videos], flush=True)
        if cfg.benchmark:
            for it in range(1, 4):
                log("INFO", (T_PY, 431, "demo"), "[iter %d / 3] Generation time: %.1f seconds." % (it, elapsed))
            log("CRITICAL", (T_PY, 435, "demo"),
                "The benchmarked generation time for Cosmos-Transfer1 is %.1f seconds." % elapsed)
    if cfg.save_input_noise:
        with open(os.path.join(cfg.video_save_folder, "noise.pickle"), "wb") as f:
            pickle.dump({"simulated": True, "seed": cfg.seed}, f)


# ---------------------------------------------------------------------------------------------
# process plumbing: signals and error reports
# ---------------------------------------------------------------------------------------------
def _cleanup() -> None:
    for proc in _children:
        if proc.poll() is None:
            try:
                proc.kill()
            except OSError:
                pass
    for path in list(_temp_files):
        try:
            os.remove(path)
        except OSError:
            pass


def _on_signal(signum, _frame) -> None:
    """SIGTERM/SIGINT: say so, drop the partial render, exit 128+signal."""
    signal.signal(signum, signal.SIG_IGN)  # torchrun forwards a second copy; ignore it
    name = signal.Signals(signum).name
    try:
        log("WARNING", (T_PY, 480, "<module>"), "Received %s; terminating generation." % name)
    except Exception:  # noqa: BLE001 - stdout may be gone; the exit code still matters
        pass
    _cleanup()
    os._exit(128 + signum)


def report_failure(exc: BaseException) -> None:
    """The traceback on stderr; with several ranks every rank reports it prefixed `[rankN]:`."""
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    world = world_size()
    if world > 1:
        text = "".join("[rank%d]: %s\n" % (rank, line) for rank in range(world) for line in text.splitlines())
    sys.stdout.flush()
    if ClipBar.open_bars:
        text = "\n" + text
    sys.stderr.write(text)
    sys.stderr.flush()


def main(argv: list | None = None) -> int:
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _on_signal)
    sys.stdout.write("INFO %s [__init__.py:239] Automatically detected platform cuda.\n" % time.strftime("%m-%d %H:%M:%S"))
    sys.stdout.flush()
    try:
        cfg, control_inputs = parse_arguments(argv)
        demo(cfg, control_inputs)
    except SystemExit:
        _cleanup()
        raise
    except BaseException as exc:  # noqa: BLE001 - every failure is reported like Python would
        _cleanup()
        report_failure(exc)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
