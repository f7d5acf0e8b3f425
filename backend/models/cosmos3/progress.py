"""Cosmos 3's log -> the shared Progress.

Upstream's inference logs few milestones (loguru records of cosmos_framework/scripts and
inference): `Loaded N samples` (then the model loads), `Saved sample args to '...'` (a sample
starts), `Computing <hint> control input on the fly` / `Loaded pre-computed <hint> control`
(transfer preprocessing), the sampler's tqdm bar (n/total steps), and `Saved sample outputs
to` / `Saved transfer outputs to` (the sample is written). Anything else leaves the phase.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from backend.models.loguru import parse_bar, parse_loguru, strip_ansi
from backend.models.results import public_detail
from backend.models.results import (CLIP_DIFFUSE, DONE, LOADING, PREPROCESSING, SAVING,
                                    STARTING, Progress)


class ProgressTracker:
    """Feed it every log line in order; it keeps the latest Progress."""

    def __init__(self, n_items: int = 1) -> None:
        self.n_items = max(1, int(n_items))
        self._phase, self._detail, self._fraction = STARTING, "", 0.0
        self._item, self._step, self._n_steps = 1, 0, None
        self._last: Progress | None = None
        self._progress = Progress(n_items=self.n_items)

    @property
    def progress(self) -> Progress:
        return self._progress

    def feed(self, line: str, now: float | None = None) -> Progress | None:
        for segment in line.rstrip("\n").split("\r"):
            if segment.strip():
                self._segment(strip_ansi(segment))
        self._progress = Progress(phase=self._phase, fraction=round(self._fraction, 4),
                                  item=self._item, n_items=self.n_items, detail=self._detail,
                                  step=self._step, n_steps=self._n_steps,
                                  clip=1 if self._phase in (CLIP_DIFFUSE, SAVING, DONE) else 0,
                                  clips_done=1 if self._phase == DONE else 0, n_clips=1)
        if self._progress == self._last:
            return None
        self._last = dataclasses.replace(self._progress)
        return self._progress

    def feed_all(self, lines: Iterable[str], now: float | None = None) -> Progress:
        for line in lines:
            self.feed(line, now)
        return self._progress

    def _segment(self, text: str) -> None:
        record = parse_loguru(text)
        if record is None:
            bar = parse_bar(text)
            if bar is not None and bar[2] > 0 and self._phase in (CLIP_DIFFUSE, PREPROCESSING):
                self._phase, self._step, self._n_steps = CLIP_DIFFUSE, bar[1], bar[2]
                self._fraction = 0.15 + 0.75 * bar[1] / bar[2]
                self._detail = f"step {bar[1]}/{bar[2]}"
            return
        if record.rank not in (None, 0):
            return
        message = record.message
        if message.startswith("Loaded ") and message.endswith(" samples"):
            self._phase, self._fraction, self._detail = LOADING, 0.02, "loading the model"
        elif message.startswith("Saved sample args to"):
            self._phase, self._fraction, self._detail = CLIP_DIFFUSE, 0.15, "generating"
        elif message.startswith(("Computing ", "Loaded pre-computed ")) and "control" in message:
            self._phase, self._detail = PREPROCESSING, public_detail(message)
        elif message.startswith(("Saved sample outputs to", "Saved transfer outputs to")):
            self._phase, self._fraction, self._detail = DONE, 1.0, "saved"
        elif message.startswith("Error generating sample"):
            self._detail = public_detail(message)
