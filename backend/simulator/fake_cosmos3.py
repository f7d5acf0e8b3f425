#!/usr/bin/env python3
"""cosmos-sim stand-in for Cosmos 3's `python -m cosmos_framework.scripts.inference` (CPU).

It takes the real entry point's setup flags (`-i <spec>... -o <out> --checkpoint-path <name>`,
`--parallelism-preset latency|throughput`, `--keep-going`, `--guardrails/--no-guardrails`,
`--offload-guardrail-models`), validates each sample like OmniSampleOverrides (extra keys are
refused, guidance 0-7, control_guidance 0-10, the resolution tiers and aspect ratios, the hint
blocks and their presets) and the latency preset's WORLD_SIZE rule, prints upstream's loguru
records, and writes upstream's folder per sample: `sample_args.json` first, then `vision.mp4`
(and `control_<hint>.mp4` for video2video) and `sample_outputs.json` only on success. A failed
sample, as upstream with keep_going, gets one `Error generating sample '<name>': ...` ERROR
record and no status file: depth/seg/wsm without a control_path, `[sim:guardrail]` (the prompt
check) and `[sim:guardrail_video]` (the video check; text2video and image2video only: the
transfer path has no guardrail upstream). `[sim:oom]`, `[sim:crash]`, `[sim:hang]` fail the
process. STDLIB ONLY; `_sim_shared.py` beside it is a copy of the Transfer1 fake.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
try:
    import _sim_shared as sim  # type: ignore[import-not-found]
except ImportError:  # imported from the package (tests)
    from backend.simulator import fake_transfer as sim  # type: ignore[no-redef]

SCRIPT_PY = "cosmos_framework/scripts/inference.py"
INF_PY = "cosmos_framework/inference/inference.py"
COMMON_PY = "cosmos_framework/inference/common/inference.py"
TRANSFER_PY = "cosmos_framework/inference/transfer.py"
CHECKPOINTS = {"Cosmos3-Nano": "720", "Cosmos3-Edge": "480", "Cosmos3-Super": "720"}
MODES = ("text2image", "text2video", "image2image", "image2video", "video2video")
HINTS = ("edge", "blur", "depth", "seg", "wsm")
EDGE_PRESETS = ("very_low", "low", "medium", "high", "very_high")
BLUR_PRESETS = ("none",) + EDGE_PRESETS
RESOLUTIONS = ("256", "480", "720", "768")
ASPECTS = {"16,9": 16 / 9, "9,16": 9 / 16, "4,3": 4 / 3, "3,4": 3 / 4, "1,1": 1.0}
SAMPLE_KEYS = {"name", "model_mode", "prompt", "prompt_path", "negative_prompt", "seed",
               "num_steps", "guidance", "guidance_interval", "shift", "sigma_max", "vision_path",
               "resolution", "aspect_ratio", "fps", "num_frames", "control_guidance",
               "max_frames", "num_video_frames_per_chunk", "num_conditional_frames",
               "show_control_condition", "show_input", "negative_prompt_file", "model",
               "num_outputs", "defaults_file"} | set(HINTS)
HINT_KEYS = {"control_path", "weight"}
LOOK = {"edge": "edgedetect=low=0.08:high=0.2", "blur": "gblur=sigma=8",
        "depth": "format=gray", "seg": "hue=h=120:s=2", "wsm": "negate"}
_FAILS = ("oom", "crash", "hang", "guardrail", "guardrail_video")


def log(level: str, where: tuple, message: str) -> None:
    """cosmos_framework.utils.log's loguru format, rank 0 only."""
    if os.environ.get("RANK", "0") != "0":
        return
    sys.stdout.write("[%s|%s|%s:%d:%s] %s\n" % (time.strftime("%m-%d %H:%M:%S"), level,
                                                where[0], where[1], where[2], message))
    sys.stdout.flush()


def directives(prompt) -> set:
    found = {m.lower() for m in re.findall(r"\[sim:([a-z_]+)\]", prompt or "", re.I)}
    env = os.environ.get("COSMOS_SIM_FAIL", "").strip().lower()
    if env:
        found.add(env)
    return found & set(_FAILS)


def parse_args(argv):
    p = argparse.ArgumentParser(prog="inference.py", allow_abbrev=False)
    p.add_argument("-i", "--input-files", nargs="+", required=True)
    p.add_argument("-o", "--output-dir", required=True)
    p.add_argument("--checkpoint-path", required=True)
    p.add_argument("--parallelism-preset", default="latency", choices=("latency", "throughput"))
    p.add_argument("--keep-going", dest="keep_going", action="store_true", default=False)
    p.add_argument("--no-keep-going", dest="keep_going", action="store_false")
    p.add_argument("--guardrails", dest="guardrails", action="store_true", default=True)
    p.add_argument("--no-guardrails", dest="guardrails", action="store_false")
    p.add_argument("--offload-guardrail-models", action="store_true")
    args, unknown = p.parse_known_args(argv)
    if unknown:
        sys.stderr.write("\u256d\u2500 Unrecognized options \u2500\u256e\n\u2502 Unrecognized "
                         "options: %s\n\u2570\u2500\u256f\n" % " ".join(unknown))
        raise SystemExit(2)
    return args


def check_setup(args) -> None:
    """CheckpointOverrides._build_checkpoint and OmniSetupArgs._validate_parallelism."""
    if args.checkpoint_path not in CHECKPOINTS and not os.path.isdir(args.checkpoint_path):
        raise ValueError("Invalid checkpoint path: %s" % args.checkpoint_path)
    world = int(os.environ.get("WORLD_SIZE", "0"))
    if world and args.parallelism_preset == "latency":
        cfgp = max(1, min(2, world))
        cp = max(1, min(32, world // cfgp))
        if world % (cp * cfgp):
            raise ValueError("cp_size(%d) * cfgp_size(%d) must divide WORLD_SIZE(%d)"
                             % (cp, cfgp, world))


def _problems(sample: dict) -> list:
    out = []
    for key in sample:
        if key not in SAMPLE_KEYS:
            out.append("%s\n  Extra inputs are not permitted" % key)
    mode = sample.get("model_mode")
    if mode is not None and mode not in MODES:
        out.append("model_mode\n  Input should be %s" % " or ".join(repr(m) for m in MODES))
    for key, low, high in (("guidance", 0, 7), ("control_guidance", 0, 10)):
        v = sample.get(key)
        if v is not None and (not isinstance(v, (int, float)) or not low <= v <= high):
            out.append("%s\n  Input should be between %s and %s" % (key, low, high))
    if sample.get("resolution") is not None and sample["resolution"] not in RESOLUTIONS:
        out.append("resolution\n  Input should be %s" % " or ".join(map(repr, RESOLUTIONS)))
    if sample.get("aspect_ratio") is not None and sample["aspect_ratio"] not in ASPECTS:
        out.append("aspect_ratio\n  Input should be %s" % " or ".join(map(repr, ASPECTS)))
    for key in ("num_frames", "max_frames", "num_video_frames_per_chunk", "fps", "num_steps"):
        v = sample.get(key)
        if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v < 1):
            out.append("%s\n  Input should be greater than 0" % key)
    for hint in HINTS:
        block = sample.get(hint)
        if block is None:
            continue
        allowed = HINT_KEYS | ({"preset_edge_threshold"} if hint == "edge" else set()) | (
            {"preset_blur_strength"} if hint == "blur" else set())
        for key in block:
            if key not in allowed:
                out.append("%s.%s\n  Extra inputs are not permitted" % (hint, key))
        if hint == "edge" and block.get("preset_edge_threshold", "medium") not in EDGE_PRESETS:
            out.append("edge.preset_edge_threshold\n  Input should be %s"
                       % " or ".join(map(repr, EDGE_PRESETS)))
        if hint == "blur" and block.get("preset_blur_strength", "medium") not in BLUR_PRESETS:
            out.append("blur.preset_blur_strength\n  Input should be %s"
                       % " or ".join(map(repr, BLUR_PRESETS)))
    transfer_only = ("max_frames", "num_video_frames_per_chunk", "num_conditional_frames")
    if not any(sample.get(h) is not None for h in HINTS) and (
            any(sample.get(k) is not None for k in transfer_only)
            or sample.get("control_guidance") not in (None, 1.0)):
        out.append("Value error, transfer inference requires at least one control hint "
                   "(%s)" % ", ".join(HINTS))
    return out


def load_samples(paths: list) -> list:
    samples = []
    for path in sorted(set(paths)):
        with open(path) as f:
            data = [json.loads(line) for line in f if line.strip()] if path.endswith(".jsonl") \
                else [json.load(f)]
        for i, sample in enumerate(data):
            problems = _problems(sample)
            if problems:
                raise ValueError("Error validating parameters from '%s' at sample %d\n"
                                 "Parameters: %s\n%d validation errors for OmniSampleOverrides\n%s"
                                 % (path, i, sample, len(problems), "\n".join(problems)))
            sample.setdefault("name", os.path.splitext(os.path.basename(path))[0])
            samples.append(sample)
    return samples


#: cosmos_framework/data/generator/utils.py VIDEO_RES_SIZE_INFO (width, height).
SIZES = {
    "256": {"1,1": (256, 256), "4,3": (320, 256), "3,4": (256, 320), "16,9": (320, 192),
            "9,16": (192, 320)},
    "480": {"1,1": (640, 640), "4,3": (736, 544), "3,4": (544, 736), "16,9": (832, 480),
            "9,16": (480, 832)},
    "720": {"1,1": (960, 960), "4,3": (1104, 832), "3,4": (832, 1104), "16,9": (1280, 720),
            "9,16": (720, 1280)},
    "768": {"1,1": (1024, 1024), "4,3": (1184, 880), "3,4": (880, 1184), "16,9": (1360, 768),
            "9,16": (768, 1360)},
}


def vision_size(resolution: str, aspect: float) -> tuple:
    """The tier's size at the aspect ratio nearest `aspect` (read_and_resize_media)."""
    name = min(ASPECTS, key=lambda k: abs(math.log(ASPECTS[k] / aspect)))
    return SIZES[resolution][name]


def resolve(sample: dict, args) -> dict:
    """OmniSampleOverrides.build_sample: the mode's defaults, then the tuned transfer ones."""
    mode = sample.get("model_mode") or ("video2video" if any(sample.get(h) for h in HINTS)
                                        else "image2video" if sample.get("vision_path")
                                        else "text2video")
    hints = [h for h in HINTS if sample.get(h) is not None]
    out = {"num_steps": 35, "guidance": 6.0, "shift": 10.0, "sigma_max": 80.0, "fps": 24,
           "num_frames": 121 if args.checkpoint_path == "Cosmos3-Edge" else 189,
           "aspect_ratio": sample.get("aspect_ratio"), "control_guidance": 1.0,
           "resolution": CHECKPOINTS.get(args.checkpoint_path, "720"), "seed": None}
    if hints:
        out.update(num_video_frames_per_chunk=93, num_conditional_frames=1, max_frames=5000)
        if len(hints) == 1:
            tuned = {"edge": (3.0, 1.5), "blur": (3.0, 1.5), "depth": (3.0, 1.5),
                     "seg": (3.0, 2.0), "wsm": (1.0, 3.0)}[hints[0]]
            out.update(guidance=tuned[0], control_guidance=tuned[1])
    out.update({k: v for k, v in sample.items() if v is not None})
    out["model_mode"] = mode
    num = out["num_frames"]
    out["num_frames"] = int(math.ceil((num - 1) / 4.0) * 4 + 1)
    for hint in hints:
        block = dict(out[hint])
        block.setdefault("weight", 1.0)
        if hint == "edge":
            block.setdefault("preset_edge_threshold", "medium")
        if hint == "blur":
            block.setdefault("preset_blur_strength", "medium")
        out[hint] = block
    return out


def _ffmpeg(args_list: list) -> None:
    cmd = [sim.ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y"] + args_list
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError("ffmpeg failed: %s" % proc.stderr.strip()[-300:])


def _encode(out: str, frames: int, fps: int) -> list:
    return ["-frames:v", str(frames), "-r", str(fps), "-c:v", "libx264", "-preset",
            "ultrafast", "-crf", "28", "-pix_fmt", "yuv420p", "-an", out]


def render(resolved: dict, folder: str, seed: int) -> list:
    """vision.mp4 (and the control videos of a transfer) into the sample's folder."""
    mode, files = resolved["model_mode"], []
    aspect = ASPECTS.get(resolved.get("aspect_ratio") or "", None)
    fps = int(resolved["fps"])
    # rendered to a .part file first; the caller moves it to vision.mp4 when it is whole
    tmp = os.path.join(folder, ".vision.part.mp4")
    if mode == "video2video":
        src = resolved.get("vision_path") or next(
            resolved[h]["control_path"] for h in HINTS if resolved.get(h) and
            resolved[h].get("control_path"))
        media = sim.probe(src)
        aspect = aspect or media["width"] / float(media["height"])
        w, h = vision_size(resolved["resolution"], aspect)
        frames = min(media["frames"], int(resolved["max_frames"]))
        fps = int(media["fps"]) or fps
        prep = "scale=%d:%d,setsar=1,format=yuv420p" % (w, h)
        for hint in HINTS:
            block = resolved.get(hint)
            if block is None:
                continue
            path = os.path.join(folder, "control_%s.mp4" % hint)
            given = block.get("control_path")
            vf = prep if given else "%s,%s,format=yuv420p" % (prep, LOOK[hint])
            _ffmpeg(["-i", given or src, "-vf", vf] + _encode(path, frames, fps))
            files.append(path)
        _ffmpeg(["-i", src, "-vf", "%s,hue=h=%d:s=1.4" % (prep, seed % 360)]
                + _encode(tmp, frames, fps))
    else:
        w, h = vision_size(resolved["resolution"], aspect or 16 / 9)
        frames = int(resolved["num_frames"])
        if mode == "image2video":
            _ffmpeg(["-loop", "1", "-i", resolved["vision_path"], "-vf",
                     "scale=%d:%d,setsar=1,hue=h=%d,format=yuv420p" % (w, h, seed % 360)]
                    + _encode(tmp, frames, fps))
        else:
            _ffmpeg(["-f", "lavfi", "-i", "testsrc2=size=%dx%d:rate=%d" % (w, h, fps), "-vf",
                     "hue=h=%d:s=1.2,format=yuv420p" % (seed % 360)] + _encode(tmp, frames, fps))
    return files + [tmp]


def step_bar(steps: int, seconds: float) -> None:
    start = time.monotonic()
    for n in range(steps + 1):
        elapsed = time.monotonic() - start
        sys.stderr.write("\rSampling: %3d%%|%s| %d/%d [%s<%s]" % (
            int(100 * n / steps), "\u2588" * int(10 * n / steps) + " " * (10 - int(10 * n / steps)),
            n, steps, sim._clock(elapsed), sim._clock(seconds - elapsed)))
        sys.stderr.flush()
        if n < steps:
            time.sleep(seconds / steps)
    sys.stderr.write("\n")


def generate(args, sample: dict, sched) -> None:
    """One sample; raises ValueError with upstream's reason on a failure of the sample."""
    name = sample["name"]
    folder = os.path.join(args.output_dir, name)
    os.makedirs(folder, exist_ok=True)
    resolved = resolve(sample, args)
    with open(os.path.join(folder, "sample_args.json"), "w") as f:
        json.dump(resolved, f)
    log("INFO", (INF_PY, 1547, "generate_batch"), "Saved sample args to '%s'"
        % os.path.join(folder, "sample_args.json"))
    fails = directives(sample.get("prompt"))
    hints = [h for h in HINTS if resolved.get(h) is not None]
    for hint in hints:
        block = resolved[hint]
        if block.get("control_path"):
            sim.require_file(block["control_path"])
            log("INFO", (TRANSFER_PY, 113, "load_transfer_control_frames"),
                "Loaded pre-computed %s control from %s" % (hint, block["control_path"]))
        elif hint not in ("edge", "blur"):
            raise FileNotFoundError("Missing pre-computed control input for '%s'. Provide a "
                                    "control_path in the transfer config." % hint)
        elif not resolved.get("vision_path"):
            raise ValueError("transfer inference requires 'vision_path' or a pre-computed "
                             "'control_path' (hint: %s)" % hint)
        else:
            log("INFO", (TRANSFER_PY, 135, "load_transfer_control_frames"),
                "Computing %s control input on the fly" % hint)
    for kind in ("oom", "crash"):
        if kind in fails:
            raise {"oom": sim.OutOfMemoryError, "crash": RuntimeError}[kind](
                "CUDA out of memory. Tried to allocate 3.52 GiB." if kind == "oom" else
                "CUDA error: an illegal memory access was encountered")
    if "hang" in fails:
        while True:
            time.sleep(3600)
    seed = int(resolved.get("seed") or 0)
    procs = render(resolved, folder, seed)
    step_bar(int(resolved["num_steps"]), sched.item * 0.8)
    tmp = procs[-1]
    if args.guardrails and not hints:  # upstream's transfer path runs no guardrail
        if "guardrail" in fails or any(w in (sample.get("prompt") or "").lower()
                                       for w in sim.BLOCKLIST):
            os.remove(tmp)
            raise ValueError("Guardrail blocked prompt '%s': '%s'" % (folder, sample["prompt"]))
        if "guardrail_video" in fails:
            os.remove(tmp)
            raise ValueError("Guardrail blocked video '%s': Video content safety filter "
                             "flagged the generated video (cosmos-sim)" % folder)
    vision = os.path.join(folder, "vision.mp4")
    os.replace(tmp, vision)
    outputs = {"args": resolved, "status": "success", "message": None, "stack_trace": None,
               "outputs": [{"content": {}, "files": [vision] + procs[:-1]}]}
    with open(os.path.join(folder, "sample_outputs.json"), "w") as f:
        json.dump(outputs, f)
    log("SUCCESS", (INF_PY, 1889 if hints else 1812, "generate_batch"), "Saved %s outputs to "
        "'%s'" % ("transfer" if hints else "sample", os.path.join(folder, "sample_outputs.json")))


def main(argv=None) -> int:
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, sim._on_signal)
    try:
        args = parse_args(sys.argv[1:] if argv is None else argv)
        check_setup(args)
        os.makedirs(args.output_dir, exist_ok=True)
        samples = load_samples(args.input_files)
        log("INFO", (SCRIPT_PY, 48, "inference"), "Loaded %d samples" % len(samples))
        sched = sim.Schedule()
        if args.guardrails:
            log("INFO", (COMMON_PY, 135, "create"), "Loading guardrail models%s"
                % (" (offloaded to CPU)" if args.offload_guardrail_models else ""))
        log("INFO", (COMMON_PY, 130, "create"), "Loading checkpoint %s" % args.checkpoint_path)
        sched.spend(sched.load)
        for sample in samples:
            try:
                generate(args, sample, sched)
            except (ValueError, FileNotFoundError, RuntimeError) as exc:
                if isinstance(exc, sim.OutOfMemoryError) or "illegal memory" in str(exc):
                    raise
                msg = "Error generating sample '%s': %s" % (sample["name"], exc)
                if not args.keep_going:
                    raise ValueError(msg) from exc
                log("ERROR", (COMMON_PY, 267, "_handle_sample_exception"), msg)
    except SystemExit:
        sim._cleanup()
        raise
    except BaseException as exc:  # noqa: BLE001 - reported like Python would
        sim._cleanup()
        sim.report_failure(exc)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
