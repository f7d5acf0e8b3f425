"""What the `cosmos` verbs share: exit codes, the error that carries one, and turning the
command line into the same GenerationParams the UI builds."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from backend.cli.progress import Session

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
    """GenerationParams from the config's defaults and the command line (--negative wins over
    a stored prompt's negative)."""
    from backend.models.transfer1.params import CONTROLS

    p = s.ops.default_params()
    p.prompt = prompt
    if args.negative is not None:
        p.negative_prompt = args.negative
    elif stored_negative is not None:
        p.negative_prompt = stored_negative
    p.input_video = args.input
    if args.weight:
        p.weights = {c: 0.0 for c in CONTROLS}
        p.weights.update(dict(args.weight))
    p.control_videos = dict(args.control)
    for control in p.control_videos:
        if control not in dict(args.weight):
            p.weights[control] = 1.0
    for attr, value in (("seg_prompt", args.seg_prompt), ("num_steps", args.steps),
                        ("guidance", args.guidance), ("sigma_max", args.sigma_max),
                        ("seed", args.seed), ("blur_strength", args.blur),
                        ("canny_threshold", args.canny), ("num_gpus", args.gpus)):
        if value is not None:
            setattr(p, attr, value)
    if args.fps is not None:
        p.fps = args.fps or None
    if getattr(args, "upscale_weight", None) is not None:
        p.upscale_weight = args.upscale_weight
    for name in ("input_video",):
        value = getattr(p, name)
        if value and not Path(value).exists():
            raise CliError(EXIT_USAGE, f"--input {value}: no such file")
    for control, video in p.control_videos.items():
        if not Path(video).exists():
            raise CliError(EXIT_USAGE, f"--control {control}={video}: no such file")
    return p


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
