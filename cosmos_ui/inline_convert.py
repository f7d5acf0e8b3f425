"""Light form values are converted on the event loop, not one worker thread hop each.

Why: before and after each handler Gradio converts every input and output on its own worker
thread (`await anyio.to_thread.run_sync(block.preprocess, ...)`, and `postprocess` alike), so
that a heavy conversion (an image, a video) never blocks the server. Most of ours are a
string, a number or a choice: the Run click has 144 inputs (the form, and the error slots it
compares), and its 144 thread hops were 25-56 ms of the click's server time on 2 cores
(measured around `Blocks.preprocess_data`), with the conversions themselves a few
microseconds each.

So Gradio's module gets a stand-in for `anyio` whose `to_thread.run_sync` calls a light
component's own `preprocess` / `postprocess` right away and hands everything else (files,
media, every handler) to the worker threads as before. Light means defined in one of
LIGHT_MODULES: plain values, no file or network access. Errors are raised where Gradio
awaits them, so a bad value is reported as before.
"""

from __future__ import annotations

import logging
from typing import Any, Callable

log = logging.getLogger(__name__)

#: Modules whose components convert plain values only (a subclass defined elsewhere that
#: overrides a conversion is not light, unless its module is listed).
LIGHT_MODULES = frozenset({
    "gradio.components.textbox", "gradio.components.number", "gradio.components.slider",
    "gradio.components.checkbox", "gradio.components.checkboxgroup",
    "gradio.components.dropdown", "gradio.components.radio", "gradio.components.html",
    "gradio.components.markdown", "gradio.components.code", "gradio.components.datetime",
    "components.lenient", "components.create_model",
})
CONVERSIONS = frozenset({"preprocess", "postprocess"})


def is_light(fn: Callable[..., Any]) -> bool:
    """True for a light component's bound preprocess/postprocess (see LIGHT_MODULES)."""
    func = getattr(fn, "__func__", None)
    return (func is not None and func.__name__ in CONVERSIONS
            and func.__module__ in LIGHT_MODULES)


class _ToThread:
    """`anyio.to_thread` with light conversions run in place."""

    def __init__(self, to_thread: Any) -> None:
        self._to_thread = to_thread

    async def run_sync(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if is_light(fn):
            return fn(*args)
        return await self._to_thread.run_sync(fn, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._to_thread, name)


class _Anyio:
    """The `anyio` module as Gradio's blocks module sees it: the same, but `to_thread`."""

    def __init__(self, anyio: Any) -> None:
        self._anyio = anyio
        self.to_thread = _ToThread(anyio.to_thread)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._anyio, name)


def install() -> bool:
    """Give gradio.blocks the stand-in (once; False if it was already there)."""
    import gradio.blocks

    if isinstance(gradio.blocks.anyio, _Anyio):
        return False
    gradio.blocks.anyio = _Anyio(gradio.blocks.anyio)  # type: ignore[assignment]
    log.debug("light conversions run on the event loop")
    return True
