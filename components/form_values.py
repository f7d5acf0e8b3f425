"""The Create form's values <-> GenerationParams, error placement and the spec preview.

Pure functions (no Gradio), so the rules the form follows are unit tested on their own: which
field a validation message belongs under, what the spec JSON will look like, what the model
does with weights that sum above 1. Which fields exist for a model is its profile's answer
(backend/models/profile.py): values are read only from the fields of the chosen model, so a
value the form keeps for another model (hidden) never reaches this one's spec. Switching
models is in model_switch.py.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping, Sequence

from backend.models.params import ALL_CONTROLS, LEGACY_MODEL, GenerationParams
from backend.models.profile import (JobContext, JobItem, ModelProfile, UnknownModel,
                                    get_profile, profile_ids)


def _extra_fields() -> tuple[str, ...]:
    """Every profile's `extra.<key>` fields beyond the two the form always had, in the order
    the profiles declare them: each gets a component (shown for the models that have it)."""
    names: list[str] = []
    for model in profile_ids():
        for spec in get_profile(model).fields():
            if spec.name.startswith("extra.") and spec.name not in names and spec.name not in (
                    "extra.resolution", "extra.max_frames"):
                names.append(spec.name)
    return tuple(names)


#: Model settings only some profiles have (Cosmos 3's mode, checkpoint, ...).
EXTRA_FIELDS: tuple[str, ...] = _extra_fields()
#: The ones a profile shows beside the model picker (its `primary_fields`).
PRIMARY_FIELDS: tuple[str, ...] = tuple(n for n in EXTRA_FIELDS if any(
    n in get_profile(m).primary_fields for m in profile_ids()))

UPLOAD = "__upload__"  # the input dropdown's "(my upload)" value
CONTAINER_RUN_DIR = "/cosmos/runs/<run id>"
CONTROLS = ALL_CONTROLS
#: Form keys of profile fields whose key is not the field's name.
FORM_KEYS = {"blur_strength": "blur", "canny_threshold": "canny"}
#: Per-control option -> the form key prefix of its component.
OPTION_KEYS = {"mask_path": "mask", "mask_prompt": "mask_prompt", "ckpt_path": "ckpt",
               "weight_map": "weight_map"}
#: Every value the form holds, in the order its components are listed (inputs and fills).
FIELDS: tuple[str, ...] = (
    "name", "host", "prompt", "negative_prompt", "input_choice", "upload", "seg_prompt",
    "num_steps", "guidance", "sigma_max", "seed", "random_seed", "fps", "num_gpus", "blur",
    "canny", "upscale_weight", *(f"weight.{c}" for c in CONTROLS),
    *(f"control.{c}" for c in CONTROLS),
    "model", "variant", "offload", "batch_size", "regional_prompts", "extra.resolution",
    "extra.max_frames", "weight_prompt",
    *(f"{key}.{c}" for key in OPTION_KEYS.values() for c in CONTROLS),
    *EXTRA_FIELDS,
)
#: Where a message can appear: one slot under each field (FieldError.field names).
ERROR_SLOTS: tuple[str, ...] = (
    "name", "host", "prompt", "negative_prompt", "input_video",
    *(f"weights.{c}" for c in CONTROLS), *(f"control_videos.{c}" for c in CONTROLS),
    "weights", "seg_prompt", "num_steps", "guidance", "sigma_max", "seed", "fps",
    "blur_strength", "canny_threshold", "num_gpus", "upscale_weight", "preset",
    "model", "variant", "offload", "batch_size", "regional_prompts", "extra.resolution",
    "extra.max_frames", "control_options.seg.weight_prompt",
    *(f"control_options.{c}.{opt}" for opt in ("mask_path", "mask_prompt", "ckpt_path",
                                                 "weight_map") for c in CONTROLS),
    *EXTRA_FIELDS,
)
#: Slots inside an accordion that has to open for its message to be seen.
ADVANCED_SLOTS = {"num_steps", "guidance", "sigma_max", "seed", "fps", "blur_strength",
                  "canny_threshold", "num_gpus", "upscale_weight", "variant", "offload",
                  "batch_size", "regional_prompts", "extra.resolution", "extra.max_frames",
                  *(n for n in EXTRA_FIELDS if n not in PRIMARY_FIELDS)}
CONTROL_VIDEO_SLOTS = {f"control_videos.{c}" for c in CONTROLS} | {
    s for s in ERROR_SLOTS if s.startswith("control_options.")}
_VIDEO_SUFFIXES = (".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v")


def form_key(field_name: str) -> str:
    return FORM_KEYS.get(field_name, field_name)


def profile_of(values: Mapping[str, Any]) -> ModelProfile:
    """The profile the form's values are for (an unknown id: the legacy default's)."""
    try:
        return get_profile(values.get("model") or LEGACY_MODEL)
    except UnknownModel:
        return get_profile(LEGACY_MODEL)


def slot_for(field: str) -> str:
    """The error slot of a FieldError.field; unknown controls' messages go under the weights."""
    head, _, _ = field.partition(".")
    if field in ERROR_SLOTS:
        return field
    if head in ("weights", "control_videos", "control_options"):
        return "weights"
    if field == "run_type":
        return "model"
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


def weight_sum_note(weights: Mapping[str, float],
                    controls: Sequence[str] = CONTROLS) -> str:
    """Tell the artist what the model will actually do with the weights they set."""
    try:
        values = {c: float(weights.get(c) or 0) for c in controls}
    except (TypeError, ValueError):
        return "A weight is not a number: each is a number from 0 to 1."
    outside = [c for c in controls if not 0.0 <= values[c] <= 1.0]
    if outside:
        which = (f"The {outside[0]} weight is" if len(outside) == 1 else
                 f"The {', '.join(outside)} weights are")
        return (f"{which} outside 0 to 1 (see the message under the field): each weight is a "
                "number from 0 to 1. Nothing is queued until it is.")
    total = sum(values.values())
    active = [c for c in controls if values[c] > 0]
    if not active:
        return "All controls are off: turn at least one weight above 0."
    if total > 1 + 1e-9:
        scaled = ", ".join(f"{c} {values[c] / total:.2f}" for c in active)
        return (f"Weights sum to {total:.2f}. Cosmos rescales weights that sum above 1, so the "
                f"run will use: {scaled}.")
    return f"Weights sum to {total:.2f} (at most 1: used as set). Active: {', '.join(active)}."


def weight_messages(params: GenerationParams, controls: Sequence[str] = CONTROLS
                    ) -> dict[str, str]:
    """Per control, the model's own refusal of its weight as typed ("" when it is fine): shown
    under the field at once, before Run is even clicked (Run refuses the same words)."""
    try:
        errors = get_profile(params.model).validate(params, run_type="inference", infos={})
    except (UnknownModel, TypeError, ValueError, KeyError, AttributeError):
        errors = []
    by_field: dict[str, list[str]] = {}
    for error in errors:
        by_field.setdefault(error.field, []).append(error.message)
    return {c: " ".join(by_field.get(f"weights.{c}", [])) for c in controls}


def _number(value: Any, default: Any) -> Any:
    if value is None or value == "":
        return default
    return value


def _weight(value: Any) -> Any:
    """A slider's weight; anything that is not a number is passed on for validation to name."""
    if value is None or value == "":
        return 0.0
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return value


def _whole(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return value


def parse_regions(text: Any) -> list[dict[str, Any]]:
    """One regional prompt per line: `PROMPT @ x1,y1,x2,y2` (a box, 0..1), `PROMPT @ mask.mp4`
    (a mask video on this machine) or `PROMPT @ objects` (a SAM2 mask prompt). A line the
    model cannot read keeps only its prompt, so validation says what is missing."""
    regions = []
    for line in str(text or "").splitlines():
        if not line.strip():
            continue
        prompt, sep, where = line.rpartition("@")
        if not sep:
            regions.append({"prompt": line.strip()})
            continue
        prompt, where = prompt.strip(), where.strip()
        parts = [x.strip() for x in where.split(",")]
        try:
            box = [float(x) for x in parts] if len(parts) == 4 else None
        except ValueError:
            box = None
        if box is not None:
            regions.append({"prompt": prompt, "box": box})
        elif where.lower().endswith(_VIDEO_SUFFIXES):
            regions.append({"prompt": prompt, "mask_video": where})
        else:
            regions.append({"prompt": prompt, "mask_prompt": where})
    return regions


def regions_text(regions: Sequence[Mapping[str, Any]]) -> str:
    lines = []
    for r in regions or []:
        if r.get("box") not in (None, "", []):
            where = ",".join(f"{float(v):g}" for v in r["box"])
        else:
            where = r.get("mask_video") or r.get("mask_prompt") or ""
        lines.append(f"{r.get('prompt', '')} @ {where}" if where else str(r.get("prompt", "")))
    return "\n".join(lines)


def offload_default(profile: ModelProfile, host_offload: Sequence[str]) -> list[str]:
    """The host's offload flags this model has: what a run uses unless it says otherwise."""
    return [f for f in profile.offload_flags if f in set(host_offload or ())]


def params_from_values(values: Mapping[str, Any], *, seed: int | None = None,
                       host_offload: Sequence[str] = ()) -> GenerationParams:
    """Build the request from the form, reading only the chosen model's fields. Bad numbers
    are passed on as they are, so validation names them; only blanks fall back to defaults
    (an empty Steps box means 'default')."""
    profile = profile_of(values)
    fields = {f.name: f for f in profile.fields()}
    controls = profile.control_names
    p = GenerationParams(prompt=(values.get("prompt") or "").strip(),
                         negative_prompt=(values.get("negative_prompt") or "").strip(),
                         model=profile.id)
    p.input_video = chosen_input(values.get("input_choice"), values.get("upload"))
    p.weights = {c: _weight(values.get(f"weight.{c}")) for c in controls}
    p.control_videos = {c: values[f"control.{c}"] for c in controls
                        if values.get(f"control.{c}")}
    p.seg_prompt = (values.get("seg_prompt") or "").strip()
    for name, spec in fields.items():
        raw = values.get(form_key(name))
        if spec.optional and (raw is None or raw == ""):
            value = None
        elif spec.kind == "integer" or (spec.kind == "choice" and all(
                isinstance(c, int) for c in spec.choices)):
            value = _whole(_number(raw, spec.default))
        elif spec.kind == "regions":
            value = parse_regions(raw)
        else:
            value = _number(raw, spec.default)
        if name == "fps":
            value = None if not raw else _whole(raw)
        if name.startswith("extra."):
            if value is not None:
                p.extra[name.split(".", 1)[1]] = value
        else:
            setattr(p, name, value)
    if seed is not None:
        p.seed = seed
    for control in controls:
        spec = profile.control(control)
        block = {}
        for option in spec.options:
            key = "weight_prompt" if option == "weight_prompt" else f"{OPTION_KEYS[option]}.{control}"
            value = values.get(key)
            if isinstance(value, str):
                value = value.strip()
            if value:
                block[option] = value
        if block:
            p.control_options[control] = block
    if values.get("variant") and profile.variants:
        p.variant = profile.variants[0].name
    chosen = values.get("offload")
    if chosen is not None and sorted(chosen) != sorted(offload_default(profile, host_offload)):
        p.offload = [f for f in profile.offload_flags if f in chosen]
    return apply_shape(profile, p)


def apply_shape(profile: ModelProfile, p: GenerationParams) -> GenerationParams:
    """What the form hides for this request (its profile's `shape`, e.g. a mode without an
    input) is not sent: the artist does not see it, so it must not reach the spec."""
    shape = profile.shape(p)
    if shape.input is None:
        p.input_video = None
    if not shape.controls:
        p.weights, p.control_videos, p.control_options = {}, {}, {}
    for name in shape.hidden:
        spec = profile.field(name)
        if name.startswith("extra."):
            p.extra.pop(name.split(".", 1)[1], None)
        elif name == "fps":
            p.fps = None
        elif spec is not None:
            setattr(p, name, spec.default)
        elif isinstance(getattr(p, name, None), str):  # e.g. the seg text prompt
            setattr(p, name, "")
    return p


def values_from_params(params: GenerationParams, *, content: bool = True) -> dict[str, Any]:
    """Form values for these settings. `content=False` (presets) leaves the prompt, input and
    control videos alone: a preset is how to render, not what."""
    values: dict[str, Any] = {
        "model": params.model or LEGACY_MODEL,
        "negative_prompt": params.negative_prompt, "seg_prompt": params.seg_prompt,
        "num_steps": params.num_steps, "guidance": params.guidance,
        "sigma_max": params.sigma_max, "seed": params.seed, "random_seed": False,
        "fps": params.fps or 0, "num_gpus": params.num_gpus,
        "blur": params.blur_strength, "canny": params.canny_threshold,
        "upscale_weight": params.upscale_weight, "batch_size": params.batch_size,
        "variant": bool(params.variant), "offload": params.offload,
        "regional_prompts": regions_text(params.regional_prompts),
        "extra.resolution": (params.extra or {}).get("resolution"),
        "extra.max_frames": (params.extra or {}).get("max_frames"),
        "weight_prompt": params.option("seg", "weight_prompt") or "",
        **{name: (params.extra or {}).get(name.split(".", 1)[1]) for name in EXTRA_FIELDS},
    }
    for c in CONTROLS:
        weight = params.weights.get(c, 0) or 0
        values[f"weight.{c}"] = float(weight) if isinstance(weight, (int, float)) else weight
        for option, key in OPTION_KEYS.items():
            if option in ("mask_path", "weight_map") and not content:
                continue  # files, like the videos: content
            values[f"{key}.{c}"] = params.option(c, option) or (None if option in (
                "mask_path", "weight_map") else "")
    if content:
        values["prompt"] = params.prompt
        values["input_choice"] = params.input_video
        for c in CONTROLS:
            values[f"control.{c}"] = params.control_videos.get(c) or None
    return values


def spec_preview(params: GenerationParams, input_fps: float | None, *,
                 random_seed: bool = False) -> str:
    """The spec this run would send (the model's first spec file), with placeholder container
    paths, built by the model's own profile exactly as a launch builds it."""
    try:
        profile = get_profile(params.model)
    except UnknownModel:
        return json.dumps({"not a valid spec yet": f"unknown model {params.model!r}; use one "
                           "of " + ", ".join(profile_ids())}, indent=2)
    paths = {}
    for entry in profile.input_files(params, "inference"):
        paths[entry.role] = f"{CONTAINER_RUN_DIR}/inputs/{entry.link_name}"
    ctx = JobContext(run_type="inference", folder=CONTAINER_RUN_DIR, checkpoint_dir="checkpoints",
                     num_gpus=1, master_port=29500, offload=())
    try:
        fps = input_fps if not isinstance(params.fps, str) else 24
        command = profile.command(ctx, [JobItem("<run id>", params, paths, input_fps=fps)])
        text = command.files[command.spec_files[0]]
    except (ValueError, TypeError, KeyError) as exc:
        return json.dumps({"not a valid spec yet": str(exc)}, indent=2)
    if random_seed:
        try:
            text = text.replace(f'"seed": {int(params.seed)}', '"seed": "(random, drawn at '
                                'launch)"', 1)
        except (TypeError, ValueError):
            pass
    return text


__all__ = ["weight_messages", "ADVANCED_SLOTS", "CONTROL_VIDEO_SLOTS", "ERROR_SLOTS", "FIELDS", "UPLOAD",
           "chosen_input", "errors_by_slot", "params_from_values", "slot_for", "spec_preview",
           "values_from_params", "weight_sum_note", "Path"]
