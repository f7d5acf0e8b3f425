"""What every model's job reports back, whatever the model: its Progress and its Outcome.

The phases and the Progress shape are shared so the store, the CLI and the UI show any
model's run the same way; a profile's tracker decides which phases its log passes through.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Any

#: Phases in the order a run normally passes them (a model passes a subset).
STARTING = "starting"
LOADING = "loading"
PREPROCESSING = "preprocessing"
UPSAMPLING = "upsampling"
TEXT_ENCODING = "text_encoding"
CLIP_ENCODE = "clip_encode"
CLIP_DIFFUSE = "clip_diffuse"
CLIP_DECODE = "clip_decode"
GUARDRAIL = "guardrail"
SAVING = "saving"
DONE = "done"
PHASES: tuple[str, ...] = (STARTING, LOADING, PREPROCESSING, UPSAMPLING, TEXT_ENCODING,
                           CLIP_ENCODE, CLIP_DIFFUSE, CLIP_DECODE, GUARDRAIL, SAVING, DONE)

COMPLETED, FAILED, BLOCKED, CANCELLED = "completed", "failed", "blocked", "cancelled"

#: An absolute path inside a log message (a folder on the GPU box or in the container).
_PATH = re.compile(r"(?<![\w.:/])/(?:[^\s/'\"]+/)+([^\s/'\"]*)")


def public_detail(message: str, limit: int = 200) -> str:
    """A log message as a progress detail a person reads: every absolute path replaced by its
    file name (the box's folders say nothing to the artist and are not theirs to see)."""
    return _PATH.sub(lambda m: m.group(1) or "", str(message or ""))[:limit]


@dataclass(frozen=True)
class Progress:
    """Where a run is, small enough to store on the run row and send to every browser tab.

    `clip` is the 1-based clip (Transfer2.5: chunk) being worked on (0 before the first),
    `clips_done` how many have finished; `step`/`n_steps` the denoising step inside it where
    the model reports one; `item`/`n_items` count batch items (1/1 for a single run).
    `eta_seconds` is None until there is a speed to extrapolate from.
    """

    phase: str = STARTING
    fraction: float = 0.0
    clip: int = 0
    clips_done: int = 0
    n_clips: int | None = None
    total_frames: int | None = None
    item: int = 1
    n_items: int = 1
    eta_seconds: float | None = None
    detail: str = ""
    step: int = 0
    n_steps: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Progress:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in (data or {}).items() if k in names})


@dataclass(frozen=True)
class Outcome:
    """Terminal status, a one-line cause for people, and the log line that proves it.

    `stage` names where a guardrail block happened ("prompt", "negative prompt", "video") when
    the model says so.
    """

    status: str
    cause: str
    evidence: str | None = None
    stage: str | None = None

    def to_dict(self) -> dict[str, str | None]:
        return {"status": self.status, "cause": self.cause, "evidence": self.evidence,
                "stage": self.stage}
