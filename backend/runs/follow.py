"""Following a running job: its log streamed as it is written, its end noticed when it happens.

Three things happen at once while a job runs, none waiting on another:
  * the log is streamed over the open connection (`tail -F` from the stored byte offset,
    backend/remote/tail.py; over SSH on a stream lane, so it never takes a short command's
    session) and
    every complete line is stored with the offset after it, in one transaction, on every run
    of the job, so a line reaches the store (and, by its event, the browser) within
    milliseconds, and a restart resumes exactly where the store says;
  * the engine waits for the job's end (`docker wait`, or Slurm's queue), in its own thread;
  * a kill request (a `cancel` event from any process, or the stored flag) is carried out in
    its own thread, since a graceful stop can take the whole grace period.
When the job has ended, whatever the stream had not yet delivered is read from the stored
offset, and the runs move to `collecting`.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from typing import Any

from backend.events.types import CancelRequested
from backend.hosts.kind import Cancel
from backend.hosts.runtime import HostRuntime
from backend.models.profile import Tracker, get_profile
from backend.remote.docker import ContainerState
from backend.remote.shell import RemoteError
from backend.remote.tail import follow_argv
from backend.runs.job import Job
from backend.runs.plan import parse_kill_request
from backend.store.models import COLLECTING, PENDING, RUNNING

log = logging.getLogger(__name__)

_LINE_SPLIT = re.compile(rb"\r\n|\r|\n")
#: How long one read of the log stream may block before the follower looks around (kill
#: requests arrive as events and wake it sooner; this bounds the stored-flag fallback).
LOOK_EVERY = 1.0
#: The most bytes one final read takes (it is repeated until the log is drained).
READ_CHUNK = 4 << 20


def complete_lines(data: bytes, offset: int, final: bool) -> tuple[list[tuple[int, str]], int]:
    """The non-blank lines in `data` (read from byte `offset` of a log) and the bytes used.

    `\\r` ends a line too (tqdm redraws its bar with it). Unless `final`, a trailing partial
    line is left for the next read, and so is a lone trailing `\\r` (it may be half of
    `\\r\\n`: the line before it is stored, the `\\r` is read again with what follows).
    """
    if not final:
        cut = max(data.rfind(b"\n"), data.rfind(b"\r"))
        if cut >= 0 and data[cut:cut + 1] == b"\r" and cut == len(data) - 1:
            cut -= 1
        data = data[:cut + 1] if cut >= 0 else b""
    lines: list[tuple[int, str]] = []
    pos = 0
    for match in _LINE_SPLIT.finditer(data):
        lines.append((offset + pos, data[pos:match.start()].decode("utf-8", "replace")))
        pos = match.end()
    if pos < len(data):  # the final partial line, when `final`
        lines.append((offset + pos, data[pos:].decode("utf-8", "replace")))
        pos = len(data)
    return [(off, text) for off, text in lines if text.strip()], pos


class ExitWatch:
    """Waits in its own thread for the job's end; `on_end` is called when it comes."""

    def __init__(self, engine: Any, name: str, on_end) -> None:
        self.cancel = Cancel()
        self.state: ContainerState | None = None
        self.error: Exception | None = None
        self.ended = threading.Event()
        self._engine, self._name, self._on_end = engine, name, on_end
        self._thread = threading.Thread(target=self._run, daemon=True, name=f"exit-{name}")
        self._thread.start()

    def _run(self) -> None:
        try:
            self.state = self._engine.wait_exit(self._name, self.cancel)
            if not self.cancel.cancelled:
                self.ended.set()
        except Exception as exc:  # handed to the follower, which retries or fails the job
            self.error = exc
        finally:
            self._on_end()

    def close(self) -> None:
        self.cancel.cancel()


class Follower:
    def __init__(self, store: Any, runtime: HostRuntime, kill_grace: int) -> None:
        self.store = store
        self.rt = runtime
        self.kill_grace = kill_grace

    def follow(self, job: Job) -> None:
        """Store the job's log as it comes until the job ends; then its runs are collecting.

        RemoteError (the box went away) propagates with nothing half-stored: the caller
        follows again later from the stored offset.
        """
        runs = job.with_status(RUNNING, PENDING)
        if not runs:
            return
        tracker = get_profile(runs[0].model).progress_tracker(
            n_items=len(job.runs) if job.is_batch else 1)
        tracker.feed_all(self.store.log_text(runs[0].id))  # progress so far, after a restart
        log_path = f"{self.rt.run_dir(job.id)}/run.log"
        ids = {r.id for r in runs}
        listener = self.store.bus.listen(kinds=(CancelRequested.KIND,))
        stream = self.rt.shell.open_stream(follow_argv(log_path, runs[0].log_offset))
        watch = ExitWatch(self.rt.engine, job.name, stream.wake)
        offset = runs[0].log_offset
        pending = b""
        killing = False
        next_look = 0.0
        try:
            while True:
                data = stream.read(LOOK_EVERY)
                if data is None and not watch.ended.is_set() and watch.error is None:
                    raise RemoteError(f"the log stream of {job.name} on {self.rt.host.name} "
                                      "ended while the job runs")
                if data:
                    pending += data
                    lines, used = complete_lines(pending, offset, final=False)
                    if used:
                        self._store(runs, lines, offset, offset + used, tracker)
                        offset += used
                        pending = pending[used:]
                wanted = any(e.run_id in ids for e in listener.drain())
                if not killing and (wanted or time.monotonic() >= next_look):
                    next_look = time.monotonic() + LOOK_EVERY
                    request = self._kill_request(job)
                    if request is not None:
                        killing = True
                        self._start_kill(job.name, request)
                if watch.error is not None:
                    raise watch.error
                if watch.ended.is_set():
                    break
        finally:
            stream.close()
            watch.close()
            listener.close()
        self._drain(runs, log_path, tracker)
        state = watch.state
        for run in runs:
            self.store.transition(run.id, COLLECTING, expect=(RUNNING, PENDING),
                                  note="container exited" if state else "container vanished",
                                  exit_code=state.exit_code if state else None)

    # -- storing ------------------------------------------------------------------------------
    def _store(self, runs: list, lines: list[tuple[int, str]], start: int, end: int,
               tracker: Tracker) -> None:
        """The same lines on every run of the job, each only if it is still at `start`."""
        for _, text in lines:
            tracker.feed(text)
        progress = tracker.progress.to_dict()
        for run in runs:
            self.store.append_log(run.id, lines, end, progress=progress, expect_offset=start)

    def _drain(self, runs: list, log_path: str, tracker: Tracker) -> None:
        """Read what the stream had not delivered, from the stored offset, to the end."""
        while True:
            offset = self.store.get_run(runs[0].id).log_offset
            data = self.rt.shell.read_from(log_path, offset, READ_CHUNK)
            final = len(data) < READ_CHUNK
            lines, used = complete_lines(data, offset, final=final)
            if used:
                self._store(runs, lines, offset, offset + used, tracker)
            if final or not used:
                return

    # -- killing ------------------------------------------------------------------------------
    def _kill_request(self, job: Job) -> tuple[bool, int] | None:
        for run in job.runs:
            fresh = self.store.get_run(run.id)
            if fresh is not None and fresh.cancel_requested:
                return parse_kill_request(fresh.cancel_requested, self.kill_grace)
        return None

    def _start_kill(self, name: str, request: tuple[bool, int]) -> None:
        force, grace = request
        engine = self.rt.engine

        def stop() -> None:
            try:
                result = engine.kill(name) if force else engine.stop(name, grace)
                if not result.ok:
                    log.warning("stopping %s: %s", name, result.err.strip())
            except Exception:
                log.exception("stopping %s failed", name)

        threading.Thread(target=stop, daemon=True, name=f"kill-{name}").start()
