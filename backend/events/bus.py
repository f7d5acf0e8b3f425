"""Publish/subscribe for what happens to runs and hosts, within a process and across them.

Why a bus: log streaming, progress, telemetry, notifications and the scheduler's wake-up are
cross-cutting; publishers emit where the state changes and whoever cares subscribes, instead
of flags threaded through layers or timers that re-query everything.

How events cross processes (the app, `cosmos worker`s, the CLI share one SQLite file): the
store writes each event into its `event` table (the outbox) in the same transaction as the
change it describes, then hands it to this process's bus once committed. Every process runs a
`Relay` (relay.py) that notices other processes' commits with `PRAGMA data_version` and
delivers their new outbox rows here. So a subscriber sees every event of every process, its
own at once and others' within a few milliseconds, always after the change is readable.
"""

from __future__ import annotations

import logging
import queue
import threading
import uuid
from typing import TYPE_CHECKING, Any, Callable, Collection, Iterable, Protocol

from backend.events.types import Event

if TYPE_CHECKING:  # asyncio loads with the web app's push streams, not for every CLI start
    import asyncio

log = logging.getLogger(__name__)

Subscriber = Callable[[Event], None]


class Outbox(Protocol):
    """Where published events are made durable and visible to other processes (the store)."""

    def record(self, event: Event) -> None: ...


class _Subscription:
    __slots__ = ("callback", "kinds", "run_id")

    def __init__(self, callback: Subscriber, kinds: Collection[str] | None,
                 run_id: str | None) -> None:
        self.callback = callback
        self.kinds = frozenset(kinds) if kinds else None
        self.run_id = run_id

    def wants(self, event: Event) -> bool:
        return ((self.kinds is None or event.kind in self.kinds)
                and (self.run_id is None or event.run_id == self.run_id))


class EventBus:
    """One per process. `origin` names it in the outbox so its relay skips its own events."""

    def __init__(self, origin: str | None = None) -> None:
        self.origin = origin or uuid.uuid4().hex[:16]
        self.outbox: Outbox | None = None
        self._subscriptions: list[_Subscription] = []
        self._lock = threading.Lock()

    # -- subscribing --------------------------------------------------------------------------
    def subscribe(self, callback: Subscriber, kinds: Collection[str] | None = None,
                  run_id: str | None = None) -> Callable[[], None]:
        """Call `callback(event)` for matching events (in the publisher's or relay's thread, so
        it must be quick: set a flag, put in a queue). Returns the unsubscribe function."""
        sub = _Subscription(callback, kinds, run_id)
        with self._lock:
            self._subscriptions.append(sub)

        def unsubscribe() -> None:
            with self._lock:
                if sub in self._subscriptions:
                    self._subscriptions.remove(sub)

        return unsubscribe

    def listen(self, kinds: Collection[str] | None = None,
               run_id: str | None = None) -> "Listener":
        """A blocking queue of matching events, for threads that wait for change."""
        return Listener(self, kinds, run_id)

    def listen_async(self, loop: asyncio.AbstractEventLoop,
                     kinds: Collection[str] | None = None,
                     run_id: str | None = None) -> "AsyncListener":
        """An asyncio queue of matching events, for the UI's push streams."""
        return AsyncListener(self, loop, kinds, run_id)

    # -- publishing ---------------------------------------------------------------------------
    def publish(self, event: Event) -> None:
        """Make `event` known everywhere: through the outbox when there is one (the store
        delivers it here after its transaction commits), else to this process only."""
        if self.outbox is not None:
            self.outbox.record(event)
        else:
            self.deliver([event])

    def deliver(self, events: Iterable[Event]) -> None:
        """Hand events to this process's subscribers (the store and the relay call this)."""
        with self._lock:
            subscriptions = list(self._subscriptions)
        for event in events:
            for sub in subscriptions:
                if not sub.wants(event):
                    continue
                try:
                    sub.callback(event)
                except Exception:  # a broken subscriber must never stop a run
                    log.exception("event subscriber failed on %s for %s", event.kind,
                                  event.run_id or "a host")


class Listener:
    """Events for one waiting thread; `close()` (or a `with` block) unsubscribes."""

    def __init__(self, bus: EventBus, kinds: Collection[str] | None,
                 run_id: str | None) -> None:
        self._queue: queue.SimpleQueue[Event] = queue.SimpleQueue()
        self._unsubscribe = bus.subscribe(self._queue.put, kinds, run_id)

    def get(self, timeout: float | None) -> Event | None:
        """The next event, or None after `timeout` seconds without one."""
        try:
            return self._queue.get(timeout=timeout)
        except queue.Empty:
            return None

    def drain(self) -> list[Event]:
        """Every event already waiting (never blocks)."""
        events = []
        while True:
            try:
                events.append(self._queue.get_nowait())
            except queue.Empty:
                return events

    def wait(self, timeout: float | None) -> list[Event]:
        """Block until at least one event arrives (or the timeout), then take all waiting."""
        first = self.get(timeout)
        return [first, *self.drain()] if first is not None else []

    def close(self) -> None:
        self._unsubscribe()

    def __enter__(self) -> "Listener":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class AsyncListener:
    """Events for one asyncio consumer (a page's push stream); thread-safe to feed."""

    def __init__(self, bus: EventBus, loop: asyncio.AbstractEventLoop,
                 kinds: Collection[str] | None, run_id: str | None) -> None:
        import asyncio

        self._loop = loop
        self._queue: asyncio.Queue[Event | None] = asyncio.Queue()
        self._unsubscribe = bus.subscribe(self._feed, kinds, run_id)

    def _feed(self, event: Event | None) -> None:
        try:
            self._loop.call_soon_threadsafe(self._queue.put_nowait, event)
        except RuntimeError:  # the loop is closed: the page is gone
            self._unsubscribe()

    def nudge(self) -> None:
        """Wake the consumer now with no event (thread-safe): something else changed."""
        self._feed(None)

    async def wait(self, timeout: float) -> list[Event]:
        """The next events (all waiting once one arrives), or [] after `timeout` seconds or
        a nudge."""
        import asyncio

        try:
            first = await asyncio.wait_for(self._queue.get(), timeout)
        except asyncio.TimeoutError:
            return []
        events = [first] if first is not None else []
        while not self._queue.empty():
            item = self._queue.get_nowait()
            if item is not None:
                events.append(item)
        return events

    def drain(self) -> list[Event]:
        """Every event already waiting (never blocks; nudges are dropped)."""
        events = []
        while not self._queue.empty():
            item = self._queue.get_nowait()
            if item is not None:
                events.append(item)
        return events

    def close(self) -> None:
        self._unsubscribe()
