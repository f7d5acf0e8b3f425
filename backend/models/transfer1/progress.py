"""Cosmos' log, line by line, into a progress value the store and the UI can show.

Cosmos has no progress API: loguru markers on stdout (contract §5.3) say which stage runs, a
tqdm bar on stderr ticks once per 121-frame clip, and nothing ticks inside a clip. So the
tracker maps markers to phases, counts clips, and estimates time from finished clips.

The streams are messy, and the parser tolerates that:
- `[rankN]:` prefixes (torchrun) and ANSI colours (a TTY) are stripped;
- a loguru message may be a multi-line JSON dump: the continuation lines are not records;
- tqdm writes `\\r`-separated updates without a newline, so a stdout record can land on the
  same physical line right after a bar;
- with N GPUs every rank prints its own bar: bars are read as "clips finished so far" (max),
  never counted, so N bars do not count N times; records from ranks other than 0 are ignored.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable

from backend.models.loguru import (_FRAMES, _LOGURU, LogRecord, _log_seconds,  # noqa: F401
                                   clean_line, parse_bar, parse_loguru, strip_ansi,
                                   strip_rank_prefix)
from backend.models.results import public_detail
from backend.models.results import (CLIP_DECODE, CLIP_DIFFUSE, CLIP_ENCODE, DONE,  # noqa: F401
                                    GUARDRAIL, LOADING, PHASES, PREPROCESSING, SAVING, STARTING,
                                    TEXT_ENCODING, UPSAMPLING, Progress)

CLIP_PHASES = (CLIP_ENCODE, CLIP_DIFFUSE, CLIP_DECODE)

#: Share of the whole run per stage (sums to 1). Loading a 7B model plus T5 and the guardrail
#: dominates the start; diffusion dominates each clip.
LOAD_WEIGHT, TEXT_WEIGHT, CLIPS_WEIGHT, SAVE_WEIGHT = 0.30, 0.05, 0.60, 0.05
#: Where each clip sub-phase starts and ends inside one clip's share.
CLIP_SUB = {CLIP_ENCODE: (0.0, 0.05), CLIP_DIFFUSE: (0.05, 0.95), CLIP_DECODE: (0.95, 1.0)}
#: Frames each new clip adds (121-frame clips overlapping by one frame).
FRAMES_PER_CLIP = 120


def clips_for_frames(total_frames: int) -> int:
    """Clips Cosmos runs for T frames: 121-frame clips, each new one adding 120 frames."""
    return max(1, math.ceil((total_frames - 1) / FRAMES_PER_CLIP))


# -- the tracker ------------------------------------------------------------------------------
#: Message prefix -> phase, for markers that only move the phase.
_PHASE_MARKERS: tuple[tuple[str, str], ...] = (
    ("control_inputs:", STARTING), ("args in json:", STARTING), ("final args:", STARTING),
    ("No checkpoint path specified", STARTING), ("Using default checkpoint path", STARTING),
    ("No control weight specified", STARTING), ("Using random seed", STARTING),
    ("Initialized distributed training", STARTING), ("Training with", STARTING),
    ("Start creating base model", LOADING), ("Done creating base model", LOADING),
    ("Start creating ctrlnet model", LOADING), ("Done creating ctrlnet model", LOADING),
    ("Loading base model checkpoint", LOADING), ("Complete loading base model", LOADING),
    ("Done loading the base model", LOADING), ("Loading ctrl model", LOADING),
    ("Upsampling prompt", UPSAMPLING), ("Upsampled prompt", UPSAMPLING),
    ("Running batch generation", TEXT_ENCODING), ("Running guardrail checks on all prompts",
                                                  TEXT_ENCODING),
    ("Running text embedding", TEXT_ENCODING), ("Starting T5 compute", TEXT_ENCODING),
    ("Completed T5 compute", TEXT_ENCODING), ("Finish text embedding", TEXT_ENCODING),
    ("Run generation", TEXT_ENCODING),
    ("Starting data augmentation", PREPROCESSING), ("Completed data augmentation", PREPROCESSING),
    ("Run guardrail on generated videos", GUARDRAIL),
)
#: Fraction reached at each loading marker (inside the first LOAD_WEIGHT of the run).
_LOAD_POINTS = {
    "Start creating base model": 0.02, "Done creating base model": 0.06,
    "Start creating ctrlnet model": 0.06, "Done creating ctrlnet model": 0.10,
    "Loading base model checkpoint": 0.10, "Complete loading base model": 0.20,
    "Done loading the base model": 0.21, "Loading ctrl model": 0.22,
}


class ProgressTracker:
    """Feed it every log line in order; it keeps the latest Progress.

    Time: `feed(line, now)` takes the caller's clock (e.g. time.time()). Without `now`, the
    tracker uses the log's own timestamps, which also keeps estimates right when a backlog is
    replayed after a restart. Pass `now` always or never. Clip durations are measured from log
    timestamps whenever both ends have one, since those do not depend on when we read the log.
    """

    def __init__(self, n_items: int = 1) -> None:
        self.n_items = max(1, int(n_items))
        self.last_record: LogRecord | None = None
        self._phase = STARTING
        self._detail = ""
        self._fraction = 0.0
        self._total_frames: int | None = None
        self._n_clips: int | None = None
        self._clips_done = 0
        self._in_clip = False
        self._in_loop = False
        self._items_done = 0
        self._item_saved = False
        self._clock: float | None = None
        self._log_time: float | None = None
        self._clip_start_clock: float | None = None
        self._clip_start_log: float | None = None
        self._durations: list[float] = []
        self._last_sent: Progress | None = None
        self._progress = Progress(n_items=self.n_items)

    # -- public -------------------------------------------------------------------------------
    @property
    def progress(self) -> Progress:
        """The latest Progress (eta as of the last line fed)."""
        return self._progress

    def feed(self, line: str, now: float | None = None) -> Progress | None:
        """Read one line (which may hold several `\\r` bar updates); the new Progress if it
        changed (ignoring the ETA's drift with time), else None."""
        if now is not None:
            self._clock = now
        for segment in line.rstrip("\n").split("\r"):
            if segment.strip():
                self._feed_segment(segment, now)
        self._progress = self.snapshot(self._clock)
        comparable = dataclasses.replace(self._progress, eta_seconds=None)
        if comparable == self._last_sent:
            return None
        self._last_sent = comparable
        return self._progress

    def feed_all(self, lines: Iterable[str], now: float | None = None) -> Progress:
        for line in lines:
            self.feed(line, now)
        return self._progress

    def snapshot(self, now: float | None = None) -> Progress:
        """The current Progress; with `now`, the fraction inside a clip moves with time."""
        clip = min(self._clips_done + 1, self._n_clips or self._clips_done + 1) \
            if (self._in_clip or self._in_loop or self._clips_done) else 0
        return Progress(
            phase=self._phase, fraction=round(max(self._fraction, self._timed_fraction(now)), 4),
            clip=clip, clips_done=self._clips_done, n_clips=self._n_clips,
            total_frames=self._total_frames,
            item=min(self._items_done + 1, self.n_items), n_items=self.n_items,
            eta_seconds=self.eta_seconds(now), detail=self._detail)

    def eta_seconds(self, now: float | None = None) -> float | None:
        """Seconds left, from the mean time of finished clips; None until one clip finished."""
        if self._phase == DONE:
            return 0.0
        if not self._durations:
            return None
        mean = sum(self._durations) / len(self._durations)
        n_clips = self._n_clips or max(1, self._clips_done)
        if self._item_saved:  # between batch items: the current one is finished
            left_here, later = 0.0, self.n_items - self._items_done
        else:
            left_here = max(0, n_clips - self._clips_done) * mean
            later = self.n_items - self._items_done - 1
            if self._in_clip and now is not None and self._clip_start_clock is not None:
                left_here -= min(max(0.0, now - self._clip_start_clock), mean * 0.99)
        return round(max(0.0, left_here) + max(0, later) * n_clips * mean, 1)

    # -- internals ----------------------------------------------------------------------------
    def _feed_segment(self, segment: str, now: float | None) -> None:
        text = strip_ansi(segment)
        match = _LOGURU.search(text)
        # A bar can only precede a record on one physical line (tqdm writes no newline).
        bar = parse_bar(text[:match.start()] if match else text)
        if bar is not None:
            self._on_bar(*bar)
        record = parse_loguru(text) if match else None
        if record is None:
            return  # a continuation line, a traceback, a warning: not a marker
        self.last_record = record
        if record.rank not in (None, 0):
            return  # rank 0 prints everything we need; other ranks would double count
        stamp = _log_seconds(record.timestamp)
        if stamp is not None:
            if self._log_time is not None and stamp < self._log_time - 180 * 86400:
                stamp += 366 * 86400  # the log crossed new year
            self._log_time = stamp
            if now is None:
                self._clock = stamp
        self._on_message(record.message)

    def _on_bar(self, desc: str, n: int, total: int) -> None:
        # Only the clip loop's bar (no description, inside the generation loop) counts; model
        # loading and preprocessors print bars of their own.
        if desc or not self._in_loop or total <= 0:
            return
        if self._n_clips is None:
            self._n_clips = total
        elif total != self._n_clips:
            return
        if n > self._clips_done:
            self._finish_clip(min(n, total))

    def _on_message(self, msg: str) -> None:
        if msg.startswith(("running preprocessor", "no input_control provided")):
            if self._item_saved:  # the next batch item starts
                self._start_item()
            self._set(PREPROCESSING, msg, LOAD_WEIGHT * 0.85 if self._items_done == 0 else None)
            return
        frames = _FRAMES.search(msg)
        if frames:
            self._total_frames = int(frames.group(1))
            self._n_clips = clips_for_frames(self._total_frames)
            self._in_loop = True
            self._set(PREPROCESSING, msg, self._item_point(TEXT_WEIGHT))
            return
        if msg.startswith("Starting latent encoding"):
            self._in_loop = True
            if not (self._in_clip and self._phase == CLIP_ENCODE):  # a repeat is not a new clip
                if self._in_clip:
                    self._finish_clip(self._clips_done + 1)
                self._in_clip = True
                self._clip_start_clock = self._clock
                self._clip_start_log = self._log_time
            self._set(CLIP_ENCODE, msg, self._clip_point(CLIP_ENCODE, 0.0))
            return
        for prefix, phase, at_end in (
                ("Completed latent encoding", CLIP_ENCODE, True),
                ("Starting diffusion sampling", CLIP_DIFFUSE, False),
                ("Completed diffusion sampling", CLIP_DIFFUSE, True),
                ("Starting VAE decode", CLIP_DECODE, False)):
            if msg.startswith(prefix):
                self._in_clip = True
                self._set(phase, msg, self._clip_point(phase, 1.0 if at_end else 0.0))
                return
        if msg.startswith("Completed VAE decode"):
            if self._in_clip:
                self._finish_clip(self._clips_done + 1)
            self._set(CLIP_DECODE, msg, None)
            return
        if msg.startswith("Finish generation"):
            self._in_loop = False
            if self._n_clips and self._clips_done < self._n_clips:
                self._clips_done = self._n_clips
            self._in_clip = False
            self._set(GUARDRAIL, msg, self._item_point(TEXT_WEIGHT + CLIPS_WEIGHT))
            return
        if msg.startswith("Saved video to"):
            self._set(SAVING, msg, self._item_point(TEXT_WEIGHT + CLIPS_WEIGHT + SAVE_WEIGHT / 2))
            return
        if msg.startswith("Saved prompt to"):
            self._item_saved = True
            self._items_done = min(self.n_items, self._items_done + 1)
            last = self._items_done >= self.n_items
            self._set(DONE if last else SAVING, msg, 1.0 if last else self._item_point(0.0))
            return
        for prefix, phase in _PHASE_MARKERS:
            if msg.startswith(prefix):
                point = None
                if phase == LOADING:
                    point = next((v for k, v in _LOAD_POINTS.items() if msg.startswith(k)), None)
                elif phase == TEXT_ENCODING:
                    point = self._item_point(0.0)
                elif phase == GUARDRAIL:
                    point = self._item_point(TEXT_WEIGHT + CLIPS_WEIGHT)
                self._set(phase, msg, point)
                return

    def _start_item(self) -> None:
        self._item_saved = False
        self._n_clips = None
        self._total_frames = None
        self._clips_done = 0
        self._in_clip = False
        self._in_loop = False

    def _finish_clip(self, done: int) -> None:
        """Clips up to `done` have finished; the first finish of a clip records its duration."""
        if done <= self._clips_done:
            return
        if self._in_clip:
            duration = None
            if self._clip_start_log is not None and self._log_time is not None:
                duration = self._log_time - self._clip_start_log
            elif self._clip_start_clock is not None and self._clock is not None:
                duration = self._clock - self._clip_start_clock
            if duration is not None and duration >= 0:
                self._durations.append(duration / max(1, done - self._clips_done))
        self._clips_done = done
        self._in_clip = False
        if self._n_clips is not None and self._clips_done > self._n_clips:
            self._n_clips = self._clips_done
        self._fraction = max(self._fraction, self._item_point(
            TEXT_WEIGHT + CLIPS_WEIGHT * self._clips_done / (self._n_clips or self._clips_done)))

    def _set(self, phase: str, detail: str, point: float | None) -> None:
        self._phase = phase
        self._detail = public_detail(detail)
        if point is not None:
            self._fraction = max(self._fraction, min(1.0, point))

    def _item_point(self, within: float) -> float:
        """Run fraction at `within` (0..0.7, in run-weight units) of the current batch item."""
        share = (1.0 - LOAD_WEIGHT) / self.n_items
        return LOAD_WEIGHT + share * self._items_done + share * within / (1.0 - LOAD_WEIGHT)

    def _clip_point(self, phase: str, at: float) -> float:
        start, end = CLIP_SUB[phase]
        sub = start + (end - start) * at
        n = max(self._n_clips or 1, self._clips_done + 1)
        return self._item_point(TEXT_WEIGHT + CLIPS_WEIGHT * (self._clips_done + sub) / n)

    def _timed_fraction(self, now: float | None) -> float:
        """Inside a diffusion phase, move with time at the speed of the finished clips."""
        if (now is None or self._phase != CLIP_DIFFUSE or not self._durations
                or self._clip_start_clock is None):
            return 0.0
        mean = sum(self._durations) / len(self._durations)
        elapsed = max(0.0, now - self._clip_start_clock)
        start, end = CLIP_SUB[CLIP_DIFFUSE]
        within = min(0.99, elapsed / mean) if mean > 0 else 0.0
        sub = max(start, min(end, within))
        n = max(self._n_clips or 1, self._clips_done + 1)
        return self._item_point(TEXT_WEIGHT + CLIPS_WEIGHT * (self._clips_done + sub) / n)
