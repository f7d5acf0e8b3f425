"""Refuse a Transfer2.5 request before it reaches a GPU box, to the letter of its config.py.

Each rule mirrors a pydantic constraint or a check of cosmos_transfer2/config.py (or a place
where upstream would silently mangle the request), worded with what is wrong and what is
allowed, tied to the form field to fix. Upstream's own wording is quoted where it helps.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from backend.models.checks import (FieldError, VideoInfoLike, number, one_of, plural, show,
                                   text_value, whole)
from backend.models.params import ALL_CONTROLS, RUN_INFERENCE, GenerationParams
from backend.models.transfer2_5.params import (CONTROLS, DISTILLED, DISTILLED_MAX_FRAMES,
                                               DISTILLED_STEPS, GPU_COUNTS, GUIDANCE_MAX,
                                               GUIDANCE_MIN, OFFLOAD_FLAGS, PRESETS, RESOLUTIONS,
                                               SEED_LIMIT, SIGMA_MAX_MAX, STEPS_MAX,
                                               VIDEO_EXTENSIONS)

_CONTROL_LIST = ", ".join(CONTROLS)
_EXTRA_KEYS = ("resolution", "max_frames")
_OPTIONS = ("mask_path", "mask_prompt")
ASPECT_TOLERANCE = 0.02


def _suffix(path: Any) -> str:
    text = str(path or "")
    return text[text.rfind("."):].lower() if "." in text else ""


def _check_prompts(p: GenerationParams) -> list[FieldError]:
    errors = []
    if not isinstance(p.prompt, str) or not p.prompt.strip():
        errors.append(FieldError("prompt", "The prompt is empty; describe the scene you want to "
                                 "see (Transfer2.5 requires `prompt`)."))
    if p.variant != DISTILLED and (not isinstance(p.negative_prompt, str)
                                   or not p.negative_prompt.strip()):
        errors.append(FieldError("negative_prompt", "The negative prompt is empty; Transfer2.5 "
                                 "then fails with 'Negative prompt embedding is not computed', so "
                                 "keep the default text or describe what to avoid."))
    return errors


def _check_controls(p: GenerationParams) -> list[FieldError]:
    errors: list[FieldError] = []
    weights = p.weights if isinstance(p.weights, Mapping) else {}
    for name, value in weights.items():
        field = f"weights.{name}"
        if name not in CONTROLS:
            if value and number(value) != 0:
                why = ("Transfer2.5 has no keypoint control" if name == "keypoint" else
                       f"Unknown control {name!r}")
                errors.append(FieldError(field, f"{why}; use {_CONTROL_LIST} (set this "
                                         "weight to 0)."))
            continue
        w = number(value)
        if w is None or not 0.0 <= w <= 1.0:
            errors.append(FieldError(field, f"Weight for {name} is {show(value)}; Transfer2.5 "
                                     "takes a number from 0.0 to 1.0 (0 turns the control off)."))
    if not errors and not p.active_controls(CONTROLS):
        errors.append(FieldError("weights", "No controls provided: set at least one of "
                                 f"{_CONTROL_LIST} to a weight above 0 (up to 1)."))
    videos = p.control_videos if isinstance(p.control_videos, Mapping) else {}
    active = set(p.active_controls(CONTROLS))
    for name, path in videos.items():
        if not path:
            continue
        field = f"control_videos.{name}"
        if name not in CONTROLS:
            errors.append(FieldError(field, f"Transfer2.5 has no {name} control; use "
                                     f"{_CONTROL_LIST}."))
        elif name not in active:
            errors.append(FieldError(field, f"A control video is set for {name} but its weight "
                                     "is 0, so it would not be used; set a weight above 0 or "
                                     "remove the video."))
        elif _suffix(path) not in VIDEO_EXTENSIONS:
            errors.append(FieldError(field, f"The {name} control video is {path!r}; use a "
                                     "video (" + ", ".join(VIDEO_EXTENSIONS) + ")."))
    return errors


def _check_options(p: GenerationParams) -> list[FieldError]:
    errors: list[FieldError] = []
    options = p.control_options if isinstance(p.control_options, Mapping) else {}
    active = set(p.active_controls(CONTROLS))
    for control, block in options.items():
        if not block:
            continue
        where = f"control_options.{control}"
        if control not in CONTROLS or not isinstance(block, Mapping):
            errors.append(FieldError(where, f"Options for {control!r}: Transfer2.5's controls "
                                     f"are {_CONTROL_LIST}, each with mask_path or mask_prompt."))
            continue
        for name, value in block.items():
            if value in (None, ""):
                continue
            field = f"{where}.{name}"
            if name not in _OPTIONS:
                hint = {"ckpt_path": " (a post-trained checkpoint is one per run upstream, not "
                                     "per control)",
                        "weight_map": " (Transfer2.5 takes a mask video: mask_path)",
                        "weight_prompt": " (Transfer2.5 takes a mask prompt: mask_prompt)"}
                errors.append(FieldError(field, f"Transfer2.5 controls take no {name!r}"
                                         f"{hint.get(name, '')}; use mask_path or mask_prompt."))
            elif control not in active:
                errors.append(FieldError(field, f"{name} is set for {control} but its weight is "
                                         "0; set a weight above 0 or clear it."))
            elif name == "mask_path" and _suffix(value) not in VIDEO_EXTENSIONS:
                errors.append(FieldError(field, f"The {control} mask is {value!r}; give a binary "
                                         "mask video (white = the control applies), one of "
                                         + ", ".join(VIDEO_EXTENSIONS) + "."))
            elif name == "mask_prompt" and not text_value(value):
                errors.append(FieldError(field, "The mask prompt must name what SAM2 should "
                                         "mask, e.g. 'robotic arm . gripper'."))
        if block.get("mask_path") and text_value(block.get("mask_prompt")):
            errors.append(FieldError(f"{where}.mask_prompt", f"{control} has both a mask video "
                                     "and a mask prompt; upstream uses only one ('Only one of "
                                     "{mask_path} or {mask_prompt} should be provided'), so clear "
                                     "one of them."))
    return errors


def _check_sampling(p: GenerationParams) -> list[FieldError]:
    errors: list[FieldError] = []
    guidance = whole(p.guidance)
    if guidance is None or not GUIDANCE_MIN <= guidance <= GUIDANCE_MAX:
        frac = " (Transfer2.5 takes a whole number: 'Input should be a valid integer')" if (
            number(p.guidance) is not None and guidance is None) else ""
        errors.append(FieldError("guidance", f"Guidance is {show(p.guidance)}{frac}; use a whole "
                                 f"number from {GUIDANCE_MIN} to {GUIDANCE_MAX} (default 3)."))
    steps = whole(p.num_steps)
    if p.variant != DISTILLED and (steps is None or not 1 <= steps <= STEPS_MAX):
        errors.append(FieldError("num_steps", f"Steps is {show(p.num_steps)}; use a whole "
                                 f"number from 1 to {STEPS_MAX} (Transfer2.5's default is 35)."))
    seed = whole(p.seed)
    if seed is None or not 0 <= seed < SEED_LIMIT:
        errors.append(FieldError("seed", f"Seed is {show(p.seed)}; use a whole number from 0 to "
                                 f"{SEED_LIMIT - 1} (Transfer2.5's default is 2025)."))
    if p.sigma_max is not None:
        sigma = number(p.sigma_max)
        if sigma is None or not 0 <= sigma <= SIGMA_MAX_MAX:
            errors.append(FieldError("sigma_max", f"sigma_max is {show(p.sigma_max)}; use a "
                                     "number from 0 to 200 (200 = pure noise), or leave it empty "
                                     "for the model's own noise schedule."))
    if p.fps is not None and p.fps != 0:
        errors.append(FieldError("fps", f"fps is {show(p.fps)}, but Transfer2.5 has no fps "
                                 "setting: the output keeps the input's frame rate (cast to a "
                                 "whole number). Leave it empty."))
    for name in ("blur_strength", "canny_threshold"):
        if getattr(p, name) not in PRESETS:
            errors.append(FieldError(name, f"{name} is {getattr(p, name)!r}; use one of "
                                     + ", ".join(PRESETS) + "."))
    if whole(p.num_gpus) not in GPU_COUNTS:
        errors.append(FieldError("num_gpus", f"num_gpus is {show(p.num_gpus)}; use "
                                 f"{one_of(GPU_COUNTS)} (context parallelism splits a chunk's "
                                 "24 latent frames evenly across GPUs)."))
    return errors


def _check_unsupported(p: GenerationParams, run_type: str) -> list[FieldError]:
    errors = []
    if run_type != RUN_INFERENCE:
        errors.append(FieldError("run_type", f"Transfer2.5 has no {run_type} (no 4K upscaler, "
                                 "no prompt upsampler); use Transfer1 for it."))
    if p.regional_prompts:
        errors.append(FieldError("regional_prompts", "Transfer2.5 has no regional prompts; use "
                                 "a mask (mask_path or mask_prompt) on a control instead."))
    if whole(p.batch_size) != 1:
        errors.append(FieldError("batch_size", f"batch_size is {show(p.batch_size)}; "
                                 "Transfer2.5 has no --batch_size (a batch runs its samples one "
                                 "after another), so use 1."))
    if p.offload is not None:
        bad = [f for f in (p.offload if isinstance(p.offload, (list, tuple)) else [p.offload])
               if f not in OFFLOAD_FLAGS]
        if bad:
            errors.append(FieldError("offload", "Transfer2.5 offloads only the guardrail models "
                                     "(offload_guardrail_models); "
                                     + plural([repr(b) for b in bad]) + " do not exist there."))
    extra = p.extra if isinstance(p.extra, Mapping) else {}
    for key in extra:
        if key not in _EXTRA_KEYS and extra[key] not in (None, ""):
            errors.append(FieldError(f"extra.{key}", f"Transfer2.5 has no setting {key!r}; it "
                                     "takes resolution and max_frames."))
    resolution = extra.get("resolution")
    if resolution not in (None, "") and str(resolution) not in RESOLUTIONS:
        errors.append(FieldError("extra.resolution", f"Resolution is {resolution!r}; use one of "
                                 + ", ".join(RESOLUTIONS) + " (the checkpoints are trained at "
                                 "720)."))
    return errors


def _frames(p: GenerationParams, infos: Mapping[str, VideoInfoLike]) -> tuple[int | None,
                                                                              list[FieldError]]:
    """(frames the model will read, errors about max_frames)."""
    extra = p.extra if isinstance(p.extra, Mapping) else {}
    raw = extra.get("max_frames")
    info = infos.get("input")
    frames = getattr(info, "frames", None) if info is not None else None
    if raw in (None, ""):
        return frames, []
    limit = whole(raw)
    if limit is None or limit < 2:
        return frames, [FieldError("extra.max_frames", f"Max frames is {show(raw)}; use a whole "
                                   "number of at least 2 (1 frame makes an image, which this "
                                   "app does not collect), or leave it empty for every frame.")]
    if frames and limit > frames:
        return frames, [FieldError("extra.max_frames", f"Max frames is {limit} but the input "
                                   f"video has {frames}; upstream: 'Must be less than or equal "
                                   f"to the number of frames', so use at most {frames}.")]
    return limit, []


def _check_input(p: GenerationParams, infos: Mapping[str, VideoInfoLike]) -> list[FieldError]:
    if not p.input_video:
        return [FieldError("input_video", "Transfer2.5 needs an input video (`video_path` is "
                           "required): its controls and masks are computed from it.")]
    if _suffix(p.input_video) not in VIDEO_EXTENSIONS:
        return [FieldError("input_video", f"The input is {p.input_video!r}; use a video ("
                           + ", ".join(VIDEO_EXTENSIONS) + ").")]
    errors = []
    ref = infos.get("input")
    for role, info in infos.items():
        if role == "input" or ref is None:
            continue
        try:
            aspect, ref_aspect = info.width / info.height, ref.width / ref.height
        except (AttributeError, TypeError, ZeroDivisionError):
            continue
        if abs(aspect / ref_aspect - 1.0) > ASPECT_TOLERANCE:
            kind, _, control = role.partition(".")
            field = f"control_videos.{control}" if kind == "control" else \
                f"control_options.{control}.mask_path"
            errors.append(FieldError(field, f"The {control} {'mask' if kind == 'mask' else 'control video'} "
                                     f"is {info.width}×{info.height} but the input video is "
                                     f"{ref.width}×{ref.height}; use one with the same aspect "
                                     "ratio (it is resized like the output)."))
    return errors


def _check_distilled(p: GenerationParams, frames: int | None) -> list[FieldError]:
    if not p.variant:
        return []
    if p.variant != DISTILLED:
        return [FieldError("variant", f"Unknown variant {p.variant!r}; Transfer2.5 has "
                           f"'{DISTILLED}' (edge/distilled, 4 steps), or leave it empty.")]
    errors = []
    if p.active_controls(CONTROLS) != ["edge"]:
        errors.append(FieldError("weights", "The distilled model exists for edge only (upstream "
                                 "registers no other distilled checkpoint); set edge above 0 "
                                 "and every other weight to 0."))
    steps = whole(p.num_steps)
    if steps != DISTILLED_STEPS:
        errors.append(FieldError("num_steps", f"Steps is {show(p.num_steps)}; the distilled edge "
                                 f"model is trained with {DISTILLED_STEPS} sampling steps, so use "
                                 f"{DISTILLED_STEPS}."))
    if frames and frames > DISTILLED_MAX_FRAMES:
        errors.append(FieldError("extra.max_frames", f"The distilled model is meant for one "
                                 f"{DISTILLED_MAX_FRAMES}-frame chunk ('not trained to support "
                                 f"auto-regressive generation') and this run reads {frames} "
                                 f"frames; set Max frames to {DISTILLED_MAX_FRAMES} or fewer."))
    return errors


def _check_seg_prompt(p: GenerationParams) -> list[FieldError]:
    if not text_value(p.seg_prompt):
        return []
    if "seg" not in p.active_controls(CONTROLS):
        return [FieldError("seg_prompt", "A segmentation prompt is set but the seg weight is 0; "
                           "it only steers seg's on-the-fly segmentation, so set a seg weight "
                           "above 0 or clear it.")]
    if (p.control_videos or {}).get("seg"):
        return [FieldError("seg_prompt", "A segmentation prompt is set but seg has its own "
                           "control video, and Transfer2.5 ignores control_prompt then; clear "
                           "the prompt or remove the seg video.")]
    return []


def validate_params(p: GenerationParams, *, run_type: str = RUN_INFERENCE,
                    infos: Mapping[str, VideoInfoLike] | None = None) -> list[FieldError]:
    """Every reason Transfer2.5 would reject (or silently mangle) this request; [] when fine."""
    infos = infos or {}
    frames, frame_errors = _frames(p, infos)
    return (_check_prompts(p) + _check_controls(p) + _check_options(p) + _check_sampling(p)
            + _check_unsupported(p, run_type) + frame_errors + _check_input(p, infos)
            + _check_distilled(p, frames) + _check_seg_prompt(p))


def warnings(p: GenerationParams, infos: Mapping[str, VideoInfoLike]) -> list[FieldError]:
    """What does not stop the run: a fractional input fps is truncated."""
    info = infos.get("input")
    fps = getattr(info, "fps", None) if info is not None else None
    if fps and abs(fps - round(fps)) > 1e-3:
        return [FieldError("input_video", f"The input runs at {fps:.3f} fps; Transfer2.5 casts "
                           f"it to {int(fps)} fps (int), so the output plays "
                           f"{fps / int(fps) - 1:.1%} slower. Transcode the input to a whole "
                           "frame rate if timing matters.")]
    return []


__all__ = ["ALL_CONTROLS", "validate_params", "warnings"]
