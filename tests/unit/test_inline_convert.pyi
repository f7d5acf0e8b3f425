"""Light conversions run in place; everything else still goes to a worker thread."""

from __future__ import annotations

import asyncio
import threading

import gradio as gr
import gradio.blocks

from components import lenient
from cosmos_ui import inline_convert

from gradio.events import Dependency

class _Heavy(gr.Textbox):
    """A Textbox subclass from a module that is not listed: its own preprocess is not light."""

    def preprocess(self, payload):
        return payload
    from typing import Callable, Literal, Sequence, Any, TYPE_CHECKING
    from gradio.blocks import Block
    if TYPE_CHECKING:
        from gradio.components import Timer
        from gradio.components.base import Component


def test_light_means_a_listed_modules_own_conversion():
    assert inline_convert.is_light(gr.Textbox().preprocess)
    assert inline_convert.is_light(gr.Number().postprocess)
    assert inline_convert.is_light(lenient.Number().preprocess)
    assert not inline_convert.is_light(gr.File().preprocess)
    assert not inline_convert.is_light(_Heavy().preprocess)
    assert not inline_convert.is_light(gr.Textbox().api_info)  # not a conversion
    assert not inline_convert.is_light(len)


def test_the_stand_in_runs_light_conversions_here_and_the_rest_on_a_worker():
    inline_convert.install()
    assert not inline_convert.install()  # once
    run_sync = gradio.blocks.anyio.to_thread.run_sync
    seen: dict[str, int] = {}
    box = gr.Textbox()

    def where(name, fn):
        def call(*args):
            seen[name] = threading.get_ident()
            return fn(*args)
        call.__func__ = getattr(fn, "__func__", None)  # what is_light reads
        return call

    async def main():
        here = threading.get_ident()
        light = await run_sync(box.preprocess, "text")
        other = await run_sync(lambda: threading.get_ident())
        heavy = await run_sync(_Heavy().preprocess, "x")
        return here, light, other, heavy

    here, light, other, heavy = asyncio.run(main())
    assert light == "text" and heavy == "x"
    assert other != here  # a handler or a heavy conversion still runs on a worker thread
    assert gradio.blocks.anyio.sleep is __import__("anyio").sleep  # the rest is anyio's


def test_a_light_conversion_that_refuses_raises_where_it_is_awaited():
    inline_convert.install()
    run_sync = gradio.blocks.anyio.to_thread.run_sync
    radio = gr.Radio(choices=["a", "b"])

    async def main():
        return await run_sync(radio.preprocess, "z")

    try:
        asyncio.run(main())
    except gr.Error as exc:
        assert "z" in str(exc)
    else:
        raise AssertionError("a value outside the choices must be refused")
class _Recording(gr.Textbox):
    """Made light by the test (its module is added to LIGHT_MODULES): records its thread."""

    def preprocess(self, payload):
        return payload, threading.get_ident()
    from typing import Callable, Literal, Sequence, Any, TYPE_CHECKING
    from gradio.blocks import Block
    if TYPE_CHECKING:
        from gradio.components import Timer
        from gradio.components.base import Component

    