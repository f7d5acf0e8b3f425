"""Refuse a Cosmos 3 request before it reaches a GPU box, to the letter of its args.py.

Each rule mirrors a pydantic constraint or a check of cosmos_framework/inference (args.py,
transfer.py, common/args.py), or a place where upstream would fail only after loading the
model (depth/seg/wsm without a control video, a latency preset the GPU count cannot split),
worded with what is wrong and what is allowed, tied to the form field to fix.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from backend.models.checks import (FieldError, VideoInfoLike, number, one_of, plural, show,
                                   whole)
from backend.models.cosmos3 import params as c3
from backend.models.cosmos3.spec import extra_of, mode_of
from backend.models.params import RUN_INFERENCE, GenerationParams

_CONTROL_LIST = "edge, vis (Cosmos 3's blur), depth, seg and wsm"
#: extra.<key> settings this profile has (everything else in `extra` is refused).
EXTRA_KEYS = ("mode", "checkpoint", "parallelism", "guardrails", "resolution", "aspect_ratio",
              "num_frames", "max_frames", "control_guidance", "chunk_frames",
              "conditional_frames")
_V2V_ONLY = ("max_frames", "control_guidance", "chunk_frames", "conditional_frames")


def _suffix(path: Any) -> str:
    text = str(path or "")
    return text[text.rfind("."):].lower() if "." in text else ""


def _positive_int(p: GenerationParams, key: str, label: str, minimum: int = 1
                  ) -> list[FieldError]:
    raw = extra_of(p, key)
    if raw in (None, ""):
        return []
    value = whole(raw)
    if value is None or value < minimum:
        return [FieldError(f"extra.{key}", f"{label} is {show(raw)}; use a whole number of at "
                           f"least {minimum}, or leave it empty for Cosmos 3's default.")]
    return []


def _check_choices(p: GenerationParams) -> list[FieldError]:
    errors = []
    choices = (("mode", "Mode", c3.MODES, "(text2image, image2image, sound and action modes "
                "are not offered)"),
               ("checkpoint", "Checkpoint", tuple(c.name for c in c3.CHECKPOINTS), ""),
               ("parallelism", "Parallelism preset", c3.PARALLELISM, ""),
               ("guardrails", "Guardrails", c3.GUARDRAILS, "(on is upstream's default)"),
               ("resolution", "Resolution", c3.RESOLUTIONS, "(a tier, not pixels)"),
               ("aspect_ratio", "Aspect ratio", c3.ASPECT_RATIOS, ""))
    for key, label, allowed, note in choices:
        value = extra_of(p, key)
        if value in (None, "") and key in ("resolution", "aspect_ratio"):
            continue
        if value in (None, "") and key in ("mode", "checkpoint", "parallelism", "guardrails"):
            continue  # the profile's default applies (the form always sends one)
        if str(value) not in allowed:
            errors.append(FieldError(f"extra.{key}", f"{label} is {value!r}; use one of "
                                     + ", ".join(allowed) + (f" {note}" if note else "") + "."))
    extra = p.extra if isinstance(p.extra, Mapping) else {}
    for key, value in extra.items():
        if key not in EXTRA_KEYS and value not in (None, ""):
            errors.append(FieldError(f"extra.{key}", f"Cosmos 3 has no setting {key!r}; it "
                                     "takes " + ", ".join(EXTRA_KEYS) + "."))
    return errors


def _check_prompt(p: GenerationParams) -> list[FieldError]:
    if not isinstance(p.prompt, str) or not p.prompt.strip():
        return [FieldError("prompt", "The prompt is empty; describe the scene you want to see "
                           "(Cosmos 3 conditions every mode on the prompt).")]
    return []


def _check_sampling(p: GenerationParams) -> list[FieldError]:
    errors: list[FieldError] = []
    if p.guidance is not None:
        g = number(p.guidance)
        if g is None or not c3.GUIDANCE_MIN <= g <= c3.GUIDANCE_MAX:
            errors.append(FieldError("guidance", f"Guidance is {show(p.guidance)}; use a number "
                                     "from 0 to 7 (Guidance = Field(ge=0, le=7)), or leave it "
                                     "empty for the mode's tuned default."))
    steps = whole(p.num_steps)
    if steps is None or not 1 <= steps <= c3.STEPS_MAX:
        errors.append(FieldError("num_steps", f"Steps is {show(p.num_steps)}; use a whole number "
                                 f"from 1 to {c3.STEPS_MAX} (Cosmos 3's default is 35)."))
    seed = whole(p.seed)
    if seed is None or not 0 <= seed < c3.SEED_LIMIT:
        errors.append(FieldError("seed", f"Seed is {show(p.seed)}; use a whole number from 0 to "
                                 f"{c3.SEED_LIMIT - 1}."))
    # sigma_max is not read: upstream's default UniPC sampler ignores it (EDM only), the spec
    # never carries it, and GenerationParams' own default (70) is not an artist's choice.
    cg = extra_of(p, "control_guidance")
    if cg not in (None, ""):
        value = number(cg)
        if value is None or not c3.CONTROL_GUIDANCE_MIN <= value <= c3.CONTROL_GUIDANCE_MAX:
            errors.append(FieldError("extra.control_guidance", f"Control guidance is "
                                     f"{show(cg)}; use a number from 0 to 10 (1 turns the "
                                     "extra control comparison off), or leave it empty for "
                                     "the hint's tuned default."))
    return errors


def _check_gpus(p: GenerationParams) -> list[FieldError]:
    n = whole(p.num_gpus)
    if n not in c3.GPU_COUNTS:
        return [FieldError("num_gpus", f"num_gpus is {show(p.num_gpus)}; use "
                           f"{one_of(c3.GPU_COUNTS)} (FSDP shards the weights over them).")]
    errors = []
    ckpt = c3.checkpoint(extra_of(p, "checkpoint") or c3.DEFAULT_CHECKPOINT)
    if ckpt is not None and n < ckpt.min_gpus:
        errors.append(FieldError("num_gpus", f"{ckpt.name} ({ckpt.size}) needs "
                                 f"{ckpt.min_gpus} or more 80 GB GPUs; this run asks for {n}. "
                                 f"Ask for at least {ckpt.min_gpus}, or pick Cosmos3-Nano or "
                                 "Cosmos3-Edge."))
    preset = extra_of(p, "parallelism") or c3.DEFAULT_PARALLELISM
    if preset == "latency" and not c3.latency_fits(n):
        errors.append(FieldError("num_gpus", f"With the latency preset {n} GPUs cannot be "
                                 "split: cfgp_size(2) * cp_size must divide WORLD_SIZE("
                                 f"{n}) (upstream refuses it at start). Use 1, 2, 4, 6 or 8 "
                                 "GPUs, or the throughput preset."))
    return errors


def _check_controls(p: GenerationParams, mode: str) -> list[FieldError]:
    errors: list[FieldError] = []
    weights = p.weights if isinstance(p.weights, Mapping) else {}
    videos = p.control_videos if isinstance(p.control_videos, Mapping) else {}
    if mode != c3.VIDEO2VIDEO:
        for name, value in weights.items():
            if number(value) not in (None, 0.0):
                errors.append(FieldError(f"weights.{name}", f"{mode} takes no controls (they "
                                         "belong to video2video); set this weight to 0 or "
                                         "choose video2video."))
        for name, path in videos.items():
            if path:
                errors.append(FieldError(f"control_videos.{name}", f"{mode} takes no control "
                                         "videos; remove it or choose video2video."))
        return errors
    for name, value in weights.items():
        field = f"weights.{name}"
        if name not in c3.CONTROLS:
            if number(value) not in (None, 0.0):
                errors.append(FieldError(field, f"Cosmos 3 has no {name} control; use "
                                         f"{_CONTROL_LIST} (set this weight to 0)."))
            continue
        w = number(value)
        if w is None or not 0.0 <= w <= 1.0:
            errors.append(FieldError(field, f"Weight for {name} is {show(value)}; use a number "
                                     "from 0 to 1 (its share in the multi-control attention; "
                                     "0 turns it off)."))
    active = p.active_controls(c3.CONTROLS)
    if not errors and not active:
        errors.append(FieldError("weights", "video2video needs at least one control hint "
                                 f"(upstream: 'transfer inference requires at least one control "
                                 f"hint'); set one of {_CONTROL_LIST} above 0."))
    for name, path in videos.items():
        if not path:
            continue
        field = f"control_videos.{name}"
        if name not in c3.CONTROLS:
            errors.append(FieldError(field, f"Cosmos 3 has no {name} control; use "
                                     f"{_CONTROL_LIST}."))
        elif name not in active:
            errors.append(FieldError(field, f"A control video is set for {name} but its weight "
                                     "is 0; set a weight above 0 or remove the video."))
        elif _suffix(path) not in c3.VIDEO_EXTENSIONS:
            errors.append(FieldError(field, f"The {name} control video is {path!r}; use a video "
                                     "(" + ", ".join(c3.VIDEO_EXTENSIONS) + ")."))
    for name in active:
        if name not in c3.ON_THE_FLY and not videos.get(name):
            errors.append(FieldError(f"control_videos.{name}", f"Cosmos 3 computes only edge "
                                     f"and blur (vis) on the fly; {name} needs its own control "
                                     f"video (upstream: \"Missing pre-computed control input "
                                     f"for '{c3.HINT_OF[name]}'\"). Add one, or set {name} "
                                     "to 0."))
        elif name in c3.ON_THE_FLY and not videos.get(name) and not p.input_video:
            errors.append(FieldError("input_video", f"{name} is computed from the input video, "
                                     "and there is none; add an input video or a control "
                                     f"video for {name}."))
    for name in ("blur_strength", "canny_threshold"):
        allowed = c3.BLUR_PRESETS if name == "blur_strength" else c3.EDGE_PRESETS
        if getattr(p, name) not in allowed:
            errors.append(FieldError(name, f"{name} is {getattr(p, name)!r}; use one of "
                                     + ", ".join(allowed) + "."))
    return errors


def _check_frames(p: GenerationParams, mode: str) -> list[FieldError]:
    errors = _positive_int(p, "num_frames", "Frames") + _positive_int(
        p, "max_frames", "Max frames") + _positive_int(p, "chunk_frames", "Frames per chunk") \
        + _positive_int(p, "conditional_frames", "Conditional frames", minimum=0)
    if mode == c3.VIDEO2VIDEO:
        if extra_of(p, "num_frames") not in (None, ""):
            errors.append(FieldError("extra.num_frames", "video2video reads its frames from the "
                                     "input (use Max frames to cut it); leave Frames empty."))
        if p.fps not in (None, 0):
            errors.append(FieldError("fps", "video2video keeps the input's frame rate; leave "
                                     "FPS at 0."))
        chunk = whole(extra_of(p, "chunk_frames")) or c3.CHUNK_FRAMES
        cond = whole(extra_of(p, "conditional_frames"))
        cond = c3.CONDITIONAL_FRAMES if cond is None else cond
        if not errors and cond >= chunk:
            errors.append(FieldError("extra.conditional_frames", f"Conditional frames ({cond}) "
                                     f"must be fewer than the frames per chunk ({chunk}) "
                                     "(upstream: 'num_conditional_frames must be smaller than "
                                     "num_video_frames_per_chunk')."))
    else:
        for key in _V2V_ONLY:
            if extra_of(p, key) not in (None, ""):
                errors.append(FieldError(f"extra.{key}", f"{key.replace('_', ' ')} belongs to "
                                         f"video2video's chunked transfer; {mode} has none. "
                                         "Leave it empty."))
        fps = whole(p.fps) if p.fps not in (None, 0) else None
        if p.fps not in (None, 0) and (fps is None or fps < 1):
            errors.append(FieldError("fps", f"FPS is {show(p.fps)}; use a whole number of at "
                                     "least 1 (Fps = Field(ge=1)), or 0 for 24."))
    return errors


def _check_input(p: GenerationParams, mode: str) -> list[FieldError]:
    if mode == c3.TEXT2VIDEO:
        if p.input_video:
            return [FieldError("input_video", "text2video starts from the prompt alone; remove "
                               "the input, or choose image2video or video2video.")]
        return []
    if mode == c3.IMAGE2VIDEO:
        if not p.input_video:
            return [FieldError("input_video", "image2video starts from a still: choose an input "
                               "image (" + ", ".join(c3.IMAGE_EXTENSIONS) + ").")]
        if _suffix(p.input_video) not in c3.IMAGE_EXTENSIONS:
            return [FieldError("input_video", f"The input is {p.input_video!r}; image2video "
                               "takes an image (" + ", ".join(c3.IMAGE_EXTENSIONS) + "); for a "
                               "video choose video2video.")]
        return []
    if p.input_video and _suffix(p.input_video) not in c3.VIDEO_EXTENSIONS:
        return [FieldError("input_video", f"The input is {p.input_video!r}; video2video takes "
                           "a video (" + ", ".join(c3.VIDEO_EXTENSIONS) + ").")]
    return []


def _check_unsupported(p: GenerationParams, run_type: str) -> list[FieldError]:
    errors = []
    if run_type != RUN_INFERENCE:
        errors.append(FieldError("run_type", f"Cosmos 3 has no {run_type} run here; use "
                                 "Transfer1 for it."))
    if p.regional_prompts:
        errors.append(FieldError("regional_prompts", "Cosmos 3 has no regional prompts."))
    if whole(p.batch_size) != 1:
        errors.append(FieldError("batch_size", f"batch_size is {show(p.batch_size)}; Cosmos 3 "
                                 "runs one sample per run here, so use 1."))
    if p.variant:
        errors.append(FieldError("variant", f"Cosmos 3 has no variant {p.variant!r}; pick the "
                                 "checkpoint instead (Nano, Edge or Super)."))
    if p.seg_prompt and str(p.seg_prompt).strip():
        errors.append(FieldError("seg_prompt", "Cosmos 3 does not segment on the fly; give seg "
                                 "a control video and clear this prompt."))
    options = p.control_options if isinstance(p.control_options, Mapping) else {}
    for control, block in options.items():
        for name, value in (block or {}).items():
            if value not in (None, ""):
                errors.append(FieldError(f"control_options.{control}.{name}", f"Cosmos 3's "
                                         f"hints take no {name}; clear it."))
    if p.offload is not None:
        bad = [f for f in (p.offload if isinstance(p.offload, (list, tuple)) else [p.offload])
               if f not in c3.OFFLOAD_FLAGS]
        if bad:
            errors.append(FieldError("offload", "Cosmos 3 offloads only the guardrail models "
                                     "(offload_guardrail_models); " + plural([repr(b) for b in bad])
                                     + " do not exist there."))
    return errors


def validate_params(p: GenerationParams, *, run_type: str = RUN_INFERENCE,
                    infos: Mapping[str, VideoInfoLike] | None = None) -> list[FieldError]:
    """Every reason Cosmos 3 would reject (or fail late on) this request; [] when fine."""
    errors = _check_choices(p)
    mode = mode_of(p)
    if mode not in c3.MODES:
        return errors
    return (errors + _check_prompt(p) + _check_sampling(p) + _check_gpus(p)
            + _check_controls(p, mode) + _check_frames(p, mode) + _check_input(p, mode)
            + _check_unsupported(p, run_type))


def warnings(p: GenerationParams, infos: Mapping[str, VideoInfoLike]) -> list[FieldError]:
    """What does not stop the run: upstream only warns about these too."""
    out = []
    mode = mode_of(p)
    ckpt = c3.checkpoint(extra_of(p, "checkpoint") or c3.DEFAULT_CHECKPOINT)
    resolution = extra_of(p, "resolution")
    if ckpt and resolution and str(resolution) not in ckpt.resolutions:
        out.append(FieldError("extra.resolution", f"{ckpt.name}'s model card lists "
                              f"{', '.join(ckpt.resolutions)}; {resolution} still runs, at a "
                              "tier it was never trained on."))
    frames = whole(extra_of(p, "num_frames"))
    limit = c3.MAX_FRAMES.get(str(resolution or "720"), 200)
    if mode != c3.VIDEO2VIDEO and frames and not c3.MIN_FRAMES <= frames <= limit:
        out.append(FieldError("extra.num_frames", f"{frames} frames is outside the recommended "
                              f"{c3.MIN_FRAMES}-{limit} at this resolution; quality may be "
                              "degraded."))
    fps = whole(p.fps)
    if mode != c3.VIDEO2VIDEO and fps and not 10 <= fps <= 30:
        out.append(FieldError("fps", f"FPS {fps} is outside the recommended 10-30; quality may "
                              "be degraded."))
    if mode == c3.VIDEO2VIDEO and (extra_of(p, "guardrails") or "on") == "on":
        out.append(FieldError("extra.guardrails", "Cosmos 3's video2video (transfer) path runs "
                              "no guardrail upstream; only text2video and image2video check "
                              "the prompt and the video."))
    return out
