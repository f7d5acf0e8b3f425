"""Light conversions run in place; everything else still goes to a worker thread."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading

from components import lenient  # first: Gradio then writes no .pyi stub for this file's classes
import gradio as gr  # noqa: E402
import gradio.blocks  # noqa: E402

from cosmos_ui import inline_convert  # noqa: E402


def run(coroutine):
    """asyncio.run on a thread of its own: a Playwright test earlier in this worker may have
    left an event loop running on the main thread."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


class _Heavy(gr.Textbox):
    """A Textbox subclass from a module that is not listed: its own preprocess is not light."""

    def preprocess(self, payload):
        return payload


def test_light_means_a_listed_modules_own_conversion():
    assert inline_convert.is_light(gr.Textbox().preprocess)
    assert inline_convert.is_light(gr.Number().postprocess)
    assert inline_convert.is_light(lenient.Number().preprocess)
    assert not inline_convert.is_light(gr.File().preprocess)
    assert not inline_convert.is_light(_Heavy().preprocess)
    assert not inline_convert.is_light(gr.Textbox().api_info)  # not a conversion
    assert not inline_convert.is_light(len)


class _Recording(gr.Textbox):
    """Made light by the test (its module is added to LIGHT_MODULES): records its thread."""

    def preprocess(self, payload):
        return payload, threading.get_ident()


def test_the_stand_in_runs_light_conversions_here_and_the_rest_on_a_worker(monkeypatch):
    inline_convert.install()
    assert not inline_convert.install()  # once
    run_sync = gradio.blocks.anyio.to_thread.run_sync

    async def main(box):
        return (threading.get_ident(), await run_sync(box.preprocess, "text"),
                await run_sync(threading.get_ident))

    here, (value, converted_on), handler_on = run(main(_Recording()))
    assert value == "text" and converted_on != here  # not light: a worker thread, as shipped
    monkeypatch.setattr(inline_convert, "LIGHT_MODULES",
                        inline_convert.LIGHT_MODULES | {__name__})
    here, (value, converted_on), handler_on = run(main(_Recording()))
    assert value == "text" and converted_on == here  # light: right here, no thread hop
    assert handler_on != here  # a handler still runs on a worker thread
    assert gradio.blocks.anyio.sleep is __import__("anyio").sleep  # the rest is anyio's


def test_a_light_conversion_that_refuses_raises_where_it_is_awaited():
    inline_convert.install()
    run_sync = gradio.blocks.anyio.to_thread.run_sync
    radio = gr.Radio(choices=["a", "b"])

    async def main():
        return await run_sync(radio.preprocess, "z")

    try:
        run(main())
    except gr.Error as exc:
        assert "z" in str(exc)
    else:
        raise AssertionError("a value outside the choices must be refused")
