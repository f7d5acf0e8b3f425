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

A paged view (runs table, gallery) has its page number among a render's inputs and outputs.
A render sends the number only when it changed it: a stale render sending back the number it
read would undo a Next click made while it ran (seen in CI: the table stayed on page 1). A
filter's reset to the first page is the person's own change, so it is sent even when the
render is overtaken; a clamp (the page is past the end) is the render's reading of the store,
so an overtaken render's clamp is not.

A stale render can also start and end after a filter's render has landed (a queued render
that waited behind the stream's events): nothing overtook it, yet it carries the filter as it
was before the person's change. So a filter's render notes the filters it was given, and a
render that carries others sends nothing and asks for one more (bench row 9 saw the Runs
search for "boat" answered, then overwritten by an older unfiltered table that stayed).
"""

from __future__ import annotations

import itertools
import json
import threading
from typing import Any, Callable, Sequence

import gradio as gr

#: where a paged view's render puts the page number among its outputs
PAGE_OUTPUT = 2


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

    def note_filters(self, request: Any, filters: Sequence[Any]) -> None:
        """A filter's render starts with `filters`: what the page holds from now on."""
        tickets = self.live.page(request).data.setdefault(self.view, {})
        with self._lock:
            tickets["filters"] = _key(filters)

    def end(self, request: Any, ticket: int, out: tuple, keep: Sequence[int] = (),
            filters: Sequence[Any] | None = None) -> tuple:
        """The render's outputs, or skips if a newer render of the page has started or it
        carries `filters` other than the last filter render's (but the outputs at `keep`,
        changes the person made rather than readings of the store)."""
        page = self.live.page(request)
        tickets = page.data.setdefault(self.view, {})
        with self._lock:
            overtaken = tickets.get("started") != ticket
            noted = tickets.get("filters")
        if not overtaken and filters is not None and noted is not None:
            overtaken = _key(filters) != noted
        if not overtaken:
            return out
        if self.signal is not None:
            page.refresh(self.signal)
        return tuple(out[i] if i in keep else gr.skip() for i in range(len(out)))

    def paged(self, request: Any, render: Callable[..., tuple], page_in: int | None,
              page: int, args: Sequence[Any], filters: Sequence[Any] | None = None,
              filter_changed: bool = False) -> tuple:
        """`render(page, *args)` of a paged view, in order: `page_in` is the page number the
        page holds, `page` the one to show (0 for a filter's reset). The number is sent only
        when it changes (module docstring). `filters`: those among `args`, noted when
        `filter_changed`, else checked against the last noted."""
        if filter_changed and filters is not None:
            self.note_filters(request, filters)
        ticket = self.begin(request)
        out = list(render(page, *args))
        held = int(page_in or 0)
        reset = page != held
        if out[PAGE_OUTPUT] == held:
            out[PAGE_OUTPUT] = gr.skip()
        return self.end(request, ticket, tuple(out), keep=(PAGE_OUTPUT,) if reset else (),
                        filters=filters)


def _key(filters: Sequence[Any]) -> str:
    """Filter values as the page sent them, comparable (lists, dates as text, None)."""
    return json.dumps(list(filters), default=str, sort_keys=True)


class PagedView:
    """A paged view's renders in order: the subclass sets `order` (a RenderOrder) and `nav`
    and defines `render(page, *inputs, ids=...)` with the page number at PAGE_OUTPUT.
    Gradio hands the request only to a parameter annotated `gr.Request`, hence the hints."""

    order: RenderOrder
    nav: Any
    render: Callable[..., tuple]
    #: the filter components, last among a render's inputs
    filters: Sequence[Any]

    def render_page(self, request: gr.Request, page: int, *args: Any) -> tuple:
        """`render` for the page behind `request` (a review link shows only its runs)."""
        return self.order.paged(request, self._scoped(request), page, page, args,
                                filters=self._filters_in(args))

    def _render_first_page(self, request: gr.Request, page: int, *args: Any) -> tuple:
        """A filter changed: the first page of what it matches (one round trip, not one
        to reset the page number and another to render)."""
        return self.order.paged(request, self._scoped(request), page, 0, args,
                                filters=self._filters_in(args), filter_changed=True)

    def _filters_in(self, args: Sequence[Any]) -> tuple:
        return tuple(args[len(args) - len(self.filters):])

    def _scoped(self, request: gr.Request) -> Callable[..., tuple]:
        ids = self.nav.scope(request).filter_ids()
        return lambda *args: self.render(*args, ids=ids)
