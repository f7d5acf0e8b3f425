"""The page's push channel: what changes on the server reaches the open page at once.

Why one stream per page: a timer that re-queries everything several times a second costs
every open tab CPU and still shows a log line up to a tick late. Instead each page runs one
async generator event (started on load, restarted by a slow watchdog tick if its connection
ever dropped) that waits on this process's event bus, which hears every process's events
(backend/events). When an event concerns the page, the stream yields:
  * the run view's own outputs (log lines, progress, status), read from the store right away;
  * a bump of a view's hidden "signal" (runs table, gallery, hosts, notifications), whose
    `.change` re-renders that view with the page's own inputs (filters, page, picks).

Per-page state the stream needs (the selected run, the active tab, the log cursor) is kept
here, on the server, keyed by Gradio's session hash, and updated by the page's handlers.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import gradio as gr

from backend.events.types import Event

log = logging.getLogger(__name__)

#: The longest a stream waits without yielding (Gradio notices a closed page only on yield).
HEARTBEAT = 5.0
#: The shortest time between two messages to one page. Each message costs the page's renderer
#: a walk of every component an event ever wrote (Gradio's loading-status pass: about 100 ms
#: of CPU for this app). Events arriving in a burst (a log chunk, its progress, a status) are
#: sent as one message; measured on 2 loaded cores, an unthrottled stream of 2-3 messages a
#: second left the page 17 s behind, its renderer never idle.
MIN_GAP = 0.25
#: A page whose stream is not running restarts it on this tick (a dropped connection).
WATCHDOG_SECONDS = 10.0


@dataclass
class PageState:
    """What the server knows of one open page."""

    tab: str | None = None
    selected: str | None = None
    data: dict[str, Any] = field(default_factory=dict)  # per-view scratch (e.g. log cursor)
    wake: Callable[[], None] | None = None
    #: A handler asked for the next message (a click): it goes out without the burst gap.
    nudged: bool = False
    #: Signals to bump on the next message, whatever the events (`refresh`).
    refreshes: set[str] = field(default_factory=set)
    streaming: bool = False
    #: The page's token for its log channel (cosmos_ui/log_channel.py): random, handed to
    #: this page only (in its log panel's payload), never derived from the session hash.
    channel: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    #: Held while a direct view's outputs are worked out for this page: by the stream, or by
    #: a click that answers with them itself (`LivePage.answer`), so that both never read and
    #: move the same cursor at once (a run shown twice, or a log chunk sent by neither).
    lock: threading.Lock = field(default_factory=threading.Lock)

    def log_channel_open(self, run_id: str | None) -> bool:
        """True while this page's log channel streams `run_id` (the push stream then sends
        no new lines of it: the channel does)."""
        holder = self.data.get("log_channel") or {}
        return bool(run_id) and holder.get("run") == run_id and \
            holder.get("claim") is not None

    def refresh(self, signal: str) -> None:
        """Have the page re-render the view behind `signal` with its current inputs."""
        self.refreshes.add(signal)
        self.nudge()

    def nudge(self) -> None:
        """Make the page's stream look again now (a handler changed what it shows)."""
        self.nudged = True
        if self.wake is not None:
            self.wake()


class DirectView:
    """A view whose outputs the stream itself writes (the run view)."""

    outputs: Sequence[Any] = ()

    def live_update(self, page: PageState, events: Sequence[Event], first: bool
                    ) -> list[Any] | None:
        """New values for `outputs` (gr.skip() where unchanged), or None for no update."""
        raise NotImplementedError

    def wait_for(self, page: PageState) -> float:
        """How long the stream may wait for an event before calling again (e.g. to move an
        elapsed-time display); HEARTBEAT when nothing ticks by itself."""
        return HEARTBEAT


class Signal:
    """A hidden value the stream bumps so that a view re-renders with the page's inputs."""

    def __init__(self, name: str, wants: Callable[[PageState, Sequence[Event]], bool]) -> None:
        self.name = name
        self.wants = wants
        self.component = gr.Number(0, visible=False, elem_id=f"live-{name}")


class LivePage:
    def __init__(self) -> None:
        self._direct: list[DirectView] = []
        self._signals: list[Signal] = []
        self._pages: dict[str, PageState] = {}
        self._bus: Any = None

    # -- registration (while the Blocks are built) --------------------------------------------
    def direct(self, view: DirectView) -> None:
        self._direct.append(view)

    def signal(self, name: str, wants: Callable[[PageState, Sequence[Event]], bool]) -> gr.Number:
        sig = Signal(name, wants)
        self._signals.append(sig)
        return sig.component

    def page(self, request: gr.Request | None) -> PageState:
        """The server's state of the page behind `request` (a fresh one if unknown)."""
        key = getattr(request, "session_hash", None) or "-"
        state = self._pages.get(key)
        if state is None:
            state = self._pages[key] = PageState()
        return state

    def page_of_channel(self, token: str | None) -> PageState | None:
        """The open page whose log channel token is `token` (None if no page has it)."""
        if not token:
            return None
        for state in list(self._pages.values()):
            if secrets.compare_digest(state.channel, token):
                return state
        return None

    def wire(self, demo: gr.Blocks, bus: Any) -> None:
        """Start each page's stream on load, and again on a watchdog tick if it ever stopped
        (one event with both triggers and trigger_mode "once": while the stream runs, the
        page does not start another)."""
        self._bus = bus
        outputs = [o for view in self._direct for o in view.outputs]
        outputs += [s.component for s in self._signals]
        watchdog = gr.Timer(WATCHDOG_SECONDS)
        gr.on([demo.load, watchdog.tick], self.stream, None, outputs, trigger_mode="once",
              concurrency_limit=None, show_progress="hidden", api_visibility="private")
        demo.unload(self.forget)

    # -- the stream ---------------------------------------------------------------------------
    async def stream(self, request: gr.Request):
        page = self.page(request)
        if page.streaming:  # a duplicate start (the watchdog raced the first stream)
            return
        page.streaming = True
        loop = asyncio.get_running_loop()
        listener = self._bus.listen_async(loop)
        page.wake = listener.nudge
        counters = {s.name: 0 for s in self._signals}
        first = True
        last_sent = loop.time()
        try:
            while True:
                if first:
                    events: list[Event] = []
                else:
                    timeout = min([HEARTBEAT] + [v.wait_for(page) for v in self._direct])
                    events = await listener.wait(timeout)
                    gap = MIN_GAP - (loop.time() - last_sent)
                    if page.nudged:  # the person did something: answer now, not in a gap
                        page.nudged = False
                    elif gap > 0:  # a burst: gather what else arrives, send it as one message
                        await asyncio.sleep(gap)
                        events += listener.drain()
                updates = await asyncio.to_thread(self._updates, page, events, first, counters)
                if (not first and all(_is_skip(u) for u in updates)
                        and loop.time() - last_sent < HEARTBEAT):
                    continue  # nothing to show: no message (the page pays for each one)
                first = False
                last_sent = loop.time()
                yield updates
        finally:
            page.streaming = False
            page.wake = None
            listener.close()

    def _updates(self, page: PageState, events: list[Event], first: bool,
                 counters: dict[str, int]) -> list[Any]:
        out: list[Any] = []
        for view in self._direct:
            try:
                with page.lock:
                    values = view.live_update(page, events, first)
            except Exception:  # a broken view must not end the page's stream
                log.exception("live update of %s failed", type(view).__name__)
                values = None
            out += values if values is not None else [gr.skip()] * len(view.outputs)
        for sig in self._signals:
            asked = sig.name in page.refreshes
            page.refreshes.discard(sig.name)
            if asked or (not first and events and sig.wants(page, events)):
                counters[sig.name] += 1
                out.append(counters[sig.name])
            else:
                out.append(gr.skip())
        return out

    def answer(self, view: DirectView, request: gr.Request | None,
               prepare: Callable[[PageState], None]) -> list[Any]:
        """`view`'s outputs for the page behind `request`, for a handler to return itself.

        Why: a click that changes what a direct view shows (a row of the runs table) would
        otherwise answer, have the page send the change on, and wait for the stream's next
        message: three hops where one will do. `prepare` changes the page's state (which run
        it shows); the values are worked out under the page's lock, so the stream, looking
        next, finds them sent and sends nothing."""
        page = self.page(request)
        with page.lock:
            prepare(page)
            values = view.live_update(page, [], False)
        return values if values is not None else [gr.skip()] * len(view.outputs)

    def forget(self, request: gr.Request) -> None:
        """The page closed: drop its state."""
        self._pages.pop(getattr(request, "session_hash", None) or "-", None)


def _is_skip(value: Any) -> bool:
    return isinstance(value, dict) and value == {"__type__": "update"}


def status_events(events: Sequence[Event]) -> list[Event]:
    return [e for e in events if e.kind == "status"]


def now() -> float:
    return time.time()
