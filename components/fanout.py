"""Many views reacting to one trigger, as one event.

Why: every event the page runs costs it more than its handler. A queued event sends the page
several status messages, and the page answers each with a walk of every component an event
ever wrote (Gradio's loading-status pass, ~100 ms of the renderer's CPU for this app, more
on a loaded machine). Seven views listening to "the selected run changed" each with their
own `.change` made opening a run cost the page over twenty such messages, and the run showed
only after they were through. Registered here instead, they run as one unqueued event: one
request, one answer, the same outputs.
"""

from __future__ import annotations

import functools
import inspect
from typing import Any, Callable, Sequence

import gradio as gr


class Fanout:
    """Handlers registered for one trigger, wired as a single event (`wire`)."""

    def __init__(self) -> None:
        self._parts: list[tuple[Callable, list[Any], list[Any]]] = []

    def add(self, fn: Callable, inputs: Sequence[Any], outputs: Sequence[Any]) -> None:
        """`fn(*inputs)` returns `outputs` (one value, or a tuple when several). A parameter
        named `request` gets the event's gr.Request (first, or by keyword elsewhere)."""
        self._parts.append((fn, list(inputs), list(outputs)))

    def wire(self, trigger: Callable[..., Any], **event: Any) -> None:
        """One event on `trigger` (e.g. `state.change`) running every registered handler in
        the order added; an output two handlers write gets the later one's value."""
        if not self._parts:
            return
        inputs, outputs, places = combine([(ins, outs) for _, ins, outs in self._parts])
        plan = [(fn, part, spots) for (fn, _, _), (part, spots) in zip(self._parts, places)]

        def run_all(request: gr.Request, *args: Any):
            values: list[Any] = [gr.skip()] * len(outputs)
            for fn, part, spots in plan:
                fill_answer(values, spots, call(fn, request, args[part]))
            if not outputs:
                return None
            return values if len(outputs) > 1 else values[0]

        trigger(run_all, inputs, outputs or None, **event)


def combine(parts: Sequence[tuple[Sequence[Any], Sequence[Any]]]
            ) -> tuple[list[Any], list[Any], list[tuple[slice, list[int]]]]:
    """The inputs and outputs of one event standing for several (inputs, outputs) pairs, and
    where each pair's are in them: its slice of the inputs, its outputs' positions. An
    output two pairs share is listed once."""
    inputs: list[Any] = []
    outputs: list[Any] = []
    places: list[tuple[slice, list[int]]] = []
    for ins, outs in parts:
        start = len(inputs)
        inputs += ins
        spots = []
        for out in outs:
            if not any(out is o for o in outputs):
                outputs.append(out)
            spots.append(next(i for i, o in enumerate(outputs) if o is out))
        places.append((slice(start, len(inputs)), spots))
    return inputs, outputs, places


def fill_answer(values: list[Any], spots: Sequence[int], result: Any) -> None:
    """Put one handler's `result` (one value, or a sequence for several) at its `spots`."""
    got = list(result) if len(spots) > 1 else [result]
    for spot, value in zip(spots, got):
        values[spot] = value


def call(fn: Callable, request: Any, args: Sequence[Any]) -> Any:
    """`fn(*args)`, given the request too if it has a parameter named `request` (first, or
    by keyword elsewhere): as Gradio itself passes it to a handler."""
    style = _request_style(fn)
    if style == "first":
        return fn(request, *args)
    if style == "keyword":
        return fn(*args, request=request)
    return fn(*args)


@functools.lru_cache(maxsize=512)
def _request_style(fn: Callable) -> str:
    """How `fn` takes the request: "first", "keyword" or "none"."""
    names = list(inspect.signature(fn).parameters)
    if names and names[0] == "request":
        return "first"
    return "keyword" if "request" in names else "none"
