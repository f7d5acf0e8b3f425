"""Create's "From an image sequence": a zip of frames, or a folder on the server under the
input roots, becomes the input video and the control videos of the passes found
(`operations.prepare_sequence`, the same as `cosmos prepare`).

The videos land in the uploads folder, so they are inputs like any upload; the form's input
is set to the new video, each pass's control video is filled in and its weight, if it was 0,
set to 1 (a control video with weight 0 would do nothing). Encoding waits for ffmpeg: this is
the one Create action that takes as long as the frames do, and it shows a progress spinner.
"""

from __future__ import annotations

import html
from typing import Any, Callable

import gradio as gr

from backend import accounts
from backend.models.params import ALL_CONTROLS as CONTROLS
from backend.operations import Operations, ValidationFailed
from cosmos_ui import auth


def summary_html(result: dict[str, Any]) -> str:
    inp = result["input"]
    rows = [f"<li><b>input</b>: {inp['frames']} frames ({inp['first']}-{inp['last']}), "
            f"{inp['width']}x{inp['height']} at {html.escape(result['fps'])} fps, from "
            f"<code>{html.escape(inp['pattern'])}</code> ({html.escape(inp['conversion'])})"
            "</li>"]
    rows += [f"<li><b>{html.escape(c)}</b> control: from <code>{html.escape(v['pattern'])}"
             f"</code> ({html.escape(v['conversion'])})</li>"
             for c, v in result["controls"].items()]
    rows += [f"<li class='muted'>{html.escape(n)}</li>" for n in result["notes"]]
    return "<ul id='prepare-summary'>" + "".join(rows) + "</ul>"


def errors_html(messages: list[str]) -> str:
    return ("<div id='prepare-error' class='field-error-text' role='alert'>"
            + "<br>".join(html.escape(m) for m in messages) + "</div>")


class PreparePanel:
    """Built inside the Create form; `wire` connects it to the form's components."""

    def __init__(self, ops: Operations) -> None:
        self.ops = ops
        with gr.Accordion("From an image sequence (frames + depth / seg / edge passes)",
                          open=False, elem_id="prepare-box"):
            gr.Markdown("Numbered frames (`shot.0001.png`, `.jpg` or `.exr`) with optional "
                        "passes named `*depth*`, `*seg*` / `*mask*`, `*edge*` (beside them or "
                        "in sub-folders) become the input video and its control videos, "
                        "every frame kept. Missing frame numbers are reported, not skipped.")
            with gr.Row():
                self.archive = gr.File(label="Upload a .zip of the frames", file_types=[".zip"],
                                       type="filepath", elem_id="prepare-zip", height=100)
                self.folder = gr.Textbox(label="or a folder on the server",
                                         placeholder="/mnt/renders/shot010 (under the input "
                                         "roots)", elem_id="prepare-folder")
            with gr.Row():
                self.fps = gr.Textbox(label="fps", value="24", elem_id="prepare-fps",
                                      info="24, 23.976 or 24000/1001")
                self.start = gr.Textbox(label="First frame", elem_id="prepare-start",
                                        placeholder="(the first)")
                self.end = gr.Textbox(label="Last frame", elem_id="prepare-end",
                                      placeholder="(the last)")
                self.button = gr.Button("Prepare", elem_id="prepare-button", scale=0)
            self.result = gr.HTML("", elem_id="prepare-result")

    def wire(self, *, input_choice: gr.Dropdown, choices: Callable[[str], list],
             describe: Callable[[str], Any], preview: gr.Video, input_info: gr.Markdown,
             controls: dict[str, gr.File], weights: dict[str, Any]) -> None:
        names = list(CONTROLS)

        def prepare(request: gr.Request, archive, folder, fps, start, end, *current):
            auth.check(self.ops, request, accounts.LAUNCH)
            skip = [gr.skip()] * (3 + 2 * len(names))
            source = archive or (folder or "").strip()
            if not source:
                return (errors_html(["path: upload a .zip of the frames, or type a folder on the "
                                 "server"]), *skip)
            try:
                result = self.ops.prepare_sequence(source, fps=fps, start=start, end=end)
            except ValidationFailed as exc:
                return (errors_html([f"{e.field}: {e.message}" for e in exc.errors]), *skip)
            video = result["input"]["path"]
            info, _ = describe(video)
            files = [result["controls"][c]["path"] if c in result["controls"] else gr.skip()
                     for c in names]
            sliders = [1.0 if c in result["controls"] and not float(w or 0) else gr.skip()
                       for c, w in zip(names, current)]
            return (summary_html(result),
                    gr.update(choices=choices(video), value=video), video, info,
                    *files, *sliders)

        self.button.click(
            prepare, [self.archive, self.folder, self.fps, self.start, self.end,
                      *[weights[c] for c in names]],
            [self.result, input_choice, preview, input_info, *[controls[c] for c in names],
             *[weights[c] for c in names]], api_visibility="private")
