"""A Cosmos 3 sample spec (one JSON per sample, OmniSampleOverrides' fields) from a request.

Only what the artist set goes in: a field left empty is left out, so upstream's per-mode
defaults (defaults/<mode>/sample_args.json) and its tuned per-hint defaults
(TransferDataOverrides._TRANSFER_DEFAULTS: guidance 3, control_guidance 1.5, ...) apply as
upstream means them; `sample_args.json` (the model's resolved arguments) is the recipe kept.
Every sample names its `model_mode`, so the mode is never inferred from file suffixes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from backend.models.cosmos3 import params as c3
from backend.models.params import GenerationParams


def mode_of(params: GenerationParams) -> str:
    extra = params.extra if isinstance(params.extra, dict) else {}
    return extra.get("mode") or c3.DEFAULT_MODE


def extra_of(params: GenerationParams, key: str) -> Any:
    extra = params.extra if isinstance(params.extra, dict) else {}
    return extra.get(key)


def _whole(value: Any) -> Any:
    return int(value) if isinstance(value, float) and value.is_integer() else value


def hint_block(params: GenerationParams, control: str, paths: Mapping[str, str]) -> dict:
    """One hint's TransferOverrides: weight, its preset, and a control video if given."""
    block: dict[str, Any] = {"weight": float(params.weights[control])}
    if control == "edge":
        block["preset_edge_threshold"] = params.canny_threshold
    if control == "vis":
        block["preset_blur_strength"] = params.blur_strength
    if paths.get(f"control.{control}"):
        block["control_path"] = paths[f"control.{control}"]
    return block


def build_sample(params: GenerationParams, *, name: str, paths: Mapping[str, str]) -> dict:
    """The sample for run `name`; `paths` are the staged container paths by input role."""
    mode = mode_of(params)
    sample: dict[str, Any] = {"name": name, "model_mode": mode, "prompt": params.prompt}
    if params.negative_prompt:
        sample["negative_prompt"] = params.negative_prompt
    sample["seed"] = _whole(params.seed)
    sample["num_steps"] = _whole(params.num_steps)
    if params.guidance is not None:
        sample["guidance"] = params.guidance
    for key in ("resolution", "aspect_ratio"):
        if extra_of(params, key):
            sample[key] = str(extra_of(params, key))
    if mode != c3.TEXT2VIDEO and paths.get("input"):
        sample["vision_path"] = paths["input"]
    if mode in (c3.TEXT2VIDEO, c3.IMAGE2VIDEO):
        if params.fps:
            sample["fps"] = _whole(params.fps)
        if extra_of(params, "num_frames") is not None:
            sample["num_frames"] = _whole(extra_of(params, "num_frames"))
        return sample
    for control in params.active_controls(c3.CONTROLS):
        sample[c3.HINT_OF[control]] = hint_block(params, control, paths)
    for key, spec_key in (("control_guidance", "control_guidance"),
                          ("max_frames", "max_frames"),
                          ("chunk_frames", "num_video_frames_per_chunk"),
                          ("conditional_frames", "num_conditional_frames")):
        if extra_of(params, key) is not None:
            sample[spec_key] = _whole(extra_of(params, key))
    return sample


def sample_json(sample: dict) -> str:
    return json.dumps(sample, indent=2, ensure_ascii=False)
