"""The review room's part of the Create form: the shot a run is a version of, and the draft
v+1 a note asked for ("re-generate here"): its mask, its frames, the region's prompt.

While a draft is open, Run launches it through `operations.launch_draft` (the mask goes into
the parameters as the model's profile decides, asked by backend/review/regenerate.py), as the
next version of the note's shot, linked to the note; the spec preview shows the mask as it
will be sent.
"""

from __future__ import annotations

from typing import Any, Sequence

import gradio as gr

from backend.models.params import GenerationParams
from backend.operations import NotFound, Operations, Refused
from backend.operations.drafts import Draft
from backend.review.regenerate import RegionMaskRefused, mask_into_params
from components.common import e, field_error_html, file_url


def draft_banner(draft: Draft | None, preview: str = "") -> str:
    if draft is None:
        return ""
    frames = (f"frame {draft.first_frame}" if draft.first_frame == draft.last_frame else
              f"frames {draft.first_frame}-{draft.last_frame}")
    shot = draft.shot_name or "the shot of the same input"
    return (f"<div class='draft-banner' id='draft-info' data-note='{draft.note_id}' "
            f"data-run='{e(draft.run_id)}' data-mask='{e(draft.mask_video)}'>"
            f"<b>Draft v{draft.next_number}</b> of {e(shot)}, from note #{draft.note_id} on run "
            f"<code>{e(draft.run_id[-8:])}</code>: its drawn region over {frames} is a "
            f"{draft.width}x{draft.height}, {draft.frames}-frame mask (white = re-generate). "
            "Adjust anything below, then Run.</div>"
            + (f"<img class='draft-mask' id='draft-preview' alt='the region on frame "
               f"{draft.first_frame}' src='data:image/jpeg;base64,{preview}'>" if preview else "")
            + f"<div class='muted'>Mask video: <a href='{e(file_url(draft.mask_video))}' "
            "target='_blank'>open</a></div>")


class CreateReviewBits:
    """Built inside the Create form, under the run name."""

    def __init__(self, ops: Operations) -> None:
        self.ops = ops
        self.shot = gr.Textbox(label="Shot (optional: runs of one shot are its versions; "
                               "default: the shot of the same input)", elem_id="shot-name",
                               max_length=120)
        self.shot_error = gr.HTML("", elem_id="err-shot", elem_classes="field-error",
                                  js_on_load=None)
        self.note = gr.State(None)  # the note whose draft is open
        with gr.Group(visible=False, elem_id="draft-box") as self.box:
            self.banner = gr.HTML("", elem_id="draft-banner", js_on_load=None)
            self.region_prompt = gr.Textbox(label="What the region becomes (its own prompt)",
                                            lines=2, elem_id="draft-region-prompt",
                                            max_length=1000)
            self.region_error = gr.HTML("", elem_id="err-region_prompt",
                                        elem_classes="field-error", js_on_load=None)
            self.discard = gr.Button("Discard the draft", size="sm", elem_id="draft-discard")
        self.discard.click(self.closed, None, self.outputs, api_visibility="private")

    @property
    def inputs(self) -> list[Any]:
        """Appended to the form's inputs for preview and launch (in this order)."""
        return [self.shot, self.note, self.region_prompt]

    @property
    def outputs(self) -> list[Any]:
        """What opening or closing a draft sets."""
        return [self.note, self.box, self.banner, self.region_prompt, self.region_error]

    def opened(self, draft: Draft) -> list[Any]:
        return [draft.note_id, gr.Group(visible=True),
                draft_banner(draft, self.ops.draft_preview(draft)),
                draft.region_prompt, ""]

    def closed(self) -> list[Any]:
        return [None, gr.Group(visible=False), "", "", ""]

    @staticmethod
    def extras(args: Sequence[Any], n_fields: int) -> tuple[str, int | None, str]:
        """(shot, draft note, region prompt) from the form's trailing inputs."""
        tail = list(args[n_fields:]) + [None, None, None]
        shot, note, region = tail[:3]
        return (shot or ""), (int(note) if note not in (None, "") else None), (region or "")

    def preview_params(self, params: GenerationParams, note: int | None,
                       region: str) -> GenerationParams:
        """The parameters the preview shows: with the draft's mask, as a launch sends it."""
        if note is None:
            return params
        try:
            draft = self.ops.draft_from_note(note)
        except (NotFound, Refused):
            return params
        try:
            return mask_into_params(params, draft.mask_video, prompt=region)
        except RegionMaskRefused:  # a model chosen in the form that takes no mask: the
            return params  # launch refuses it under the model field

    def error_updates(self, errors: Sequence[Any]) -> list[str]:
        """Messages under the region prompt and shot fields (and nothing where none), in
        the order of `launch_outputs`' tail: region error, shot error."""
        def text(*fields: str) -> str:
            return field_error_html(" ".join(err.message for err in errors
                                             if err.field in fields))
        return [text("region_prompt", "regional_prompts"), text("shot")]

    @property
    def launch_outputs(self) -> list[Any]:
        """What a launch sets besides the form's own outputs."""
        return [*self.outputs, self.shot_error]

    def after_launch(self, launched_draft: bool) -> list[Any]:
        if launched_draft:
            return [*self.closed(), ""]
        return [gr.skip()] * len(self.outputs) + [""]

    def after_refusal(self, errors: Sequence[Any]) -> list[Any]:
        region, shot = self.error_updates(errors)
        return [gr.skip()] * (len(self.outputs) - 1) + [region, shot]
