"""Renders of one view of one page land in the order they started.

Several triggers render a view (a live signal, the selection, a pick, a filter), each its own
event, and unqueued events run side by side; a render that started first read the store first
and must not land last (a table still saying `running` under details saying `failed`, a gallery
showing the results of the search before the last keystroke). So each render takes a ticket,
and one that a newer render of the same page overtook sends nothing.

Newer on the server is not always newer on the page: a queued render the page sent before a
filter changed can start after the filter's unqueued render, and it carries the old filter.
So an overtaken render also asks the page for one more render of the view (its live signal,
`refresh`), which the page sends with its inputs as they are now: the last render to land is
always one the page sent after its last change.
"""

from __future__ import annotations

import itertools
import threading
from typing import Any


class RenderOrder:
    def __init__(self, live: Any, view: str, signal: str | None = None) -> None:
        self.live = live
        self.view = view
        #: the view's live signal (components/live.py), bumped when a render is overtaken
        self.signal = signal
        self._lock = threading.Lock()
        self._tickets = itertools.count(1)

    def begin(self, request: Any) -> int:
        """A render of the page behind `request` starts: its ticket (newer is larger)."""
        tickets = self.live.page(request).data.setdefault(self.view, {})
        with self._lock:
            ticket = tickets["started"] = next(self._tickets)
        return ticket

    def end(self, request: Any, ticket: int, out: tuple) -> tuple:
        """The render's outputs, or skips if a newer render of the page has started."""
        import gradio as gr

        page = self.live.page(request)
        tickets = page.data.setdefault(self.view, {})
        with self._lock:
            overtaken = tickets.get("started") != ticket
        if not overtaken:
            return out
        if self.signal is not None:
            page.refresh(self.signal)
        return (gr.skip(),) * len(out)
