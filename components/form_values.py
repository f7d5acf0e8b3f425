"""The Create form's values <-> GenerationParams, error placement and the spec preview.

Pure functions (no Gradio), so the rules the form follows are unit tested on their own: which
field a validation message belongs under, what the spec JSON will look like, what Cosmos does
with weights that sum above 1.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

from backend.models.transfer1.params import CONTROLS, GenerationParams
from backend.models.transfer1.spec import build_spec, resolve_fps, spec_json

UPLOAD = "__upload__"  # the input dropdown's "(my upload)" value
CONTAINER_RUN_DIR = "/cosmos/runs/<run id>"

#: Every value the form holds, in the order its components are listed (inputs and fills).
FIELDS: tuple[str, ...] = (
    "name", "host", "prompt", "negative_prompt", "input_choice", "upload", "seg_prompt",
    "num_steps", "guidance", "sigma_max", "seed", "random_seed", "fps", "num_gpus", "blur",
    "canny", "upscale_weight", *(f"weight.{c}" for c in CONTROLS),
    *(f"control.{c}" for c in CONTROLS),
)
#: Where a message can appear: one slot under each field (FieldError.field names).
ERROR_SLOTS: tuple[str, ...] = (
    "name", "host", "prompt", "negative_prompt", "input_video",
    *(f"weights.{c}" for c in CONTROLS), *(f"control_videos.{c}" for c in CONTROLS),
    "weights", "seg_prompt", "num_steps", "guidance", "sigma_max", "seed", "fps", "blur_strength", "canny_threshold", "num_gpus",
    "upscale_weight", "preset",
)
#: Slots inside an accordion that has to open for its message to be seen.
ADVANCED_SLOTS = {"num_steps", "guidance", "sigma_max", "seed", "fps", "blur_strength",
                  "canny_threshold", "num_gpus", "upscale_weight"}
CONTROL_VIDEO_SLOTS = {f"control_videos.{c}" for c in CONTROLS}


def slot_for(field: str) -> str:
    """The error slot of a FieldError.field; unknown controls' messages go under the weights."""
    head, _, tail = field.partition(".")
    if field in ERROR_SLOTS:
        return field
    if head in ("weights", "control_videos"):
        return "weights"
    return "general"


def errors_by_slot(errors: list[Any]) -> dict[str, list[str]]:
    """FieldErrors grouped by the slot they appear in; unknown fields go to 'general'."""
    slots: dict[str, list[str]] = {}
    for error in errors:
        slots.setdefault(slot_for(error.field), []).append(error.message)
    return slots


def chosen_input(choice: str | None, upload: str | None) -> str | None:
    """The input video the form means: the upload when '(my upload)' is chosen, else the pick."""
    if choice == UPLOAD:
        return upload or None
    return choice or None


def weight_sum_note(weights: Mapping[str, float]) -> str:
    """Tell the artist what Cosmos will actually do with the weights they set."""
    values = {c: float(weights.get(c) or 0) for c in CONTROLS}
    total = sum(values.values())
    active = [c for c in CONTROLS if values[c] > 0]
    if not active:
        return "All controls are off: turn at least one weight above 0."
    if total > 1 + 1e-9:
        scaled = ", ".join(f"{c} {values[c] / total:.2f}" for c in active)
        return (f"Weights sum to {total:.2f}. Cosmos rescales weights that sum above 1, so the "
                f"run will use: {scaled}.")
    return f"Weights sum to {total:.2f} (at most 1: used as set). Active: {', '.join(active)}."


def _number(value: Any, default: Any) -> Any:
    if value is None or value == "":
        return default
    return value


def params_from_values(values: Mapping[str, Any], *, seed: int | None = None) -> GenerationParams:
    """Build the request from the form. Bad numbers are passed on as they are, so validation
    names them; only blanks fall back to defaults (an empty Steps box means 'default')."""
    fps = values.get("fps")
    steps = _number(values.get("num_steps"), 35)
    return GenerationParams(
        prompt=(values.get("prompt") or "").strip(),
        negative_prompt=(values.get("negative_prompt") or "").strip(),
        input_video=chosen_input(values.get("input_choice"), values.get("upload")),
        weights={c: float(values.get(f"weight.{c}") or 0) for c in CONTROLS},
        control_videos={c: values[f"control.{c}"] for c in CONTROLS
                        if values.get(f"control.{c}")},
        seg_prompt=(values.get("seg_prompt") or "").strip(),
        sigma_max=_number(values.get("sigma_max"), 70.0),
        guidance=_number(values.get("guidance"), 5.0),
        num_steps=int(steps) if isinstance(steps, float) and steps.is_integer() else steps,
        seed=seed if seed is not None else _whole(_number(values.get("seed"), 1)),
        fps=None if not fps else _whole(fps),
        blur_strength=values.get("blur") or "medium",
        canny_threshold=values.get("canny") or "medium",
        num_gpus=_whole(_number(values.get("num_gpus"), 1)),
        upscale_weight=_number(values.get("upscale_weight"), 0.5),
    )


def _whole(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return value


def values_from_params(params: GenerationParams, *, content: bool = True) -> dict[str, Any]:
    """Form values for these settings. `content=False` (presets) leaves the prompt, input and
    control videos alone: a preset is how to render, not what."""
    values: dict[str, Any] = {
        "negative_prompt": params.negative_prompt,
        "seg_prompt": params.seg_prompt,
        "num_steps": params.num_steps, "guidance": params.guidance,
        "sigma_max": params.sigma_max, "seed": params.seed, "random_seed": False,
        "fps": params.fps or 0, "num_gpus": params.num_gpus,
        "blur": params.blur_strength, "canny": params.canny_threshold,
        "upscale_weight": params.upscale_weight,
    }
    for c in CONTROLS:
        values[f"weight.{c}"] = float(params.weights.get(c, 0) or 0)
    if content:
        values["prompt"] = params.prompt
        values["input_choice"] = params.input_video
        for c in CONTROLS:
            values[f"control.{c}"] = params.control_videos.get(c) or None
    return values


def spec_preview(params: GenerationParams, input_fps: float | None, *,
                 random_seed: bool = False) -> str:
    """The spec JSON this run would send, with placeholder container paths."""
    control_paths = {c: f"{CONTAINER_RUN_DIR}/inputs/{c}{Path(v).suffix or '.mp4'}"
                     for c, v in params.control_videos.items() if v}
    input_path = (f"{CONTAINER_RUN_DIR}/inputs/input{Path(params.input_video).suffix or '.mp4'}"
                  if params.input_video else None)
    try:
        fps = resolve_fps(params, input_fps) if not isinstance(params.fps, str) else 24
        regions = [f"{CONTAINER_RUN_DIR}/inputs/region{i}.mp4"
                   for i, _ in enumerate(params.regional_prompts)]
        spec = build_spec(params, input_video_path=input_path, control_paths=control_paths,
                          fps=fps, region_paths=regions)
        text = spec_json(spec)
    except (ValueError, TypeError) as exc:
        return json.dumps({"not a valid spec yet": str(exc)}, indent=2)
    if random_seed:
        text = text.replace(f'"seed": {int(params.seed)}', '"seed": "(random, drawn at launch)"', 1)
    return text
