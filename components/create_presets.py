"""The Create form's presets: save, load and delete named settings (never prompt or videos).

A mixin of CreateForm: it uses the form's `ops`, `components`, `fill` and `_current_params`.
Each action is the PRESETS permission, checked on the server.
"""

from __future__ import annotations

import html

import gradio as gr

from backend import accounts
from backend.operations import NotFound, ValidationFailed
from components.common import field_error_html
from components.form_values import values_from_params
from cosmos_ui import auth


class PresetActions:
    def _preset_save(self, request: gr.Request, name: str | None, *args):
        auth.check(self.ops, request, accounts.PRESETS)
        try:
            self.ops.save_preset(name or "", self._current_params(args))
        except ValidationFailed as failed:
            return gr.skip(), field_error_html(failed.errors[0].message), ""
        return (gr.update(choices=self.ops.list_presets(), value=name.strip()), "",
                f"Saved preset **{html.escape(name.strip())}** (settings only: no prompt or "
                "videos).")

    def _preset_load(self, name: str | None, request: gr.Request):
        auth.check(self.ops, request, accounts.PRESETS)
        try:
            params = self.ops.load_preset(name or "")
        except NotFound:
            return [gr.skip()] * len(self.components) + [
                field_error_html(f"No preset called '{name or ''}'; pick one from the list."),
                ""]
        return self.fill(values_from_params(params, content=False)) + [
            "", f"Loaded preset **{html.escape(name)}**."]

    def _preset_delete(self, name: str | None, request: gr.Request):
        auth.check(self.ops, request, accounts.PRESETS)
        if not name or name not in self.ops.list_presets():
            return gr.skip(), field_error_html("Pick a saved preset to delete."), ""
        self.ops.delete_preset(name)
        return (gr.update(choices=self.ops.list_presets(), value=None), "",
                f"Deleted preset **{html.escape(name)}**.")
