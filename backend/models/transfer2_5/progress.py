"""Transfer2.5's log, line by line, into a Progress the store and the UI show.

Unlike Transfer1, Transfer2.5 ticks inside a chunk: tqdm's `Generating samples: k/35` bar (on
stderr, `\\r` updates) once per denoising step, and with COSMOS_VERBOSE `Generating chunk i/N`
before each chunk. Per sample, `[i/N] Processing sample <name>` opens it and `Generated
video saved to` closes it. The fraction is: loading the model first (LOAD_WEIGHT), then per
sample its share, inside it the chunks, inside a chunk the steps. The ETA comes from the bar's
own remaining time plus the measured chunk time for the chunks and samples still to come.

Markers (cosmos_transfer2/inference.py, _src/transfer2/inference/inference_pipeline.py,
cosmos_oss/init.py); records of ranks other than 0 are not printed (rank-0 filter).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable

from backend.models.loguru import _LOGURU, _log_seconds, parse_bar, parse_loguru, strip_ansi
from backend.models.results import public_detail
from backend.models.results import (CLIP_DIFFUSE, DONE, GUARDRAIL, LOADING, PREPROCESSING,
                                    SAVING, STARTING, TEXT_ENCODING, Progress)

LOAD_WEIGHT = 0.25
#: Inside one sample: before the chunks, the chunks, after them (control videos, guardrail).
PRE_SHARE, CHUNKS_SHARE = 0.10, 0.80
STEP_BAR = "Generating samples"
_CHUNK = re.compile(r"^Generating chunk (\d+)/(\d+)")
_SAMPLE = re.compile(r"^\[(\d+)/(\d+)\] Processing sample (.+)$")
_SAMPLES = re.compile(r"^Generating (\d+) samples")
_REMAINING = re.compile(r"<((?:\d+:)?\d+:\d+)")
_PHASES = (
    (("Log saved to", "Found ", "Loading the multicontrol model", "Saved config to",
      "Downloading checkpoint", "Loading base model", "Loading model cached"), LOADING),
    (("Saved arguments to", "Running guardrail check on prompt", "Passed guardrail on",
      "Guardrail checks on prompt are disabled", "Computing prompt text embeddings",
      "Computing negative prompt text embeddings"), TEXT_ENCODING),
    (("Processing the following paths", "Loading input video", "Processing image context",
      "Loading control inputs", "Reading video from", "Computing seg masks",
      "Generating mask from prompt"), PREPROCESSING),
    (("Running guardrail check on video",), GUARDRAIL),
)


def _clock_seconds(text: str) -> float:
    parts = [int(p) for p in text.split(":")]
    total = 0
    for part in parts:
        total = total * 60 + part
    return float(total)


class ProgressTracker:
    """Feed it every log line in order; it keeps the latest Progress (see progress.py of
    transfer1 for the `now` rule: pass it always or never)."""

    def __init__(self, n_items: int = 1) -> None:
        self.n_items = max(1, int(n_items))
        self._phase = STARTING
        self._detail = ""
        self._fraction = 0.0
        self._item = 0  # samples started
        self._done_items = 0
        self._chunk = 0
        self._n_chunks: int | None = None
        self._step = 0
        self._n_steps: int | None = None
        self._bar_left: float | None = None
        self._chunk_started: float | None = None
        self._chunk_times: list[float] = []
        self._clock: float | None = None
        self._last_sent: Progress | None = None
        self._progress = Progress(n_items=self.n_items)

    @property
    def progress(self) -> Progress:
        return self._progress

    def feed(self, line: str, now: float | None = None) -> Progress | None:
        if now is not None:
            self._clock = now
        for segment in line.rstrip("\n").split("\r"):
            if segment.strip():
                self._segment(segment, now)
        self._progress = self._snapshot()
        comparable = dataclasses.replace(self._progress, eta_seconds=None)
        if comparable == self._last_sent:
            return None
        self._last_sent = comparable
        return self._progress

    def feed_all(self, lines: Iterable[str], now: float | None = None) -> Progress:
        for line in lines:
            self.feed(line, now)
        return self._progress

    # -- internals ----------------------------------------------------------------------------
    def _segment(self, segment: str, now: float | None) -> None:
        text = strip_ansi(segment)
        match = _LOGURU.search(text)
        bar = parse_bar(text[:match.start()] if match else text)
        if bar is not None and bar[0] == STEP_BAR:
            self._on_step(bar[1], bar[2], text)
        record = parse_loguru(text) if match else None
        if record is None or record.rank not in (None, 0):
            return
        stamp = _log_seconds(record.timestamp)
        if stamp is not None and now is None:
            self._clock = stamp
        self._on_message(record.message)

    def _on_step(self, n: int, total: int, text: str) -> None:
        if total <= 0:
            return
        if self._chunk == 0:  # not verbose: a bar that restarts is the next chunk
            self._start_chunk(1, self._n_chunks)
        elif n < self._step and self._step >= (self._n_steps or 0):
            self._start_chunk(self._chunk + 1, self._n_chunks)
        self._step, self._n_steps = n, total
        left = _REMAINING.search(text)
        self._bar_left = _clock_seconds(left.group(1)) if left else None
        self._phase = CLIP_DIFFUSE
        self._detail = f"chunk {self._chunk}, step {n}/{total}"
        self._advance(self._chunk_point((n / total)))

    def _on_message(self, msg: str) -> None:
        sample = _SAMPLE.match(msg)
        if sample:
            self._item = int(sample.group(1))
            self.n_items = max(self.n_items, int(sample.group(2)))
            self._chunk, self._n_chunks, self._step, self._n_steps = 0, None, 0, None
            self._set(TEXT_ENCODING, msg, self._item_point(0.0))
            return
        chunk = _CHUNK.match(msg)
        if chunk:
            self._start_chunk(int(chunk.group(1)), int(chunk.group(2)))
            self._set(CLIP_DIFFUSE, msg, self._chunk_point(0.0))
            return
        if msg.startswith("Average time per chunk"):
            self._finish_chunk()
            self._set(SAVING, msg, self._item_point(PRE_SHARE + CHUNKS_SHARE))
            return
        if " control video saved to " in msg or msg.startswith("Mask for "):
            self._finish_chunk()
            self._set(SAVING, msg, self._item_point(PRE_SHARE + CHUNKS_SHARE))
            return
        if msg.startswith("Generated video saved to"):
            self._finish_chunk()
            self._done_items = max(self._done_items, self._item or 1)
            last = self._done_items >= self.n_items
            self._set(DONE if last else SAVING, msg, 1.0 if last else self._item_point(1.0))
            return
        if _SAMPLES.match(msg):
            self.n_items = max(self.n_items, int(_SAMPLES.match(msg).group(1)))
            self._set(LOADING, msg, LOAD_WEIGHT)
            return
        for prefixes, phase in _PHASES:
            if msg.startswith(prefixes):
                point = None
                if phase == TEXT_ENCODING and self._item:
                    point = self._item_point(PRE_SHARE * 0.3)
                elif phase == PREPROCESSING and self._item:
                    point = self._item_point(PRE_SHARE * 0.6)
                elif phase == GUARDRAIL:
                    point = self._item_point(PRE_SHARE + CHUNKS_SHARE + 0.05)
                elif phase == LOADING:
                    point = LOAD_WEIGHT * (0.9 if msg.startswith("Saved config") else 0.3)
                self._set(phase, msg, point)
                return

    def _start_chunk(self, index: int, total: int | None) -> None:
        if index != self._chunk:
            if self._chunk and self._chunk_started is not None and self._clock is not None:
                self._chunk_times.append(max(0.0, self._clock - self._chunk_started))
            self._chunk_started = self._clock
        self._chunk = index
        if total:
            self._n_chunks = total
        self._step = 0

    def _finish_chunk(self) -> None:
        if self._chunk and self._chunk_started is not None and self._clock is not None:
            self._chunk_times.append(max(0.0, self._clock - self._chunk_started))
            self._chunk_started = None

    def _set(self, phase: str, detail: str, point: float | None) -> None:
        self._phase = phase
        self._detail = public_detail(detail)
        if point is not None:
            self._advance(point)

    def _advance(self, point: float) -> None:
        self._fraction = max(self._fraction, min(1.0, point))

    def _item_point(self, within: float) -> float:
        share = (1.0 - LOAD_WEIGHT) / self.n_items
        return LOAD_WEIGHT + share * (max(1, self._item) - 1) + share * min(1.0, within)

    def _chunk_point(self, at: float) -> float:
        n = max(self._n_chunks or 1, self._chunk or 1)
        return self._item_point(PRE_SHARE + CHUNKS_SHARE * ((max(1, self._chunk) - 1 + at) / n))

    def _eta(self) -> float | None:
        if self._phase == DONE:
            return 0.0
        if self._bar_left is None and not self._chunk_times:
            return None
        per_chunk = (sum(self._chunk_times) / len(self._chunk_times)) if self._chunk_times \
            else None
        if per_chunk is None and self._n_steps and self._step:
            per_chunk = (self._bar_left or 0.0) * self._n_steps / max(1, self._n_steps - self._step) \
                if self._step < self._n_steps else None
        left = self._bar_left or 0.0
        chunks_after = max(0, (self._n_chunks or self._chunk or 1) - max(1, self._chunk))
        samples_after = max(0, self.n_items - max(1, self._item))
        if per_chunk is None:
            return round(left, 1)
        per_sample = per_chunk * (self._n_chunks or 1)
        return round(left + chunks_after * per_chunk + samples_after * per_sample, 1)

    def _snapshot(self) -> Progress:
        return Progress(phase=self._phase, fraction=round(self._fraction, 4), clip=self._chunk,
                        clips_done=max(0, self._chunk - 1) if self._phase == CLIP_DIFFUSE
                        else self._chunk, n_clips=self._n_chunks,
                        item=min(max(1, self._item), self.n_items), n_items=self.n_items,
                        eta_seconds=self._eta(), detail=self._detail, step=self._step,
                        n_steps=self._n_steps)
