"""In-process publish/subscribe for things that happen to runs.

The executor publishes (status changed, log lines stored, progress moved); anything that wants
to react subscribes, instead of a flag threaded through every layer. The store stays the source
of truth: an event says "look again", it never carries state a subscriber must keep.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Any, Callable

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Event:
    kind: str  # "status" | "log" | "progress" | "transfer"
    run_id: str
    data: dict[str, Any] = field(default_factory=dict)


Subscriber = Callable[[Event], None]


class EventBus:
    def __init__(self) -> None:
        self._subscribers: list[Subscriber] = []
        self._lock = threading.Lock()
        self._changed = threading.Condition()
        self._version = 0

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Register a callback; returns a function that unsubscribes it."""
        with self._lock:
            self._subscribers.append(callback)

        def unsubscribe() -> None:
            with self._lock:
                if callback in self._subscribers:
                    self._subscribers.remove(callback)

        return unsubscribe

    def publish(self, kind: str, run_id: str, **data: Any) -> None:
        event = Event(kind, run_id, data)
        with self._lock:
            subscribers = list(self._subscribers)
        for callback in subscribers:
            try:
                callback(event)
            except Exception:  # a broken subscriber must never stop a run
                log.exception("event subscriber failed on %s for run %s", kind, run_id)
        with self._changed:
            self._version += 1
            self._changed.notify_all()

    def wait_for_change(self, since: int, timeout: float) -> int:
        """Block until something is published after version `since` (or timeout)."""
        with self._changed:
            self._changed.wait_for(lambda: self._version != since, timeout=timeout)
            return self._version

    @property
    def version(self) -> int:
        return self._version
