"""The Transfer1 options artists asked for, to the letter of Cosmos-Transfer1's code.

- the distilled edge ControlNet (`--use_distilled`): one control only, edge unless a
  `ckpt_path` names another distilled checkpoint ("No default distilled checkpoint for <hint>.
  Users must specify ckpt_path in config.", inference_utils.validate_controlnet_specs); the
  distilled pipeline drops regional prompts (world_generation_pipeline.py);
- regional prompts (`regional_prompts`): each a prompt plus one of a normalised box
  [x1, y1, x2, y2], a mask video, or a SAM2 `mask_prompt` (preprocessors.py raises "Invalid
  video file" for any other string);
- spatiotemporal weights: a `.pt` weight map as a control's `control_weight` ("must be a
  valid non-negative float or a path to a .pt file"), and `control_weight_prompt`, which
  preprocessors.py acts on for seg only;
- a per-control `ckpt_path` (post-trained ControlNets; a path on the GPU box);
- `--batch_size`, which only groups the items of a batch JSONL (and is forced to 1 for
  upscale);
- offload flags per run (None: the host's).

`validate_options` refuses what Cosmos would reject or silently ignore; `apply_options` adds
the accepted ones to a spec built by spec.py.
"""

from __future__ import annotations

import copy
import posixpath
from collections.abc import Mapping
from typing import Any

from backend.models.checks import FieldError, number, one_of, show, text_value, whole
from backend.models.params import GenerationParams
from backend.models.transfer1.command import OFFLOAD_FLAGS
from backend.models.transfer1.params import CONTROLS

DISTILLED = "distilled"
#: Options a control block may carry, and the GenerationParams keys that hold them.
CONTROL_OPTIONS = ("ckpt_path", "weight_map", "weight_prompt")
#: The one control `control_weight_prompt` acts on (preprocessors.py, since PR #182).
WEIGHT_PROMPT_CONTROL = "seg"
BATCH_SIZE_MAX = 16
REGIONS_MAX = 8
_REGION_KEYS = ("box", "mask_video", "mask_prompt")


def _bad_path(value: Any) -> bool:
    return not isinstance(value, str) or not value.strip() or "\0" in value or "\n" in value


def _check_variant(p: GenerationParams) -> list[FieldError]:
    if not p.variant:
        return []
    if p.variant != DISTILLED:
        return [FieldError("variant", f"Unknown variant {p.variant!r}; Transfer1 has "
                           f"'{DISTILLED}' (the 1-step distilled edge model), or leave it empty "
                           "for the base model.")]
    errors = []
    active = p.active_controls(CONTROLS)
    if len(active) != 1:
        errors.append(FieldError("weights", "The distilled model takes exactly one control "
                                 f"(Cosmos asserts 'Distilled model only supports single control "
                                 f"input'); this request uses {len(active)}: set one weight above "
                                 "0, edge for the shipped distilled checkpoint."))
    elif active[0] != "edge" and not p.option(active[0], "ckpt_path"):
        errors.append(FieldError(f"control_options.{active[0]}.ckpt_path", "Cosmos has no "
                                 f"distilled checkpoint for {active[0]}; use the edge control, or "
                                 "give the path of your own distilled checkpoint."))
    if p.regional_prompts:
        errors.append(FieldError("regional_prompts", "The distilled model drops regional "
                                 "prompts (Cosmos logs 'Regional prompts not supported when using "
                                 "distilled model'); remove them or use the base model."))
    return errors


def _check_control_options(p: GenerationParams) -> list[FieldError]:
    errors: list[FieldError] = []
    options = p.control_options if isinstance(p.control_options, Mapping) else {}
    if not isinstance(p.control_options, Mapping):
        return [FieldError("control_options", "Per-control options must be a table of "
                           "control -> {ckpt_path, weight_map, weight_prompt}.")]
    active = set(p.active_controls(CONTROLS))
    for control, block in options.items():
        if not block:
            continue
        where = f"control_options.{control}"
        if control not in CONTROLS:
            errors.append(FieldError(where, f"Unknown control {control!r}; use one of "
                                     + ", ".join(CONTROLS) + "."))
            continue
        if not isinstance(block, Mapping):
            errors.append(FieldError(where, "Give the options as a table."))
            continue
        for name, value in block.items():
            field = f"{where}.{name}"
            if name not in CONTROL_OPTIONS:
                hint = (" (masks are Transfer2.5's; Transfer1 weights regions with weight_map "
                        "or weight_prompt)" if name in ("mask_path", "mask_prompt") else "")
                errors.append(FieldError(field, f"Transfer1 controls take no option {name!r}"
                                         f"{hint}; use " + ", ".join(CONTROL_OPTIONS) + "."))
                continue
            if value in (None, ""):
                continue
            if control not in active:
                errors.append(FieldError(field, f"{name} is set for {control} but its weight "
                                         "is 0, so Cosmos would not load that control; set a "
                                         "weight above 0 or clear it."))
                continue
            if name == "ckpt_path" and (_bad_path(value) or not value.strip().endswith(".pt")):
                errors.append(FieldError(field, f"ckpt_path is {value!r}; give the path of a "
                                         ".pt checkpoint on the GPU box (relative to the "
                                         "checkout's checkpoints folder, or absolute)."))
            elif name == "weight_map" and (_bad_path(value)
                                           or not value.strip().lower().endswith(".pt")):
                errors.append(FieldError(field, f"The weight map is {value!r}; Cosmos reads only "
                                         "a .pt tensor [T,H,W] or [H,W] here (made with "
                                         "spatial_temporal_weight.py)."))
            elif name == "weight_prompt":
                if control != WEIGHT_PROMPT_CONTROL:
                    errors.append(FieldError(field, "Cosmos acts on control_weight_prompt for "
                                             "seg only and silently ignores it on "
                                             f"{control}; move it to seg, or use a weight map "
                                             f"(.pt) for {control}."))
                elif not text_value(value):
                    errors.append(FieldError(field, "The weight prompt must be text naming "
                                             "what to keep, e.g. 'robotic arms . gloves'."))
                elif p.option(control, "weight_map"):
                    errors.append(FieldError(field, "seg has both a weight map and a weight "
                                             "prompt; Cosmos replaces the weight with the "
                                             "prompt's mask, so keep only one."))
    return errors


def _check_regions(p: GenerationParams) -> list[FieldError]:
    regions = p.regional_prompts
    if not regions:
        return []
    if not isinstance(regions, list) or len(regions) > REGIONS_MAX:
        return [FieldError("regional_prompts", f"Give at most {REGIONS_MAX} regional prompts, "
                           "each a prompt with a box, a mask video or a mask prompt.")]
    errors = []
    for i, region in enumerate(regions, 1):
        field = "regional_prompts"
        if not isinstance(region, Mapping) or not text_value(region.get("prompt")):
            errors.append(FieldError(field, f"Regional prompt {i} has no prompt; write what "
                                     "that region should show."))
            continue
        given = [k for k in _REGION_KEYS if region.get(k) not in (None, "", [])]
        unknown = [k for k in region if k not in ("prompt",) + _REGION_KEYS]
        if unknown:
            errors.append(FieldError(field, f"Regional prompt {i} has unknown key(s) "
                                     f"{', '.join(map(repr, unknown))}; use prompt with one of "
                                     "box, mask_video or mask_prompt."))
        elif len(given) != 1:
            errors.append(FieldError(field, f"Regional prompt {i} needs exactly one region: a "
                                     "box [x1, y1, x2, y2] (0 to 1), a mask video, or a mask "
                                     f"prompt; it has {len(given) or 'none'}."))
        elif given[0] == "box":
            box = region["box"]
            values = [number(v) for v in box] if isinstance(box, (list, tuple)) else []
            if len(values) != 4 or any(v is None or not 0 <= v <= 1 for v in values) \
                    or values[0] >= values[2] or values[1] >= values[3]:
                errors.append(FieldError(field, f"Regional prompt {i}: the box is {box!r}; give "
                                         "[x1, y1, x2, y2] with 0 <= x1 < x2 <= 1 and "
                                         "0 <= y1 < y2 <= 1 (fractions of width and height)."))
        elif given[0] == "mask_video" and (_bad_path(region["mask_video"]) or not str(
                region["mask_video"]).lower().endswith((".mp4", ".mov", ".avi", ".mkv",
                                                        ".webm"))):
            errors.append(FieldError(field, f"Regional prompt {i}: the mask is "
                                     f"{region['mask_video']!r}; Cosmos converts only a video "
                                     "(white = the region) and raises 'Invalid video file' "
                                     "otherwise."))
        elif given[0] == "mask_prompt" and not text_value(region["mask_prompt"]):
            errors.append(FieldError(field, f"Regional prompt {i}: the mask prompt must name "
                                     "the objects, e.g. 'woman on the right'."))
    if not p.input_video and any(isinstance(r, Mapping) and r.get("mask_prompt")
                                 for r in regions):
        errors.append(FieldError("regional_prompts", "A regional mask prompt segments the "
                                 "input video, and there is none; add an input video or use a "
                                 "box or a mask video."))
    return errors


def _check_batch_size(p: GenerationParams, run_type: str, batching: bool) -> list[FieldError]:
    size = whole(p.batch_size)
    if size is None or not 1 <= size <= BATCH_SIZE_MAX:
        return [FieldError("batch_size", f"batch_size is {show(p.batch_size)}; use a whole "
                           f"number from 1 to {BATCH_SIZE_MAX} (1 = one item on the GPU at a "
                           "time).")]
    if size > 1 and run_type != "inference":
        return [FieldError("batch_size", f"batch_size only groups the items of a generation "
                           f"batch; a {run_type} run has one item (Cosmos forces 1 for "
                           "upscale), so use 1.")]
    if size > 1 and not batching:
        return [FieldError("batch_size", "batch_size only means something when queued runs "
                           "share one batch job, and smart batching is off; turn on "
                           "[scheduler] batching = true, or use 1.")]
    return []


def _check_offload(p: GenerationParams) -> list[FieldError]:
    if p.offload is None:
        return []
    flags = p.offload if isinstance(p.offload, (list, tuple)) else [p.offload]
    bad = [f for f in flags if f not in OFFLOAD_FLAGS]
    if bad or not isinstance(p.offload, (list, tuple)):
        return [FieldError("offload", f"Unknown offload flag(s) {', '.join(map(repr, bad))}; "
                           "Transfer1 offloads " + one_of(OFFLOAD_FLAGS) + " (or none).")]
    return []


def _check_extra(p: GenerationParams) -> list[FieldError]:
    extra = p.extra if isinstance(p.extra, Mapping) else {}
    return [FieldError(f"extra.{key}", f"Transfer1 has no setting {key!r} (it is another "
                       "model's); clear it.") for key, value in extra.items()
            if value not in (None, "")]


def validate_options(p: GenerationParams, *, run_type: str, batching: bool) -> list[FieldError]:
    """Every refusal about the options above (the base rules are validate.py's)."""
    return (_check_variant(p) + _check_control_options(p) + _check_regions(p)
            + _check_batch_size(p, run_type, batching) + _check_offload(p) + _check_extra(p))


def staged_regions(p: GenerationParams) -> list[int]:
    """Indices of regional prompts whose mask video has to be uploaded."""
    return [i for i, r in enumerate(p.regional_prompts or [])
            if isinstance(r, Mapping) and r.get("mask_video")]


def with_region_mask(p: GenerationParams, mask_video: str, *, prompt: str) -> GenerationParams:
    """A review note's "re-generate here": the mask video becomes a regional prompt's region
    (`region_definitions_path`; Cosmos turns an mp4 into its spatiotemporal map), with the
    note's words as that region's own prompt, while the rest of the frame keeps the run's
    prompt. Transfer1 takes spatiotemporal control weights only as `.pt` tensors, so a regional
    prompt is how a mask video reaches it. Put first, replacing an earlier copy of the same
    mask; the run's other regional prompts stay."""
    draft = copy.deepcopy(p)
    kept = [r for r in (draft.regional_prompts or [])
            if not (isinstance(r, Mapping) and r.get("mask_video") == str(mask_video))]
    draft.regional_prompts = [{"prompt": (prompt or "").strip(), "mask_video": str(mask_video)},
                              *kept]
    return draft


def region_mask_of(p: GenerationParams) -> str | None:
    """The mask video of the first regional prompt that has one (where with_region_mask puts
    a note's mask)."""
    return next((str(r["mask_video"]) for r in (p.regional_prompts or [])
                 if isinstance(r, Mapping) and r.get("mask_video")), None)


def apply_options(spec: dict[str, Any], p: GenerationParams, paths: Mapping[str, str]
                  ) -> dict[str, Any]:
    """Add per-control options and regional prompts to a spec built by spec.build_spec.

    `paths` maps roles to container paths ("weight.<control>", "region.<i>"). Weight maps
    become the control's `control_weight` (a `.pt` path is how Cosmos takes a map).
    """
    for control in CONTROLS:
        hint = spec.get(control)
        if not isinstance(hint, dict):
            continue
        ckpt = text_value(p.option(control, "ckpt_path"))
        if ckpt:
            hint["ckpt_path"] = ckpt
        if p.option(control, "weight_map"):
            staged = paths.get(f"weight.{control}")
            if not staged:
                raise ValueError(f"the {control} weight map was not staged")
            hint["control_weight"] = staged
        prompt = text_value(p.option(control, "weight_prompt"))
        if prompt and control == WEIGHT_PROMPT_CONTROL:
            hint["control_weight_prompt"] = prompt
    regions = []
    for i, region in enumerate(p.regional_prompts or []):
        entry: dict[str, Any] = {"prompt": str(region["prompt"]).strip()}
        if region.get("box") not in (None, "", []):
            entry["region_definitions_path"] = [float(v) for v in region["box"]]
        elif region.get("mask_video"):
            staged = paths.get(f"region.{i}")
            if not staged:
                raise ValueError(f"the mask video of regional prompt {i + 1} was not staged")
            entry["region_definitions_path"] = staged
        else:
            entry["mask_prompt"] = str(region["mask_prompt"]).strip()
        regions.append(entry)
    if regions:
        spec["regional_prompts"] = regions
    return spec


def link_suffix(path: str) -> str:
    return posixpath.splitext(str(path))[1].lower()
