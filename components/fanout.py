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
        inputs: list[Any] = []
        outputs: list[Any] = []
        plan: list[tuple[Callable, slice, list[int], str]] = []
        for fn, ins, outs in self._parts:
            start = len(inputs)
            inputs += ins
            spots = []
            for out in outs:
                if not any(out is o for o in outputs):
                    outputs.append(out)
                spots.append(next(i for i, o in enumerate(outputs) if o is out))
            plan.append((fn, slice(start, len(inputs)), spots, _request_style(fn)))

        def run_all(request: gr.Request, *args: Any):
            values: list[Any] = [gr.skip()] * len(outputs)
            for fn, part, spots, style in plan:
                own = args[part]
                if style == "first":
                    result = fn(request, *own)
                elif style == "keyword":
                    result = fn(*own, request=request)
                else:
                    result = fn(*own)
                got = list(result) if len(spots) > 1 else [result]
                for spot, value in zip(spots, got):
                    values[spot] = value
            if not outputs:
                return None
            return values if len(outputs) > 1 else values[0]

        trigger(run_all, inputs, outputs or None, **event)


def _request_style(fn: Callable) -> str:
    """How `fn` takes the request: "first", "keyword" or "none"."""
    names = list(inspect.signature(fn).parameters)
    if names and names[0] == "request":
        return "first"
    return "keyword" if "request" in names else "none"
