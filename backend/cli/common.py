"""What the `cosmos` verbs share: exit codes, the error that carries one, and turning the
command line into the same GenerationParams the UI builds."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from backend.cli.progress import Session
from backend.models.profile import get_profile

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_NOT_FOUND, EXIT_INTERRUPTED = 0, 1, 2, 3, 130


class CliError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


def _json(args: argparse.Namespace) -> bool:
    return bool(getattr(args, "json", False))


def _err(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)


def _params(s: Session, args: argparse.Namespace, prompt: str, stored_negative: str | None):
    """GenerationParams from the model's defaults and the command line (--negative wins over
    a stored prompt's negative). Values a model does not have are passed on as given, so its
    validation names them (never silently dropped)."""
    from backend.operations import NotFound

    try:
        p = s.ops.default_params(getattr(args, "model", None))
    except NotFound:
        known = ", ".join(m["id"] for m in s.ops.models())
        raise CliError(EXIT_USAGE, f"--model {args.model}: no such model; use one of {known} "
                       "(`cosmos models`)") from None
    p.prompt = prompt
    if args.negative is not None:
        p.negative_prompt = args.negative
    elif stored_negative is not None:
        p.negative_prompt = stored_negative
    p.input_video = args.input
    controls = s.ops.profile(p.model).control_names
    if args.weight:
        p.weights = {c: 0.0 for c in controls}
        p.weights.update(dict(args.weight))
    p.control_videos = dict(args.control)
    for control in p.control_videos:
        if control not in dict(args.weight):
            p.weights[control] = 1.0
    for attr, value in (("seg_prompt", args.seg_prompt), ("num_steps", args.steps),
                        ("guidance", args.guidance), ("sigma_max", args.sigma_max),
                        ("seed", args.seed), ("blur_strength", args.blur),
                        ("canny_threshold", args.canny), ("num_gpus", args.gpus),
                        ("variant", args.variant), ("batch_size", args.batch_size)):
        if value is not None:
            setattr(p, attr, value)
    if args.fps is not None:
        p.fps = args.fps or None
    if getattr(args, "upscale_weight", None) is not None:
        p.upscale_weight = args.upscale_weight
    _options(p, args)
    for path in _local_files(p):
        if not Path(path).exists():
            raise CliError(EXIT_USAGE, f"{path}: no such file")
    return p


def _options(p, args: argparse.Namespace) -> None:
    """Per-control options, regional prompts, offloading and model-only settings."""
    for flag, key in (("mask", "mask_path"), ("mask_prompt", "mask_prompt"),
                      ("ckpt", "ckpt_path"), ("weight_map", "weight_map")):
        for control, value in getattr(args, flag):
            p.control_options.setdefault(control, {})[key] = value
    if args.weight_prompt is not None:
        p.control_options.setdefault("seg", {})["weight_prompt"] = args.weight_prompt
    regions = []
    for box, prompt in args.region_box:
        try:
            values = [float(v) for v in box.split(",")]
        except ValueError:
            raise CliError(EXIT_USAGE, f"--region-box {box}: give four numbers x1,y1,x2,y2 "
                           "between 0 and 1") from None
        regions.append({"prompt": prompt, "box": values})
    regions += [{"prompt": prompt, "mask_video": video} for video, prompt in args.region_mask]
    regions += [{"prompt": prompt, "mask_prompt": what} for what, prompt in args.region_prompt]
    if regions:
        p.regional_prompts = regions
    if args.no_offload:
        p.offload = []
    elif args.offload:
        p.offload = list(args.offload)
    if args.resolution is not None:
        p.extra["resolution"] = args.resolution
    if args.max_frames is not None:
        p.extra["max_frames"] = args.max_frames
    for key, value in getattr(args, "setting", []):
        p.extra[key.removeprefix("extra.")] = _setting_value(value)
    shape = get_profile(p.model).shape(p)
    if not shape.controls and not args.weight and not args.control:
        p.weights = {}  # the model's default weights, not the artist's: this mode has none


def _setting_value(text: str):
    """'93' -> 93, '2.5' -> 2.5, anything else stays text (the profile validates it)."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def _local_files(p) -> list[str]:
    """Files on this machine the request names (they must exist to be uploaded)."""
    files = [p.input_video] if p.input_video else []
    files += [v for v in p.control_videos.values() if v]
    files += [b[k] for b in p.control_options.values() for k in ("mask_path", "weight_map")
              if isinstance(b, dict) and b.get(k)]
    files += [r["mask_video"] for r in p.regional_prompts if r.get("mask_video")]
    return files


def _prompt_source(s: Session, text: str | None, prompt_id: str | None) -> tuple[str, str | None,
                                                                                  str | None]:
    """(text, stored negative or None, prompt id) from prompt text or a stored prompt."""
    if prompt_id:
        try:
            kind, full = s.ops.resolve_id(prompt_id, kinds=("prompt",))
        except KeyError:
            raise CliError(EXIT_NOT_FOUND, f"no prompt {prompt_id}") from None
        prompt = s.ops.prompt_info(full)
        return prompt["text"], prompt["negative_prompt"], full
    if text is None:
        raise CliError(EXIT_USAGE, "give the prompt text, or --prompt-id of a stored prompt")
    return text, None, None


def _resolve(s: Session, text: str, kinds: tuple[str, ...] = ("run",)) -> tuple[str, str]:
    try:
        return s.ops.resolve_id(text, kinds)
    except KeyError:
        raise CliError(EXIT_NOT_FOUND, f"no {' or '.join(kinds)} {text}") from None


def _more(shown: int, total: int, offset: int) -> None:
    if offset + shown < total:
        print(f"({shown} of {total} shown; --offset {offset + shown} for more)", file=sys.stderr)
