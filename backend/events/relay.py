"""Brings other processes' events to this one: the cross-process half of the event bus.

Why `PRAGMA data_version`: SQLite bumps it on a connection whenever ANOTHER connection (any
thread or process) commits to the file, and reading it costs a few microseconds and no I/O in
WAL mode. So the relay checks it every few milliseconds and reads the outbox (`event` table)
only after something was committed; a quiet database costs next to nothing. The outbox row is
written in the same transaction as the change it describes, so an event is never delivered
before its change can be read. This process's own events are skipped (the store delivered
them at commit). Old rows are pruned here too: the outbox is a notice board, not a history.

Alternatives considered: a local socket per process (needs discovery and fails across machines
sharing a database over NFS, which SQLite does not support anyway) and a notify file (inotify
does not see other hosts' writes either, and adds a second channel to keep in step). The
outbox keeps one source of truth and works with any number of processes.
"""

from __future__ import annotations

import json
import logging
import threading
import time

from backend.events.bus import EventBus
from backend.events.types import decode

log = logging.getLogger(__name__)

#: How often data_version is read (the cross-process latency floor).
CHECK_EVERY = 0.005
#: Outbox rows older than this are removed (a process down longer re-reads the store anyway).
RETENTION_SECONDS = 600.0
PRUNE_EVERY = 30.0


class Relay:
    """One thread per process: outbox rows from other processes -> this process's bus."""

    def __init__(self, outbox, bus: EventBus, *, check_every: float = CHECK_EVERY) -> None:
        self.outbox = outbox  # backend.store.events (module) or anything with its functions
        self.bus = bus
        self.check_every = check_every
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.delivered = 0

    def start(self) -> "Relay":
        self._last_id = self.outbox.last_event_id()
        self._thread = threading.Thread(target=self._loop, name="event-relay", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 2.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _loop(self) -> None:
        version = None
        next_prune = time.monotonic() + PRUNE_EVERY
        while not self._stop.wait(self.check_every):
            try:
                now_version = self.outbox.data_version()
                if now_version != version:
                    version = now_version
                    self._relay_new()
                if time.monotonic() >= next_prune:
                    next_prune = time.monotonic() + PRUNE_EVERY
                    self.outbox.prune_events(time.time() - RETENTION_SECONDS)
            except Exception:  # a locked or closed database: try again next round
                log.debug("event relay round failed", exc_info=True)
                self._stop.wait(0.2)
        self.outbox.close_thread_connection()

    def _relay_new(self) -> None:
        while True:
            rows = self.outbox.events_after(self._last_id, limit=500)
            if not rows:
                return
            events = []
            for row_id, origin, kind, run_id, data in rows:
                self._last_id = row_id
                if origin == self.bus.origin:
                    continue
                event = decode(kind, run_id, json.loads(data or "{}"))
                if event is not None:
                    events.append(event)
            if events:
                self.delivered += len(events)
                self.bus.deliver(events)
            if len(rows) < 500:
                return
