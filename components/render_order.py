"""Renders of one view of one page land in the order they started.

Several triggers render a view (a live signal, the selection, a pick, a filter), each its own
event, and unqueued events run side by side; a render that started first read the store first
and must not land last (a table still saying `running` under details saying `failed`, a gallery
showing the results of the search before the last keystroke). So each render takes a ticket,
and one that a newer render of the same page overtook sends nothing: the newer one is at least
as fresh.
"""

from __future__ import annotations

import itertools
import threading
from typing import Any


class RenderOrder:
    def __init__(self, live: Any, view: str) -> None:
        self.live = live
        self.view = view
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

        tickets = self.live.page(request).data.setdefault(self.view, {})
        with self._lock:
            if tickets.get("started") != ticket:
                return (gr.skip(),) * len(out)
        return out
