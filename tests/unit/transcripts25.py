"""Realistic Transfer2.5 console logs, as cosmos_transfer2/inference.py and cosmos_oss/init.py
print them (loguru `[MM-DD HH:mm:ss|LEVEL|path:line:function] message`; tqdm's per-step bar
on stderr with `\\r` updates, interleaved in one log file). `verbose` adds what only
COSMOS_VERBOSE=1 shows (records of cosmos_transfer2/_src: chunks, seeds, GUARDRAIL BLOCKED)."""

from __future__ import annotations

OUT = "/cosmos/runs/J/outputs"
INF = "cosmos_transfer2/inference.py"
PIPE = "cosmos_transfer2/_src/transfer2/inference/inference_pipeline.py"
GUARD = "cosmos_transfer2/_src/imaginaire/auxiliary/guardrail/common/presets.py"


class Clock:
    def __init__(self, start: int = 0) -> None:
        self.t = start

    def stamp(self, step: int = 1) -> str:
        self.t += step
        minutes, seconds = divmod(self.t, 60)
        return f"05-02 10:{minutes:02d}:{seconds:02d}"


def rec(clock: Clock, level: str, path: str, message: str, step: int = 1) -> str:
    return f"[{clock.stamp(step)}|{level}|{path}:100:fn] {message}"


def bar(n: int, total: int, left: str = "00:05") -> str:
    filled = int(10 * n / total)
    return (f"Generating samples: {int(100 * n / total):3d}%|{'#' * filled}{' ' * (10 - filled)}|"
            f" {n}/{total} [00:01<{left},  1.50s/it]")


def preamble(clock: Clock, names: list[str], hints: int = 1) -> list[str]:
    lines = ["[cosmos-orchestrator] run J started 2026-05-02T10:00:00+0000 on box",
             rec(clock, "INFO", "packages/cosmos-oss/cosmos_oss/init.py",
                 f"Log saved to {OUT}/console.log"),
             rec(clock, "INFO", "cosmos_transfer2/_src/imaginaire/utils/checkpoint_db.py",
                 "Downloading checkpoint nvidia/Cosmos-Transfer2.5-2B/general/edge", 5),
             rec(clock, "INFO", INF, f"Found {hints} hint keys across all samples", 30)]
    if hints > 1:
        lines.append(rec(clock, "WARNING", INF, "Loading the multicontrol model. Multicontrol "
                         "inference is not strictly equal to single control"))
    lines += [rec(clock, "INFO", INF, f"Saved config to {OUT}/config.yaml"),
              rec(clock, "INFO", INF, f"Generating {len(names)} samples: {names}")]
    return lines


def sample(clock: Clock, name: str, index: int, total: int, *, chunks: int = 2, steps: int = 4,
           verbose: bool = True, block: str | None = None, success: bool = True,
           prompt: str = "a robot pours coffee") -> list[str]:
    """One sample's lines; `block`: None, "prompt", "negative", "video"."""
    lines = [rec(clock, "INFO", INF, f"[{index}/{total}] Processing sample {name}"),
             rec(clock, "INFO", INF, f"Saved arguments to {OUT}/{name}.json"),
             rec(clock, "INFO", INF, "Running guardrail check on prompt...")]
    if block in ("prompt", "negative"):
        if verbose:
            lines.append(rec(clock, "CRITICAL", GUARD, "GUARDRAIL BLOCKED: Qwen3Guard: Unsafe "
                             "(Violent)"))
        what = "Prompt" if block == "prompt" else "Negative prompt"
        lines.append(rec(clock, "CRITICAL", INF, f"Guardrail blocked generation. {what}: "
                         f"{prompt}"))
        return lines
    lines += [rec(clock, "SUCCESS", INF, "Passed guardrail on prompt"),
              rec(clock, "SUCCESS", INF, "Passed guardrail on negative prompt"),
              rec(clock, "INFO", INF, "Processing the following paths: {'edge': None}")]
    if verbose:
        lines += [rec(clock, "INFO", PIPE, "Loading input video..."),
                  rec(clock, "INFO", PIPE, "Computing prompt text embeddings..."),
                  rec(clock, "INFO", PIPE, "Loading control inputs...")]
    for chunk in range(1, chunks + 1):
        if verbose:
            lines += [rec(clock, "INFO", PIPE, f"Generating chunk {chunk}/{chunks}"),
                      rec(clock, "INFO", PIPE, "Seed: 2025")]
        # tqdm's \r updates: the follower stores each as a line (follow.complete_lines)
        lines += [bar(n, steps) for n in range(steps + 1)]
        clock.t += 10
    if verbose:
        lines.append(rec(clock, "INFO", PIPE, "Average time per chunk: 10.0"))
    lines += [rec(clock, "INFO", INF, f"edge control video saved to {OUT}/{name}_control_edge.mp4"),
              rec(clock, "INFO", INF, "Running guardrail check on video...")]
    if block == "video":
        if verbose:
            lines.append(rec(clock, "CRITICAL", GUARD, "GUARDRAIL BLOCKED: Video content safety "
                             "filter flagged the video"))
        return lines
    lines.append(rec(clock, "SUCCESS", INF, "Passed guardrail on generated video"))
    if success:
        lines.append(rec(clock, "SUCCESS", INF, f"Generated video saved to {OUT}/{name}.mp4"))
    return lines


def single(**kw) -> list[str]:
    clock = Clock()
    return preamble(clock, ["R1"]) + sample(clock, "R1", 1, 1, **kw)


def batch(blocks: list[str | None], verbose: bool = True) -> list[str]:
    clock = Clock()
    names = [f"R{i + 1}" for i in range(len(blocks))]
    lines = preamble(clock, names)
    for i, (name, block) in enumerate(zip(names, blocks), 1):
        lines += sample(clock, name, i, len(names), block=block, verbose=verbose)
    return lines


OOM_TAIL = [
    "Traceback (most recent call last):",
    '  File "/workspace/examples/inference.py", line 92, in <module>',
    "    main(args)",
    "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 3.52 GiB. GPU 0 has a "
    "total capacity of 23.55 GiB of which 1.2 GiB is free.",
]
PYDANTIC = [
    "Error validating parameters from '/cosmos/runs/J/spec.json' at line 0",
    "1 validation error for InferenceArguments",
    "guidance",
    "  Input should be a valid integer, got a number with a fractional part [type=int_from_float, "
    "input_value=3.5, input_type=float]",
]
