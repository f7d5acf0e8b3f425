"""What an artist asks for in one generation, whatever the model: `GenerationParams`.

It travels from the UI/CLI through `operations`, the store (as JSON) and the job into the
model profile that turns it into the model's own spec. Paths in it are paths on the artist's
machine; the job maps them to container paths when it stages them. Which of these fields a
model reads, with which ranges, is the profile's business (backend/models/profile.py): a field
a model does not have is refused by that model's validation, never silently dropped.

Per-control options (`control_options[<control>]`), documented here because the review room
and the CLI write them too:

- `mask_path`: a binary spatiotemporal mask video (white = the control applies there), a file
  on this machine, uploaded like the input (Transfer2.5);
- `mask_prompt`: text that SAM2 turns into that mask on the box, e.g. "robotic arm . gripper"
  (Transfer2.5); exclusive with `mask_path`;
- `ckpt_path`: a post-trained ControlNet checkpoint on the GPU box (Transfer1);
- `weight_map`: a spatiotemporal weight tensor (`.pt`) on this machine, uploaded (Transfer1);
- `weight_prompt`: Transfer1's `control_weight_prompt` on seg: SAM2 turns the text into a
  binary weight mask times the control's weight.

`regional_prompts` (Transfer1): a list of {"prompt": text, and one of "box": [x1, y1, x2, y2]
(0..1, normalised), "mask_video": a local mp4 (uploaded) or "mask_prompt": text for SAM2}.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

#: Every control any profile knows, in the order the UI lists them (a profile has a subset).
ALL_CONTROLS: tuple[str, ...] = ("vis", "edge", "depth", "seg", "keypoint", "wsm")
#: Presets of the blur (vis) and Canny (edge) preprocessors, the same five in both models.
PRESETS: tuple[str, ...] = ("very_low", "low", "medium", "high", "very_high")

#: Run types.
RUN_INFERENCE = "inference"
RUN_UPSCALE = "upscale"
RUN_ENHANCE = "enhance"
RUN_TYPES: tuple[str, ...] = (RUN_INFERENCE, RUN_UPSCALE, RUN_ENHANCE)
#: The one word a person reads (and types, in the CLI) for each stored run type, everywhere:
#: the UI, the CLI and their messages. The stored value (and the CLI's JSON) stays
#: "inference", so older databases and scripts keep working.
RUN_TYPE_NAMES: dict[str, str] = {RUN_INFERENCE: "generation", RUN_UPSCALE: "upscale",
                                  RUN_ENHANCE: "enhance", "setup": "setup"}
#: How the UI labels them (the same words, spelled out).
RUN_TYPE_LABELS: dict[str, str] = {RUN_INFERENCE: "generation", RUN_UPSCALE: "4K upscale",
                                   RUN_ENHANCE: "prompt enhancement", "setup": "box setup"}


def run_type_name(run_type: str) -> str:
    return RUN_TYPE_NAMES.get(run_type, run_type)


def run_type_of_name(name: str) -> str:
    """A run type as a person names it (generation, or the stored inference) -> stored."""
    for stored, word in RUN_TYPE_NAMES.items():
        if name in (stored, word):
            return stored
    return name

#: The profile a run without a `model` (stored before profiles existed) was made with.
LEGACY_MODEL = "transfer1"


@dataclass
class GenerationParams:
    """Everything the GPU needs to know about one generation.

    `weights` holds one entry per control; a weight of 0 means the control is off and is left
    out of the spec. `control_videos` maps a control to the artist's own control video; a
    control without one is derived by the model from the input video. `fps` of None means
    "the input video's frame rate". `model` is the profile id; `variant` one of the
    profile's variants ("" = the base model, "distilled" = the distilled edge model).
    `offload` of None means "the host's offload flags". `extra` holds settings only one model
    has (Transfer2.5's `resolution` and `max_frames`), declared by that profile's fields.
    """

    prompt: str
    negative_prompt: str
    input_video: str | None = None
    weights: dict[str, float] = field(default_factory=dict)
    control_videos: dict[str, str] = field(default_factory=dict)
    seg_prompt: str = ""
    sigma_max: float | None = 70.0
    guidance: float = 5.0
    num_steps: int = 35
    seed: int = 1
    fps: int | None = None
    blur_strength: str = "medium"
    canny_threshold: str = "medium"
    num_gpus: int = 1
    upscale_weight: float = 0.5
    model: str = LEGACY_MODEL
    variant: str = ""
    control_options: dict[str, dict[str, Any]] = field(default_factory=dict)
    regional_prompts: list[dict[str, Any]] = field(default_factory=list)
    batch_size: int = 1
    offload: list[str] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def active_controls(self, order: tuple[str, ...] = ALL_CONTROLS) -> list[str]:
        """Controls with a non-zero weight, in `order` (default: the UI's order)."""
        weights = self.weights if isinstance(self.weights, dict) else {}
        return [c for c in order if _positive(weights.get(c))]

    def option(self, control: str, name: str) -> Any:
        """One per-control option, or None."""
        options = self.control_options if isinstance(self.control_options, dict) else {}
        block = options.get(control)
        return block.get(name) if isinstance(block, dict) else None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "GenerationParams":
        """Rebuild from stored JSON, ignoring keys from newer versions."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


def _positive(value: Any) -> bool:
    try:
        return float(value or 0) > 0
    except (TypeError, ValueError):
        return False
