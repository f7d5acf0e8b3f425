"""GenerationParams -> the flat per-sample spec `examples/inference.py -i` reads.

One sample per `.json`, or one per line of a `.jsonl` batch (`InferenceArguments._from_file`).
Every path is a container path (upstream resolves relative paths against the spec's folder and
requires each to exist when the spec is parsed, on the box). Every generation value lives in
the sample, so the prompt never reaches a command line; only setup flags (the distilled model,
offloading) go there.

`check_sample` refuses any key upstream would refuse (top level, extra="forbid") AND any key
inside a control block, which upstream silently ignores: a Transfer1-style `input_control`
would otherwise vanish and the control be recomputed from the input video without a word.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from backend.models.checks import text_value
from backend.models.params import GenerationParams
from backend.models.transfer2_5.params import (CONTROL_BLOCK_KEYS, CONTROLS, DEFAULT_RESOLUTION,
                                               DISTILLED, DISTILLED_STEPS, SAMPLE_KEYS)

#: Top-level keys in the order they are written (readable diffs in the UI and the store).
KEY_ORDER: tuple[str, ...] = (
    "name", "prompt", "negative_prompt", "video_path", "max_frames", "resolution", "seed",
    "guidance", "num_steps", "sigma_max",
) + CONTROLS
_PRESET_KEY = {"edge": ("preset_edge_threshold", "canny_threshold"),
               "vis": ("preset_blur_strength", "blur_strength")}
#: Characters json.dumps(ensure_ascii=False) leaves raw but line splitters break on.
_LINE_BREAKERS = {"\u2028": "\\u2028", "\u2029": "\\u2029", "\u0085": "\\u0085"}


def _sigma(value: float) -> str:
    """sigma_max is a string upstream (`str | None`); "80", "12.5"."""
    number = float(value)
    return str(int(number)) if number.is_integer() else repr(number)


def build_sample(p: GenerationParams, *, name: str, paths: Mapping[str, str]) -> dict[str, Any]:
    """The sample for one validated run. `paths` maps roles ("input", "control.edge",
    "mask.edge") to container paths; raises ValueError when a file the artist chose was not
    staged, so nothing is dropped on the way to the GPU."""
    if not paths.get("input"):
        raise ValueError("the input video was not staged: pass its container path")
    distilled = p.variant == DISTILLED
    sample: dict[str, Any] = {
        "name": name, "prompt": p.prompt, "negative_prompt": p.negative_prompt,
        "video_path": paths["input"],
    }
    extra = p.extra if isinstance(p.extra, Mapping) else {}
    if extra.get("max_frames") not in (None, ""):
        sample["max_frames"] = int(extra["max_frames"])
    sample["resolution"] = str(extra.get("resolution") or DEFAULT_RESOLUTION)
    sample["seed"] = int(p.seed)
    sample["guidance"] = int(p.guidance)
    sample["num_steps"] = DISTILLED_STEPS if distilled else int(p.num_steps)
    if p.sigma_max is not None:
        sample["sigma_max"] = _sigma(p.sigma_max)
    videos = p.control_videos if isinstance(p.control_videos, Mapping) else {}
    for control in p.active_controls(CONTROLS):
        block: dict[str, Any] = {"control_weight": float(p.weights[control])}
        if videos.get(control):
            if not paths.get(f"control.{control}"):
                raise ValueError(f"the {control} control video was not staged")
            block["control_path"] = paths[f"control.{control}"]
        if p.option(control, "mask_path"):
            if not paths.get(f"mask.{control}"):
                raise ValueError(f"the {control} mask was not staged")
            block["mask_path"] = paths[f"mask.{control}"]
        elif text_value(p.option(control, "mask_prompt")):
            block["mask_prompt"] = text_value(p.option(control, "mask_prompt"))
        if control in _PRESET_KEY:
            key, attr = _PRESET_KEY[control]
            block[key] = getattr(p, attr)
        if control == "seg" and text_value(p.seg_prompt) and not videos.get("seg"):
            block["control_prompt"] = text_value(p.seg_prompt)
        sample[control] = block
    check_sample(sample)
    return sample


def check_sample(sample: Mapping[str, Any]) -> None:
    """Refuse keys Transfer2.5 refuses (top level) or ignores (control blocks)."""
    unknown = sorted(k for k in sample if k not in SAMPLE_KEYS)
    if unknown:
        raise ValueError("unknown sample key(s) " + ", ".join(map(repr, unknown))
                         + " (Transfer2.5 refuses them: extra='forbid')")
    if not any(isinstance(sample.get(c), Mapping) for c in CONTROLS):
        raise ValueError("no control: give at least one of " + ", ".join(CONTROLS))
    for control in CONTROLS:
        block = sample.get(control)
        if block is None:
            continue
        if not isinstance(block, Mapping):
            raise ValueError(f"the {control} block must be an object")
        bad = sorted(k for k in block if k not in CONTROL_BLOCK_KEYS[control])
        if bad:
            raise ValueError(f"unknown key(s) {', '.join(map(repr, bad))} in the {control} block"
                             " (Transfer2.5 would silently ignore them); allowed: "
                             + ", ".join(sorted(CONTROL_BLOCK_KEYS[control])))
        if "mask_path" in block and "mask_prompt" in block:
            raise ValueError(f"{control} has both mask_path and mask_prompt; give only one")


def _ordered(sample: Mapping[str, Any]) -> dict[str, Any]:
    keys = [k for k in KEY_ORDER if k in sample] + sorted(k for k in sample if k not in KEY_ORDER)
    return {k: sample[k] for k in keys}


def sample_json(sample: Mapping[str, Any]) -> str:
    """A `.json` spec: one sample, stable key order, UTF-8 kept readable, indent 2."""
    return json.dumps(_ordered(sample), ensure_ascii=False, indent=2) + "\n"


def batch_jsonl(samples: Sequence[Mapping[str, Any]]) -> str:
    """A `.jsonl` spec: one compact sample per line (upstream reads `splitlines()`)."""
    if not samples:
        raise ValueError("a batch needs at least one sample")
    names = [s["name"] for s in samples]
    if len(set(names)) != len(names):
        raise ValueError("sample names must be unique in a batch (upstream: 'Inference "
                         "samplename ... is not unique')")
    lines = []
    for sample in samples:
        line = json.dumps(_ordered(sample), ensure_ascii=False)
        for raw, escaped in _LINE_BREAKERS.items():
            line = line.replace(raw, escaped)
        lines.append(line)
    return "\n".join(lines) + "\n"


def hint_keys(sample: Mapping[str, Any]) -> tuple[str, ...]:
    """The controls a sample uses, in upstream order (a batch's union picks the model)."""
    return tuple(c for c in CONTROLS if isinstance(sample.get(c), Mapping))
