"""Events with hidden progress send no loading status (cosmos_ui/quiet_progress.py), and
nothing a person sees changes: a handler's error still makes its toast, `.then` steps run,
outputs get their values, an event that shows its progress keeps its status.

Here on a small Gradio app in Chromium; the app's own config is checked in test_first_run.py.
"""

from __future__ import annotations

import time

import components  # noqa: F401  (Gradio's stub writer off before gradio is imported)
import gradio as gr

from cosmos_ui.quiet_progress import silence_hidden_progress
from tests.helpers import free_port


def _small_app() -> gr.Blocks:
    def fail(text: str) -> str:
        raise gr.Error(f"cannot use {text!r}")

    def slow(text: str) -> str:
        time.sleep(1.0)
        return text.upper()

    with gr.Blocks() as demo:
        text = gr.Textbox("boat", elem_id="text")
        out = gr.Textbox(elem_id="out")
        after = gr.Textbox(elem_id="after")
        shown = gr.Textbox(elem_id="shown")
        gr.Button("fail", elem_id="fail").click(fail, text, out, show_progress="hidden")
        gr.Button("copy", elem_id="copy").click(
            lambda t: t + "!", text, out, show_progress="hidden").then(
            lambda t: t + "?", out, after, show_progress="hidden")
        gr.Button("slow", elem_id="slow").click(slow, text, shown)  # progress shown
    assert silence_hidden_progress(demo) == 3
    return demo


def test_a_silenced_event_still_answers_errs_and_chains_and_a_shown_one_keeps_its_status(page):
    demo = _small_app()
    port = free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True,
                quiet=True)
    try:
        page.goto(f"http://127.0.0.1:{port}/")
        page.locator("#copy").click()
        page.wait_for_function("() => document.querySelector('#after textarea').value"
                               " === 'boat!?'")
        assert page.locator("#out textarea").input_value() == "boat!"
        page.locator("#fail").click()
        toast = page.locator(".toast-body").first
        toast.wait_for()
        assert "cannot use 'boat'" in toast.inner_text()
        # the event that shows its progress still puts its tracker on its output while pending
        page.locator("#slow").click()
        page.wait_for_function("() => document.querySelector('#shown .wrap:not(.hide)')"
                               " !== null")
        page.wait_for_function("() => document.querySelector('#shown textarea').value"
                               " === 'BOAT'")
    finally:
        demo.close()
