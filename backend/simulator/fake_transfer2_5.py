#!/usr/bin/env python3
"""cosmos-sim stand-in for Cosmos-Transfer2.5's `examples/inference.py` (CPU, no model).

It takes the real entry point's arguments (`-i <spec.json|.jsonl>... -o <out>`, `--model`,
`--keep-going/--no-keep-going`, `--offload-guardrail-models`, ...), validates every sample the
way cosmos_transfer2/config.py does (pydantic's wording: "Extra inputs are not permitted",
"Input should be a valid integer, got a number with a fractional part", "No controls
provided", ...), prints the same log lines in the same order through the same console filter
(records of `cosmos_transfer2/_src` only with COSMOS_VERBOSE=1), draws the per-step
`Generating samples` bar, writes `<name>.mp4`, `<name>.json`, `<name>.txt`,
`<name>_control_<key>.mp4`, `<name>_mask_<key>.mp4`, config.yaml, console.log and debug.log,
and fails Transfer2.5's ways: `[sim:oom]`, `[sim:crash]`, `[sim:nccl]`, `[sim:hang]`,
`[sim:guardrail]` (prompt) and `[sim:guardrail_video]`, which with keep_going (the default)
skip the sample and exit 0.

STDLIB ONLY. It is copied into the stand-in checkout next to a copy of the Transfer1 fake
(`_sim_shared.py`), whose media, timing and failure helpers it reuses.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
try:  # in the stand-in checkout: the helpers beside this file (see checkout.py)
    import _sim_shared as sim  # type: ignore[import-not-found]
    import _sim_rules as rules  # type: ignore[import-not-found]
    import _sim_render as render  # type: ignore[import-not-found]
except ImportError:  # imported from the package (tests)
    from backend.simulator import fake_transfer as sim  # type: ignore[no-redef]
    from backend.simulator import fake_transfer2_5_rules as rules  # type: ignore[no-redef]
    from backend.simulator import fake_transfer2_5_render as render  # type: ignore[no-redef]

VERBOSE = os.environ.get("COSMOS_VERBOSE", "").lower() in ("1", "true", "yes", "y")
EXPERIMENTAL = os.environ.get("COSMOS_EXPERIMENTAL_CHECKPOINTS", "").lower() in ("1", "true",
                                                                                 "yes", "y")
INF_PY, PIPE_PY = "cosmos_transfer2/inference.py", \
    "cosmos_transfer2/_src/transfer2/inference/inference_pipeline.py"
GUARD_PY = "cosmos_transfer2/_src/imaginaire/auxiliary/guardrail/common/presets.py"
INIT_PY, CKPT_PY = "packages/cosmos-oss/cosmos_oss/init.py", \
    "cosmos_transfer2/_src/imaginaire/utils/checkpoint_db.py"
UTILS_PY = "cosmos_transfer2/_src/transfer2/inference/utils.py"
MODELS = ["edge", "depth", "seg", "vis"] + (["edge/distilled"] if EXPERIMENTAL else [])
_files: list = []


def log(level: str, where: tuple, message: str) -> None:
    """cosmos_oss/init.py's console: rank 0 only; `*._*` modules (all of _src) hidden unless
    COSMOS_VERBOSE (then DEBUG too); the same records go to console.log / debug.log."""
    if os.environ.get("RANK", "0") != "0":
        return
    stamp = time.strftime("%m-%d %H:%M:%S")
    line = "[%s|%s|%s:%d:%s] %s\n" % (stamp, level, where[0], where[1], where[2], message)
    shown = VERBOSE or ("/_src/" not in where[0] and level != "DEBUG")
    if shown:
        sys.stdout.write(line)
        sys.stdout.flush()
    for handle, wanted in _files:
        if wanted(level, where[0]):
            handle.write(line)
            handle.flush()


def open_logs(out: str) -> None:
    log("INFO", (INIT_PY, 98, "_init_log_files"), "Log saved to %s" % os.path.join(out,
                                                                                   "console.log"))
    console = open(os.path.join(out, "console.log"), "w")
    debug = open(os.path.join(out, "debug.log"), "w")
    _files.append((console, lambda lv, p: "/_src/" not in p and lv != "DEBUG"))
    _files.append((debug, lambda lv, p: True))


def step_bar(steps: int, seconds: float) -> None:
    """tqdm(desc='Generating samples') on stderr, one `\\r` update per denoising step."""
    start = time.monotonic()
    for n in range(steps + 1):
        elapsed = time.monotonic() - start
        rate = elapsed / n if n else 0.0
        left = rate * (steps - n)
        bar = "\u2588" * int(10 * n / steps) + " " * (10 - int(10 * n / steps))
        sys.stderr.write("\rGenerating samples: %3d%%|%s| %d/%d [%s<%s, %5.2fs/it]"
                         % (int(100 * n / steps), bar, n, steps, sim._clock(elapsed),
                            sim._clock(left), rate))
        sys.stderr.flush()
        if n < steps:
            time.sleep(seconds / steps)
    sys.stderr.write("\n")
    sys.stderr.flush()


def parse_args(argv):
    p = argparse.ArgumentParser(prog="inference.py", add_help=True, allow_abbrev=False)
    p.add_argument("-i", "--input-files", "--input_files", nargs="+", required=True)
    p.add_argument("-o", "--output-dir", "--output_dir", required=True)
    p.add_argument("--model", default="edge")
    p.add_argument("--checkpoint-path", "--checkpoint_path")
    p.add_argument("--experiment")
    p.add_argument("--context-parallel-size", "--context_parallel_size", type=int)
    for flag in ("disable-guardrails", "offload-guardrail-models", "profile", "benchmark",
                 "enable-parallel-tokenizer"):
        p.add_argument("--" + flag, "--" + flag.replace("-", "_"), action="store_true")
    p.add_argument("--keep-going", "--keep_going", dest="keep_going", action="store_true",
                   default=True)
    p.add_argument("--no-keep-going", "--no_keep_going", dest="keep_going",
                   action="store_false")
    args, unknown = p.parse_known_args(argv)
    if unknown:
        sys.stderr.write("\u256d\u2500 Unrecognized options \u2500\u256e\n\u2502 Unrecognized "
                         "options: %s\n\u2570\u2500\u256f\n" % " ".join(unknown))
        raise SystemExit(2)
    if args.model not in MODELS:
        sys.stderr.write("\u256d\u2500 Invalid choice \u2500\u256e\n\u2502 Invalid choice: "
                         "'%s' for --model. Expected one of %s.\n\u2570\u2500\u256f\n"
                         % (args.model, ", ".join("'%s'" % m for m in MODELS)))
        raise SystemExit(2)
    return args


def generate_sample(args, sample: dict, index: int, total: int, hints: list,
                    sched) -> None:
    name, out = sample["name"], args.output_dir
    base = os.path.join(out, name)
    distilled = args.model.endswith("/distilled")
    fails = rules.directives(sample["prompt"])
    log("INFO", (INF_PY, 228, "generate"), "[%d/%d] Processing sample %s" % (index, total, name))
    log("DEBUG", (INF_PY, 246, "_generate_sample"), "InferenceArguments(%r)" % sample)
    with open(base + ".json", "w") as f:
        json.dump(rules.resolved(sample), f)
    log("INFO", (INF_PY, 271, "_generate_sample"), "Saved arguments to %s.json" % base)
    if not args.disable_guardrails:
        log("INFO", (INF_PY, 277, "_generate_sample"), "Running guardrail check on prompt...")
        checks = [("Prompt", sample["prompt"])]
        if not distilled:
            checks.append(("Negative prompt", sample["negative_prompt"]))
        for what, text in checks:
            reason = rules.text_guardrail(text, "guardrail" in fails and what == "Prompt")
            if reason:
                log("CRITICAL", (GUARD_PY, 45, "run_text_guardrail"), "GUARDRAIL BLOCKED: " + reason)
                message = "Guardrail blocked generation. %s: %s" % (what, text)
                log("CRITICAL", (INF_PY, 281, "_generate_sample"), message)
                if args.keep_going:
                    return
                raise Exception(message)
            log("SUCCESS", (INF_PY, 287, "_generate_sample"),
                "Passed guardrail on %s" % what.lower())
    else:
        log("WARNING", (INF_PY, 304, "_generate_sample"), "Guardrail checks on prompt are disabled")
    paths = rules.control_modalities(sample)
    log("INFO", (INF_PY, 307, "_generate_sample"), "Processing the following paths: %s" % paths)
    log("INFO", (PIPE_PY, 472, "generate_img2world"), "Loading input video...")
    media = sim.probe(sample["video_path"])
    frames = min(media["frames"], sample.get("max_frames") or media["frames"])
    fps = int(media["fps"])  # read_video_or_image_into_frames_BCTHW: int(meta_data["fps"])
    log("INFO", (PIPE_PY, 492, "generate_img2world"), "Computing prompt text embeddings...")
    if not distilled:
        log("INFO", (PIPE_PY, 501, "generate_img2world"),
            "Computing negative prompt text embeddings...")
    log("INFO", (PIPE_PY, 513, "generate_img2world"), "Processing image context if available...")
    log("INFO", (PIPE_PY, 525, "generate_img2world"), "Loading control inputs...")
    for key in hints:
        block = sample.get(key) or {}
        if block.get("control_path"):
            sim.require_file(block["control_path"])
        if block.get("mask_prompt") and not block.get("mask_path"):
            log("INFO", (UTILS_PY, 599, "generate_control_weight_mask_from_prompt"),
                "Generating mask from prompt: '%s' for %s" % (block["mask_prompt"], key))
        if key == "seg" and not block.get("control_path"):
            if block.get("control_prompt") is None:
                log("WARNING", ("cosmos_transfer2/config.py", 535, "seg_control_prompt"),
                    'No "control_prompt" provided for on-the-fly segmentation, using the first '
                    '128 words of the input prompt')
            log("INFO", (UTILS_PY, 707, "read_and_process_control_input"),
                "Computing seg masks on the fly with prompt seg_control_prompt=%r."
                % " ".join((block.get("control_prompt") or sample["prompt"]).split()[:128]))
    renders = render.start_renders(sample, hints, media, frames, fps, base)
    chunks = rules.chunks(frames, sample.get("num_video_frames_per_chunk", 93),
                          sample.get("num_conditional_frames", 1))
    per_chunk = sched.item * 0.8 / chunks
    for chunk in range(chunks):
        log("INFO", (PIPE_PY, 554, "generate_img2world"), "Generating chunk %d/%d"
            % (chunk + 1, chunks))
        log("INFO", (PIPE_PY, 640, "generate_img2world"), "Seed: %d" % sample.get("seed", 2025))
        render.fail_in_chunk(fails, int(os.environ.get("WORLD_SIZE", "1")))
        step_bar(sample.get("num_steps", 35), per_chunk)
    log("INFO", (PIPE_PY, 736, "generate_img2world"), "Average time per chunk: %s" % per_chunk)
    render.finish_renders(renders)
    for key in hints:
        log("INFO", (INF_PY, 369, "_generate_sample"), "%s control video saved to %s_control_%s.mp4"
            % (key, base, key))
    for key in render.masked(sample, hints):
        log("INFO", (INF_PY, 374, "_generate_sample"), "Mask for %s saved to %s_mask_%s.mp4"
            % (key, base, key))
    if not args.disable_guardrails:
        log("INFO", (INF_PY, 377, "_generate_sample"), "Running guardrail check on video...")
        sched.spend(sched.item * 0.05)
        if "guardrail_video" in fails:
            log("CRITICAL", (GUARD_PY, 61, "run_video_guardrail"), "GUARDRAIL BLOCKED: Video "
                "content safety filter flagged the generated video (cosmos-sim)")
            render.discard(renders)
            if args.keep_going:
                return
            raise Exception("Guardrail blocked video2world generation.")
        log("SUCCESS", (INF_PY, 390, "_generate_sample"), "Passed guardrail on generated video")
    render.publish(renders)
    with open(base + ".txt", "w") as f:
        f.write(sample["prompt"])
    log("SUCCESS", (INF_PY, 405, "_generate_sample"), "Generated video saved to %s.mp4" % base)


def main(argv=None) -> int:
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, sim._on_signal)
    try:
        args = parse_args(sys.argv[1:] if argv is None else argv)
        samples, hints = rules.load_samples(args.input_files)
        os.makedirs(args.output_dir, exist_ok=True)
        open_logs(args.output_dir)
        sched = sim.Schedule()
        rules.check_setup(args, hints, sim)
        log("INFO", (INF_PY, 180, "__init__"), "Found %d hint keys across all samples" % len(hints))
        if len(hints) > 1:
            log("WARNING", (INF_PY, 183, "__init__"), "Loading the multicontrol model. "
                "Multicontrol inference is not strictly equal to single control")
        render.load_models(args, hints, sched, log)
        with open(os.path.join(args.output_dir, "config.yaml"), "w") as f:
            f.write("# cosmos-sim: not a real LazyConfig\nhint_keys: %s\n" % hints)
        log("INFO", (INF_PY, 193, "__init__"), "Saved config to %s"
            % os.path.join(args.output_dir, "config.yaml"))
        log("INFO", (INF_PY, 198, "generate"), "Generating %d samples: %s"
            % (len(samples), [s["name"] for s in samples]))
        for index, sample in enumerate(samples, 1):
            generate_sample(args, sample, index, len(samples), hints, sched)
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
