"""Refuse a generation before it reaches a GPU box, with a message a person can act on.

Why here and not on the box: Cosmos finds most of these mistakes only after minutes of model
loading (or never, and silently ignores the setting). Every rule below mirrors either a check in
Cosmos-Transfer1 (see /work/shared/cosmos-transfer1.md) or a mistake artists make in the form.
Each message says what is wrong AND what is allowed, and is tied to the form field to fix
(`GenerationParams` attribute names; `weights.<control>` / `control_videos.<control>` for the
per-control fields).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from backend.models.checks import (FieldError, InvalidParams, VideoInfoLike,  # noqa: F401
                                   number, plural, show, whole)
from backend.models.transfer1.params import ALL_HINTS, CONTROLS, GPU_COUNTS, PRESETS, GenerationParams

SIGMA_MAX_MAX = 80.0
STEPS_MIN, STEPS_MAX = 1, 200
GUIDANCE_MIN, GUIDANCE_MAX = 0.0, 20.0
SEED_LIMIT = 2**32
FPS_MIN, FPS_MAX = 1, 120
#: Two videos "share an aspect ratio" when their ratios differ by at most this fraction.
ASPECT_TOLERANCE = 0.02
#: GroundingDINO only reads this many words of the segmentation prompt.
SEG_PROMPT_MAX_WORDS = 128

_CONTROL_LIST = ", ".join(CONTROLS)
_PRESET_LIST = ", ".join(PRESETS)
_GPU_LIST = ", ".join(str(n) for n in GPU_COUNTS[:-1]) + f" or {GPU_COUNTS[-1]}"


_number, _whole, _show, _plural = number, whole, show, plural


def _unknown_control(name: Any) -> str:
    if name == "upscale":
        why = "'upscale' is not a control of a generation (4K upscaling is its own run type)"
    elif name in ALL_HINTS:
        why = f"'{name}' needs the AV sample model (not driven by this app)"
    else:
        why = f"Unknown control {name!r}"
    return f"{why}; use one of {_CONTROL_LIST}."


def _valid_weights(p: GenerationParams) -> tuple[dict[str, float], list[FieldError]]:
    """Weights of the known controls that are numbers (missing = 0), plus the weight errors."""
    errors: list[FieldError] = []
    weights: dict[str, float] = {c: 0.0 for c in CONTROLS}
    raw = p.weights if isinstance(p.weights, Mapping) else {}
    if not isinstance(p.weights, Mapping):
        errors.append(FieldError("weights", f"Weights are {p.weights!r}; give one number between "
                                 f"0 and 1 per control ({_CONTROL_LIST})."))
    for name, value in raw.items():
        field = f"weights.{name}"
        if name not in CONTROLS:
            errors.append(FieldError(field, _unknown_control(name)))
            continue
        number = _number(value)
        if number is None:
            errors.append(FieldError(field, f"Weight for {name} is {value!r}, not a number; use a "
                                     "number between 0 and 1 (0 turns the control off)."))
            weights.pop(name)
            continue
        if not 0.0 <= number <= 1.0:
            errors.append(FieldError(field, f"Weight for {name} is {_show(value)}; use a number "
                                     "between 0 and 1 (0 turns the control off)."))
        weights[name] = number
    return weights, errors


# -- the rules --------------------------------------------------------------------------------
def _check_prompts(p: GenerationParams) -> list[FieldError]:
    errors = []
    if not isinstance(p.prompt, str) or not p.prompt.strip():
        errors.append(FieldError("prompt", "The prompt is empty; describe the scene you want to "
                                 "see (Cosmos generates the video from this text)."))
    if not isinstance(p.negative_prompt, str) or not p.negative_prompt.strip():
        errors.append(FieldError("negative_prompt", "The negative prompt is empty; Cosmos crashes "
                                 "on an empty negative prompt (a TypeError after text encoding), "
                                 "so keep the default text or describe what to avoid."))
    return errors


def _check_controls(p: GenerationParams, weights: dict[str, float],
                    weight_errors: list[FieldError]) -> list[FieldError]:
    errors: list[FieldError] = []
    bad_known_weight = any(e.field in {f"weights.{c}" for c in CONTROLS} for e in weight_errors)
    if not bad_known_weight and not any(w > 0 for w in weights.values()):
        errors.append(FieldError("weights", "Every control weight is 0, so Cosmos has nothing to "
                                 f"follow; set at least one control ({_CONTROL_LIST}) to a weight "
                                 "above 0 (up to 1)."))
    videos = p.control_videos if isinstance(p.control_videos, Mapping) else {}
    for name, path in videos.items():
        field = f"control_videos.{name}"
        if name not in CONTROLS:
            errors.append(FieldError(field, _unknown_control(name)))
        elif path and not isinstance(path, str):
            errors.append(FieldError(field, f"The {name} control video is {path!r}; give the "
                                     "path of a video file, or leave it empty."))
        elif path and weights.get(name, 1.0) == 0:
            errors.append(FieldError(field, f"A control video is set for {name} but its weight "
                                     "is 0, so Cosmos would ignore it; set a weight above 0 (up "
                                     "to 1) to use it, or remove the video."))
    return errors


def _check_seg_prompt(p: GenerationParams, weights: dict[str, float]) -> list[FieldError]:
    text = p.seg_prompt if isinstance(p.seg_prompt, str) else ""
    if not text.strip():
        return []
    if weights.get("seg", 0.0) == 0:
        return [FieldError("seg_prompt", "A segmentation prompt is set but the seg weight is 0; "
                           "it only steers the seg control's automatic segmentation, so set a "
                           "seg weight above 0 or clear the prompt.")]
    videos = p.control_videos if isinstance(p.control_videos, Mapping) else {}
    if videos.get("seg"):
        return [FieldError("seg_prompt", "A segmentation prompt is set but seg has its own "
                           "control video, and Cosmos uses the prompt only when it segments the "
                           "input video itself; clear the prompt or remove the seg video.")]
    words = len(text.split())
    if words > SEG_PROMPT_MAX_WORDS:
        return [FieldError("seg_prompt", f"The segmentation prompt has {words} words; Cosmos "
                           f"reads only the first {SEG_PROMPT_MAX_WORDS}, so shorten it (name the "
                           "objects separated by ' . ', e.g. 'robot arm . table . mug').")]
    return []


def _check_sampling(p: GenerationParams) -> list[FieldError]:
    errors: list[FieldError] = []
    sigma = _number(p.sigma_max)
    if sigma is None or not 0.0 <= sigma <= SIGMA_MAX_MAX:
        errors.append(FieldError("sigma_max", f"sigma_max is {_show(p.sigma_max)}; use a number "
                                 "from 0 to 80 (80 = pure noise, the input video's colours are "
                                 "not used; lower values keep more of the input)."))
    elif sigma < SIGMA_MAX_MAX and not p.input_video:
        errors.append(FieldError("sigma_max", f"sigma_max is {_show(p.sigma_max)} but there is no "
                                 "input video; below 80 Cosmos starts from the input video, so "
                                 "add an input video or set sigma_max to 80."))
    steps = _whole(p.num_steps)
    if steps is None or not STEPS_MIN <= steps <= STEPS_MAX:
        errors.append(FieldError("num_steps", f"Steps is {_show(p.num_steps)}; use a whole number "
                                 f"from {STEPS_MIN} to {STEPS_MAX} (Cosmos' default is 35)."))
    guidance = _number(p.guidance)
    if guidance is None or not GUIDANCE_MIN <= guidance <= GUIDANCE_MAX:
        errors.append(FieldError("guidance", f"Guidance is {_show(p.guidance)}; use a number from "
                                 "0 to 20 (Cosmos' default is 5, its docs use 7)."))
    seed = _whole(p.seed)
    if seed is None or not 0 <= seed < SEED_LIMIT:
        errors.append(FieldError("seed", f"Seed is {_show(p.seed)}; use a whole number from 0 to "
                                 f"{SEED_LIMIT - 1}."))
    if p.fps is not None:
        fps = _whole(p.fps)
        if fps is None or not FPS_MIN <= fps <= FPS_MAX:
            errors.append(FieldError("fps", f"fps is {_show(p.fps)}; use a whole number from "
                                     f"{FPS_MIN} to {FPS_MAX}, or leave it empty to keep the "
                                     "input video's frame rate."))
    for name in ("blur_strength", "canny_threshold"):
        value = getattr(p, name)
        if value not in PRESETS:
            errors.append(FieldError(name, f"{name} is {value!r}; use one of {_PRESET_LIST}."))
    if _whole(p.num_gpus) not in GPU_COUNTS:
        errors.append(FieldError("num_gpus", f"num_gpus is {_show(p.num_gpus)}; use {_GPU_LIST} "
                                 "(Cosmos splits a clip's 16 latent frames evenly across GPUs)."))
    return errors


def _check_sources(p: GenerationParams, weights: dict[str, float]) -> list[FieldError]:
    """Cosmos needs, per active control, its own control video or an input video to derive it."""
    if p.input_video:
        return []
    videos = p.control_videos if isinstance(p.control_videos, Mapping) else {}
    missing = [c for c in CONTROLS if weights.get(c, 0.0) > 0 and not videos.get(c)]
    if not missing:
        return []
    verb = "has" if len(missing) == 1 else "have"
    return [FieldError("input_video", f"There is no input video and {_plural(missing)} {verb} no "
                       "control video; Cosmos makes control videos from the input video, so add "
                       "an input video or give each active control its own control video.")]


def _aspect(info: VideoInfoLike) -> float | None:
    try:
        return info.width / info.height if info.width > 0 and info.height > 0 else None
    except (AttributeError, TypeError):
        return None


def _check_shapes(input_info: VideoInfoLike | None,
                  control_infos: Mapping[str, VideoInfoLike]) -> list[FieldError]:
    """Videos Cosmos combines must share an aspect ratio and a length.

    Why: Cosmos resizes each video to its own aspect bucket and cuts every video to the shortest
    one, so a mismatch gives a squashed or silently shortened result instead of an error.
    """
    known = [(c, control_infos[c]) for c in CONTROLS if c in control_infos]
    if input_info is not None:
        ref_name, ref = "the input video", input_info
        others = known
    elif len(known) > 1:
        ref_name, ref = f"the {known[0][0]} control video", known[0][1]
        others = known[1:]
    else:
        return []
    errors: list[FieldError] = []
    ref_aspect = _aspect(ref)
    for name, info in others:
        field = f"control_videos.{name}"
        aspect = _aspect(info)
        if aspect and ref_aspect and abs(aspect / ref_aspect - 1.0) > ASPECT_TOLERANCE:
            errors.append(FieldError(field, f"The {name} control video is {info.width}×"
                                     f"{info.height} (aspect {aspect:.2f}) but {ref_name} is "
                                     f"{ref.width}×{ref.height} (aspect {ref_aspect:.2f}); use a "
                                     "control video with the same aspect ratio (within 2%)."))
        frames, ref_frames = getattr(info, "frames", None), getattr(ref, "frames", None)
        if frames and ref_frames and frames != ref_frames:
            errors.append(FieldError(field, f"The {name} control video has {frames} frames but "
                                     f"{ref_name} has {ref_frames}; Cosmos cuts every video to the "
                                     f"shortest one, so use a control video with {ref_frames} "
                                     "frames."))
    return errors


# -- public API -------------------------------------------------------------------------------
def validate_params(p: GenerationParams, *, input_info: VideoInfoLike | None = None,
                    control_infos: Mapping[str, VideoInfoLike] | None = None) -> list[FieldError]:
    """Every reason Cosmos would reject (or silently mangle) this generation; [] when fine.

    `input_info` / `control_infos` are probes of the input and control videos (attributes
    width, height, frames, fps); when given, their aspect ratios and lengths are compared.
    """
    weights, weight_errors = _valid_weights(p)
    errors = _check_prompts(p) + weight_errors
    errors += _check_controls(p, weights, weight_errors)
    errors += _check_seg_prompt(p, weights)
    errors += _check_sampling(p)
    errors += _check_sources(p, weights)
    errors += _check_shapes(input_info, control_infos or {})
    return errors


def check_params(p: GenerationParams, **kwargs: Any) -> None:
    """`validate_params`, raising InvalidParams when anything is wrong (for non-UI callers)."""
    errors = validate_params(p, **kwargs)
    if errors:
        raise InvalidParams(errors)


def validate_upscale_weight(weight: Any) -> list[FieldError]:
    """The 4K upscaler's control weight: above 0 (0 would switch the upscaler off) and up to 1."""
    number = _number(weight)
    if number is None or not 0.0 < number <= 1.0:
        return [FieldError("upscale_weight", f"Upscale weight is {_show(weight)}; use a number "
                           "above 0 and up to 1 (0.5 is the value NVIDIA documents).")]
    return []
