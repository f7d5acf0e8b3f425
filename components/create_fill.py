"""Filling the Create form: a run's settings, a preset, one of our own videos dropped on the
upload (its embedded settings are recalled), a chosen input; and the facts shown about it.

A mixin of CreateForm (it uses the form's `ops`, `nav`, `components`, `_input_choices`,
`_host_offload` and `fill`'s output order, FIELDS then the shown-model state).
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import gradio as gr

from backend import accounts
from backend.operations import NotFound
from components.common import TAB_CREATE, field_error_html
from components.form_values import FIELDS, UPLOAD, chosen_input, profile_of, values_from_params
from components.input_info import describe_input
from cosmos_ui import auth


class FillActions:
    # -- filling the form ---------------------------------------------------------------------
    def fill(self, values: dict[str, Any], shown: dict[str, Any] | None = None) -> list[Any]:
        """Updates for `self.components` that set these values and leave the rest alone. A
        model among them is also the model shown, so its change event switches nothing.
        `shown`: the form's values now; a field already showing its value is left alone
        too (each field written costs the page a render and fires its change events)."""
        updates: list[Any] = []
        if values.get("offload", ...) is None:  # the host's flags: show them
            values = dict(values, offload=list(self._host_offload(values) or
                                               self._host_offload({"host": self.ops.settings
                                                                   .generation.host})))
            values["offload"] = [f for f in values["offload"]
                                 if f in profile_of(values).offload_flags]
        if shown is not None:
            values = {k: v for k, v in values.items()
                      if k not in shown or not same_value(shown[k], v)}
        for key in FIELDS:
            if key not in values:
                updates.append(gr.skip())
            elif key == "input_choice":
                updates.append(gr.update(choices=self._input_choices(values[key]),
                                         value=values[key]))
            else:
                updates.append(values[key])
        updates.append(values["model"] if "model" in values else gr.skip())
        return updates

    def load_run_settings(self, request: gr.Request, run_id: str | None, *form: Any
                          ) -> list[Any]:
        """The Load button of the run view (an operator's: it fills the Create form).
        `form`: the values of `self.components` now (only what differs is sent)."""
        auth.check(self.ops, request, accounts.LAUNCH)
        return self.fill_from_run(run_id, dict(zip(FIELDS, form)) if form else None)

    def fill_from_run(self, run_id: str | None, shown: dict[str, Any] | None = None
                      ) -> list[Any]:
        """Outputs for [*components, message, tabs]: a run's settings loaded into the form
        (`shown`: the form's values now, see `fill`)."""
        if not run_id:
            return [gr.skip()] * len(self.components) + [gr.skip(), gr.skip()]
        try:
            params = self.ops.settings_of(run_id)
        except NotFound:
            return [gr.skip()] * len(self.components) + ["That run no longer exists.",
                                                         gr.skip()]
        note = f"Settings of run `{run_id}` loaded. Change what you like, then Run."
        return self.fill(values_from_params(params), shown) + [note,
                                                               self.nav.goto(TAB_CREATE)]

    def _on_choice(self, choice: str | None, upload: str | None, request: gr.Request):
        if not auth.allowed(self.ops, request, accounts.LAUNCH):
            return gr.skip(), gr.skip(), gr.skip()
        path = chosen_input(choice, upload)
        refusal = self.ops.input_refusal(path)
        if refusal:  # never probe (or preview) a file outside the input roots
            return "", None, field_error_html(refusal)
        info, error = describe_input(path)
        return info, (path if path and not error else None), field_error_html(error)

    def _on_upload(self, request: gr.Request, upload: str | None, *args):
        """A new upload becomes the input; one of our own videos also recalls its settings."""
        skip_fill = [gr.skip()] * len(self.components)
        if not upload or not auth.allowed(self.ops, request, accounts.LAUNCH):
            return (*skip_fill, gr.skip(), gr.skip(), gr.skip(), gr.skip())
        info, error = describe_input(upload)
        recalled = None if error else self.ops.settings_from_video(upload)
        if recalled is None:
            fill = self.fill({"input_choice": UPLOAD})
            return (*fill, info, None if error else upload, field_error_html(error), "")
        params, meta = recalled
        values = values_from_params(params)
        original = params.input_video
        if original and Path(original).is_file():
            note = "Input set to the video it was made from; choose (my upload) to use the " \
                   "dropped video itself as the input instead."
            info, _ = describe_input(original)
            preview = original
        else:
            values["input_choice"] = UPLOAD
            note = "Its input video is not on this machine, so the dropped video is the input."
            preview = upload
        message = (f"Settings recalled from **{html.escape(Path(upload).name)}** (made by run "
                   f"`{html.escape(str(meta.get('run_id', '?')))}`). {note}")
        return (*self.fill(values), info, preview, "", message)

    def _on_control(self, control: str, path: str | None):
        _, error = describe_input(path)
        return field_error_html(error)


def same_value(shown: Any, wanted: Any) -> bool:
    """True if a field showing `shown` already shows `wanted` (numbers compare by value:
    the page sends 35.0 for a stored 35; a list, item by item)."""
    if isinstance(shown, (list, tuple)) and isinstance(wanted, (list, tuple)):
        return len(shown) == len(wanted) and all(map(same_value, shown, wanted))
    numbers = (int, float)
    if isinstance(shown, numbers) and isinstance(wanted, numbers) \
            and not isinstance(shown, bool) and not isinstance(wanted, bool):
        return float(shown) == float(wanted)
    return type(shown) is type(wanted) and shown == wanted
