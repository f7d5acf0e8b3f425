"""Several compatible runs as one Cosmos batch job (`--batch_input_path` JSONL).

Why batch: the 7B model, T5 and the guardrail load once (minutes) instead of once per run.
Why this is strict: in batch mode Cosmos merges each item's `control_overrides` into a copy of
the base spec's hints and ignores overrides for hints the base spec lacks, so an item that does
not state a control's weight would inherit the base value, and a missing hint silently drops an
item's control. Every item therefore states every base-spec control explicitly, and only runs
with the same non-per-item settings share a batch (`batch_compatibility_key`).
"""

from __future__ import annotations

import json
import posixpath
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from backend.models.transfer1.params import CONTROLS, GenerationParams
from backend.models.transfer1.spec import build_spec

#: Names Cosmos uses inside `<video_save_folder>/video_<i>/` in batch mode.
BATCH_VIDEO_NAME = "output.mp4"
BATCH_PROMPT_NAME = "prompt.txt"
#: Characters json.dumps(ensure_ascii=False) leaves raw but some line splitters break on.
_LINE_BREAKERS = {"\u2028": "\\u2028", "\u2029": "\\u2029", "\u0085": "\\u0085"}


@dataclass(frozen=True)
class BatchControl:
    """One control of one item: its weight, and its control video (None = Cosmos derives it)."""

    weight: float
    input_control: str | None = None


@dataclass(frozen=True)
class BatchItem:
    """One run inside a batch, with container paths."""

    visual_input: str
    prompt: str
    controls: Mapping[str, BatchControl] = field(default_factory=dict)

    @classmethod
    def from_params(cls, p: GenerationParams, *, visual_input: str,
                    control_paths: Mapping[str, str]) -> BatchItem:
        """The item for one run; raises if a control video the artist chose was not staged."""
        active = p.active_controls()
        unstaged = [c for c in active if p.control_videos.get(c) and not control_paths.get(c)]
        if unstaged:
            raise ValueError(f"control video(s) for {', '.join(unstaged)} were not staged")
        return cls(visual_input=visual_input, prompt=p.prompt,
                   controls={c: BatchControl(float(p.weights[c]), control_paths.get(c) or None)
                             for c in active})

    def active(self) -> list[str]:
        return [c for c in CONTROLS if c in self.controls and self.controls[c].weight > 0]


def batch_controls(items: Sequence[BatchItem]) -> list[str]:
    """Every control any item uses (weight > 0), in CONTROLS order: the base spec's hints."""
    used = {c for item in items for c in item.active()}
    return [c for c in CONTROLS if c in used]


def _item_line(item: BatchItem, controls: Sequence[str]) -> str:
    if not item.prompt or not item.prompt.strip():
        raise ValueError("a batch item has an empty prompt (Cosmos breaks on a missing prompt)")
    if not item.visual_input:
        raise ValueError("a batch item has no visual_input (its input video)")
    unknown = [c for c in item.active() if c not in controls]
    if unknown:
        raise ValueError(f"item uses {', '.join(unknown)}, which the base spec does not list; "
                         "Cosmos would ignore it")
    overrides: dict[str, dict[str, Any]] = {}
    for control in controls:
        ctrl = item.controls.get(control)
        if ctrl is not None and ctrl.weight > 0:
            # null forces Cosmos to derive the control from this item's own input video.
            overrides[control] = {"control_weight": float(ctrl.weight),
                                  "input_control": ctrl.input_control}
        else:
            # Off for this item. The item's input video stands in as the control video so Cosmos
            # does not run a preprocessor (SAM2, Depth-Anything, ...) for a weight-0 branch.
            overrides[control] = {"control_weight": 0.0, "input_control": item.visual_input}
    line = json.dumps({"visual_input": item.visual_input, "prompt": item.prompt,
                       "control_overrides": overrides}, ensure_ascii=False)
    for raw, escaped in _LINE_BREAKERS.items():
        line = line.replace(raw, escaped)
    return line


def build_batch_jsonl(items: Sequence[BatchItem], *, controls: Sequence[str] | None = None) -> str:
    """The JSONL text: one compact JSON object per line (Cosmos rejects pretty-printed JSON).

    `controls` is the base spec's hint list (default: `batch_controls(items)`); every item gets
    an override for each of them, weight 0 where it does not use the control.
    """
    if not items:
        raise ValueError("a batch needs at least one item")
    hints = list(controls) if controls is not None else batch_controls(items)
    return "".join(_item_line(item, hints) + "\n" for item in items)


def build_batch_base_spec(base: GenerationParams, *, items: Sequence[BatchItem], fps: int,
                          controls: Sequence[str] | None = None) -> dict[str, Any]:
    """The spec shared by every item: `base`'s settings, the first item's input video (Cosmos
    validates the global input_video_path even in batch mode), and every control any item uses.

    Prompts, weights and control videos come from the items; the base spec's hint weights are
    placeholders that every item overrides.
    """
    if not items:
        raise ValueError("a batch needs at least one item")
    hints = list(controls) if controls is not None else batch_controls(items)
    if not hints:
        raise ValueError("no item uses any control")
    shaped = GenerationParams.from_dict(base.to_dict())
    shaped.weights = {c: 0.5 for c in hints}
    shaped.control_videos = {}
    shaped.input_video = items[0].visual_input
    spec = build_spec(shaped, input_video_path=items[0].visual_input, control_paths={}, fps=fps)
    spec.pop("prompt", None)  # each item carries its own
    return spec


def batch_output_paths(video_save_folder: str, n: int) -> list[tuple[str, str]]:
    """(video, prompt) paths Cosmos writes for items 0..n-1, in JSONL order."""
    return [(posixpath.join(video_save_folder, f"video_{i}", BATCH_VIDEO_NAME),
             posixpath.join(video_save_folder, f"video_{i}", BATCH_PROMPT_NAME))
            for i in range(n)]


def batch_compatibility_key(p: GenerationParams, *, fps: int | None = None) -> tuple:
    """Runs with equal keys can share one batch job.

    Same active controls and every setting the base spec holds; prompt, weights, control
    videos and the input video may differ (they are per item). Pass `fps` once it is resolved
    from the input video: two runs both asking for "the input's fps" differ when their inputs
    do. Only runs with an input video can batch (it is the item's `visual_input`).
    """
    return (
        tuple(p.active_controls()),
        bool(p.input_video),
        p.negative_prompt,
        (p.seg_prompt or "").strip() if "seg" in p.active_controls() else "",
        float(p.sigma_max),
        float(p.guidance),
        int(p.num_steps),
        int(p.seed),
        fps if fps is not None else p.fps,
        p.blur_strength,
        p.canny_threshold,
        int(p.num_gpus),
    )
