"""The single source of truth: opening the SQLite file, and the Store that answers for it.

Why SQLite with WAL and a busy timeout: the app, its scheduler thread and separate
`cosmos worker` processes all read and write the same file; WAL lets readers (the UI) never
block the writer (the executor), and the busy timeout turns brief write contention into a
short wait instead of an error. Every status change is a conditional UPDATE, so two workers
can never both move the same run.

The Store is assembled from one module per concern (runs, logs, claims, catalog, reviews,
fleet); all SQL of the app lives in this package. Writes that change what people see publish
an event (backend/events) from here, inside their transaction: no call site can forget.
"""

from __future__ import annotations

import logging
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from backend.events.bus import EventBus
from backend.events.types import Event
from backend.store import events as outbox
from backend.store.catalog import CatalogStore
from backend.store.claims import ClaimStore
from backend.store.fleet import FleetStore
from backend.store.history import HistoryStore
from backend.store.logs import LogStore
from backend.store.models import db
from backend.store.notes import NoteStore
from backend.store.review_links import ReviewLinkStore
from backend.store.reviews import ReviewStore
from backend.store.runs import RunStore
from backend.store.schema import current_version, migrate
from backend.store.sweeps import SweepStore
from backend.store.usage import UsageStore
from backend.store.versions import VersionStore
from backend.store.webhooks import WebhookStore

log = logging.getLogger(__name__)


class Store(RunStore, LogStore, ClaimStore, HistoryStore, CatalogStore, ReviewStore,
            FleetStore, UsageStore, VersionStore, NoteStore, ReviewLinkStore, SweepStore,
            WebhookStore):
    """Opens the database and answers every question the app asks of it.

    One Store per process (Peewee models bind to a module-level database); connections are
    per thread, so the scheduler thread and UI handlers never share a cursor. `bus` is the
    process's event bus; the store is its outbox.
    """

    _init_lock = threading.Lock()

    def __init__(self, path: str | Path, bus: EventBus | None = None) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.bus = bus or EventBus()
        self.bus.outbox = self
        self._pending = threading.local()
        with self._init_lock:
            if not db.is_closed():
                db.close()
            db.init(
                str(self.path),
                pragmas={
                    "journal_mode": "wal",
                    "foreign_keys": 1,
                    "busy_timeout": 30000,
                    "synchronous": "normal",
                },
                check_same_thread=False,
            )
            migrate(self.path)

    def schema_version(self) -> int:
        return current_version()

    def close(self) -> None:
        if not db.is_closed():
            db.close()

    # -- writing and publishing ---------------------------------------------------------------
    @contextmanager
    def writing(self) -> Iterator[None]:
        """A write transaction (IMMEDIATE: take the write lock up front, no upgrade deadlock).

        Events emitted inside are delivered to this process's subscribers once the outermost
        transaction has committed (so a subscriber reading the store sees the change), and
        dropped with it if it rolls back.
        """
        outer = not db.in_transaction()
        if outer:
            self._pending.events = []
        try:
            with db.atomic("IMMEDIATE"):
                yield
        except BaseException:
            if outer:
                self._pending.events = []
            raise
        if outer:
            events, self._pending.events = self._pending.events, []
            if events:
                self.bus.deliver(events)

    def emit(self, event: Event) -> None:
        """Record an event in the outbox; call inside `writing()`."""
        outbox.insert(event, self.bus.origin)
        pending = getattr(self._pending, "events", None)
        if pending is None:  # emitted outside writing(): deliver after this statement
            self.bus.deliver([event])
        else:
            pending.append(event)

    def record(self, event: Event) -> None:
        """The bus's Outbox: publish an event that has no state change of its own."""
        with self.writing():
            self.emit(event)
