"""GenerationParams -> the controlnet spec JSON that transfer.py reads (`--controlnet_specs`).

Why every generation value lives here and not on the command line: Cosmos merges the spec's
top-level keys into its arguments unless the literal `--key` token is on the command line, so a
value in both places is decided by an easy-to-break rule. We keep one home per value: the spec
holds what the artist chose (prompt, weights, sampling), the command line holds infrastructure
(paths, GPUs, offloading). The prompt therefore never reaches a shell.

Paths passed in are container paths; mapping host paths is the caller's job (it stages files).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from backend.models.transfer1.params import ALL_HINTS, GenerationParams

#: Top-level keys in the order they are written (readable diffs in the UI and the store).
TOP_LEVEL_ORDER: tuple[str, ...] = (
    "prompt", "negative_prompt", "input_video_path", "sigma_max", "guidance", "num_steps",
    "seed", "fps", "blur_strength", "canny_threshold",
)
#: Keys inside a hint dict, in the order they are written.
HINT_KEY_ORDER: tuple[str, ...] = (
    "control_weight", "input_control", "input_control_prompt", "control_weight_prompt",
    "ckpt_path",
)
#: The upscaler docs run 10 steps; 35 would take ~3.5x longer for no documented gain.
UPSCALE_NUM_STEPS = 10
#: Cosmos stamps this fps when none is given; we fall back to it only without any better source.
COSMOS_DEFAULT_FPS = 24


def resolve_fps(p: GenerationParams, input_fps: float | None) -> int:
    """The fps to stamp: the artist's choice, else the input's own rate, else Cosmos' 24.

    Why: Cosmos does not resample frames, it only stamps `fps` on the output, so stamping
    anything but the input's rate changes the clip's duration.
    """
    if p.fps is not None:
        return int(p.fps)
    if input_fps is not None and input_fps > 0:
        return min(120, max(1, round(input_fps)))
    return COSMOS_DEFAULT_FPS


def _require_negative_prompt(text: str) -> None:
    if not isinstance(text, str) or not text.strip():
        raise ValueError("negative prompt is empty: Cosmos crashes on an empty negative prompt")


def build_spec(p: GenerationParams, *, input_video_path: str | None,
               control_paths: Mapping[str, str], fps: int) -> dict[str, Any]:
    """The spec dict for one inference run (validate `p` first: this only shapes it).

    Controls with weight 0 are left out (an unused branch would still be loaded onto the GPU).
    A control gets `input_control` only when the caller staged a control video for it; without
    one Cosmos derives the control from the input video. `input_control_prompt` goes on seg
    only, and only when the artist wrote one (otherwise Cosmos uses the main prompt).

    Raises ValueError when a file the artist chose was not staged, so nothing is dropped
    silently on the way to the GPU.
    """
    _require_negative_prompt(p.negative_prompt)
    if p.input_video and not input_video_path:
        raise ValueError("the input video was not staged: pass its container path")
    active = p.active_controls()
    unstaged = [c for c in active if p.control_videos.get(c) and not control_paths.get(c)]
    if unstaged:
        raise ValueError(f"control video(s) for {', '.join(unstaged)} were not staged: pass "
                         "their container paths in control_paths")
    spec: dict[str, Any] = {"prompt": p.prompt, "negative_prompt": p.negative_prompt}
    if input_video_path:
        spec["input_video_path"] = input_video_path
    spec.update(
        sigma_max=float(p.sigma_max),
        guidance=float(p.guidance),
        num_steps=int(p.num_steps),
        seed=int(p.seed),
        fps=int(fps),
        blur_strength=p.blur_strength,
        canny_threshold=p.canny_threshold,
    )
    for control in active:
        hint: dict[str, Any] = {"control_weight": float(p.weights[control])}
        if control_paths.get(control):
            hint["input_control"] = control_paths[control]
        if control == "seg" and p.seg_prompt and p.seg_prompt.strip():
            hint["input_control_prompt"] = p.seg_prompt.strip()
        spec[control] = hint
    return spec


def build_upscale_spec(input_video_path: str, weight: float = 0.5, *, negative_prompt: str,
                       prompt: str | None = None, fps: int | None = None,
                       seed: int | None = None, guidance: float | None = None
                       ) -> dict[str, Any]:
    """The spec of a 4K upscale: only the `upscale` hint, run on `input_video_path`.

    The negative prompt is required and never empty (Cosmos crashes on an empty one). Pass the
    parent run's prompt, fps, seed and guidance: without a prompt Cosmos uses its generic
    "photorealistic 4K" default, without fps it stamps 24 on the upscaled clip whatever the
    parent's rate, and without seed and guidance it falls back to 1 and 5. transfer.py hands
    seed and guidance to the upscaling pipeline like to any other (the pipeline is built with
    `guidance=cfg.guidance, seed=cfg.seed`); sigma_max is left at its default, since the
    upscaler works on the parent's output, not its input.
    """
    _require_negative_prompt(negative_prompt)
    if not input_video_path:
        raise ValueError("the upscaler needs an input video (it reads the frames to upscale)")
    number = float(weight)
    if not 0.0 < number <= 1.0:
        raise ValueError(f"upscale weight {weight!r} must be above 0 and up to 1")
    spec: dict[str, Any] = {}
    if prompt is not None and prompt.strip():
        spec["prompt"] = prompt
    spec["negative_prompt"] = negative_prompt
    spec["input_video_path"] = input_video_path
    if guidance is not None:
        spec["guidance"] = float(guidance)
    spec["num_steps"] = UPSCALE_NUM_STEPS
    if seed is not None:
        spec["seed"] = int(seed)
    if fps is not None:
        spec["fps"] = int(fps)
    spec["upscale"] = {"control_weight": number}
    return spec


def _ordered(mapping: Mapping[str, Any], order: tuple[str, ...]) -> dict[str, Any]:
    keys = [k for k in order if k in mapping] + sorted(k for k in mapping if k not in order)
    return {k: mapping[k] for k in keys}


def canonical_spec(spec: Mapping[str, Any]) -> dict[str, Any]:
    """The same spec with a fixed key order: scalars first, then hints in ALL_HINTS order."""
    scalars = {k: v for k, v in spec.items() if k not in ALL_HINTS}
    out = _ordered(scalars, TOP_LEVEL_ORDER)
    for hint in ALL_HINTS:
        if hint in spec:
            value = spec[hint]
            out[hint] = _ordered(value, HINT_KEY_ORDER) if isinstance(value, Mapping) else value
    return out


def spec_json(spec: Mapping[str, Any]) -> str:
    """The text written to spec.json: stable key order, UTF-8 kept readable, indent 2.

    Stable order (independent of how the dict was built or loaded) makes the stored spec, the
    live preview and the compare view diff cleanly.
    """
    return json.dumps(canonical_spec(spec), ensure_ascii=False, indent=2) + "\n"


def spec_controls(spec: Mapping[str, Any]) -> list[str]:
    """The hint names a spec activates, in ALL_HINTS order."""
    return [h for h in ALL_HINTS if isinstance(spec.get(h), Mapping)]


__all__ = [
    "TOP_LEVEL_ORDER", "UPSCALE_NUM_STEPS", "build_spec", "build_upscale_spec",
    "canonical_spec", "resolve_fps", "spec_controls", "spec_json",
]
