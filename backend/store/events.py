"""The outbox: every published event as a row, for the other processes' relays.

Writes happen inside the store's own transactions (Store.emit), so an event commits with the
change it describes; the reads below are the relay's (backend/events/relay.py).
"""

from __future__ import annotations

import json
import time

from backend.events.types import Event
from backend.store.models import EventRecord, db


def insert(event: Event, origin: str) -> None:
    EventRecord.insert(at=time.time(), origin=origin, kind=event.kind, run_id=event.run_id,
                       data=json.dumps(event.data, separators=(",", ":"))).execute()


def last_event_id() -> int:
    row = db.execute_sql("SELECT max(id) FROM event").fetchone()
    return int(row[0] or 0)


def events_after(after_id: int, limit: int = 500) -> list[tuple[int, str, str, str, str]]:
    """(id, origin, kind, run_id, data) of the rows after `after_id`, oldest first."""
    return db.execute_sql("SELECT id, origin, kind, run_id, data FROM event WHERE id > ? "
                          "ORDER BY id LIMIT ?", (after_id, limit)).fetchall()


def data_version() -> int:
    """Changes when another connection commits (SQLite's own cheap change counter)."""
    return int(db.execute_sql("PRAGMA data_version").fetchone()[0])


def prune_events(before: float) -> int:
    """Remove rows older than `before`, but never the newest (ids must keep growing)."""
    with db.atomic("IMMEDIATE"):
        return (EventRecord.delete()
                .where((EventRecord.at < before) & (EventRecord.id < last_event_id()))
                .execute())


def close_thread_connection() -> None:
    if not db.is_closed():
        db.close()
