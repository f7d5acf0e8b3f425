"""Prompt enhancement on the Create tab: follow the enhance run, then show the original and the
enhanced prompt side by side with a button that puts the enhanced one into the form.

The enhance run belongs to the scheduler like any run; this panel reads its row when the
page's push stream says the run's status changed (a live signal, components/live.py), so
nothing polls while it waits; reloading or leaving the page loses nothing (the result also
stays in the run's details).
"""

from __future__ import annotations

import html
from typing import Any

import gradio as gr

from backend.operations import NotFound, Operations


def enhance_html(status: str, original: str, enhanced: str | None = None,
                 cause: str | None = None, run_id: str = "") -> str:
    e = html.escape
    head = f"<div class='run-meta'>Prompt enhancement <code>{e(run_id)}</code>: <b>{e(status)}</b>"
    if cause:
        head += f" <span class='run-cause'>{e(cause)}</span>"
    head += "</div>"
    right = e(enhanced) if enhanced is not None else \
        "<span class='muted'>waiting for Cosmos' prompt upsampler...</span>"
    return (head + "<div class='enh-grid'><div><b>Original</b><br>" + e(original) +
            "</div><div id='enhanced-prompt'><b>Enhanced</b><br>" + right + "</div></div>")


class EnhancePanel:
    def __init__(self, ops: Operations, prompt_box: gr.Textbox, live: Any) -> None:
        self.ops = ops
        self.prompt_box = prompt_box
        self.live = live
        with gr.Group(visible=False, elem_id="enhance-panel") as self.box:
            self.html = gr.HTML(js_on_load=None, elem_id="enhance-result", padding=True)
            self.use = gr.Button("Use the enhanced prompt", visible=False,
                                 elem_id="use-enhanced", variant="primary", size="sm")
        self.run_id = gr.State(None)
        self.enhanced = gr.State(None)
        self.changed = live.signal("enhance", self._wants)
        self.outputs = [self.box, self.html, self.use, self.run_id]
        self.changed.change(self.poll, self.run_id, [self.html, self.use, self.enhanced],
                            show_progress="hidden", api_visibility="private")
        self.use.click(lambda text: (text, gr.update(visible=False)) if text else
                       (gr.skip(), gr.skip()), self.enhanced, [self.prompt_box, self.use],
                       api_visibility="private")

    # Values for `self.outputs` from the launch handler.
    @staticmethod
    def _wants(page: Any, events: Any) -> bool:
        """A live-signal rule: the page's pending enhance run changed status."""
        pending = page.data.get("enhance_run")
        return bool(pending) and any(e.kind == "status" and e.run_id == pending
                                     for e in events)

    def start(self, run_id: str, original: str, request: Any = None) -> list[Any]:
        """Values for `outputs` when the launch handler queued an enhance run (`request`:
        the page that follows it)."""
        self.live.page(request).data["enhance_run"] = run_id
        return [gr.Group(visible=True), enhance_html("queued", original, run_id=run_id),
                gr.update(visible=False), run_id]

    def idle(self) -> list[Any]:
        return [gr.skip()] * len(self.outputs)

    skip = idle

    def poll(self, run_id: str | None):
        """[html, use button, enhanced text] for the run's current row."""
        if not run_id:
            return gr.skip(), gr.skip(), gr.skip()
        try:
            run = self.ops.get_run(run_id)
        except NotFound:
            return "The enhancement run was deleted.", gr.update(visible=False), None
        if not run.is_terminal:
            return enhance_html(run.status, run.prompt, run_id=run.id), gr.skip(), gr.skip()
        enhanced = None
        if run.status == "completed" and run.result_prompt_id:
            try:
                enhanced = self.ops.get_prompt(run.result_prompt_id)[0]
            except NotFound:
                enhanced = None
        cause = None if enhanced else (run.failure_cause or "no enhanced prompt came back")
        return (enhance_html(run.status, run.prompt, enhanced, cause, run.id),
                gr.update(visible=bool(enhanced)), enhanced)
