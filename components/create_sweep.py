"""The Create form's sweep: up to three axes (a setting and its values each), the number of
runs it makes shown before launch, and "Run sweep", which queues them all as one sweep.

The axes are parsed by the same code as `cosmos sweep --axis` (operations.sweep_axes), so the
form and the CLI accept, count and refuse the same things. Launching takes the form's request
as the base of every cell (operations.launch_sweep) and opens the Sweeps tab on the new grid.
"""

from __future__ import annotations

import html
import random
from typing import Any, Sequence

import gradio as gr

from backend import accounts
from backend.models.checks import FieldError
from backend.operations import NotFound, Operations, Refused, ValidationFailed
from backend.sweeps.axes import (CONFIRM_ABOVE, MAX_AXES, MODEL_AXIS, SETTING_AXES,
                                 count_refusal, run_count)
from components.common import TAB_SWEEPS
from components.form_values import params_from_values, profile_of
from components.nav import Nav
from cosmos_ui import auth

NO_AXIS = "(none)"
AXIS_POSITIONS = ("x (columns)", "y (rows)", "z (one grid each)")
VALUES_HINT = "0.2,0.5,0.8 or 0.2:0.8:0.3 (start:stop:step)"


def axis_choices(controls: Sequence[str]) -> list[tuple[str, str]]:
    """The axis picker's choices for a model with these controls."""
    return ([(NO_AXIS, NO_AXIS)] + [(f"{c} weight", c) for c in controls]
            + [(name, name) for name in SETTING_AXES] + [("model", MODEL_AXIS)])


def chosen_pairs(values: Sequence[Any]) -> tuple[list[tuple[str, str]], list[FieldError]]:
    """(axis, values) of the rows that name an axis (names and values interleaved), and a
    refusal for values typed in a row without an axis (they are never silently dropped)."""
    pairs, errors = [], []
    for i, (name, text) in enumerate(zip(values[0::2], values[1::2])):
        if name and name != NO_AXIS:
            pairs.append((str(name), str(text or "")))
        elif str(text or "").strip():
            errors.append(FieldError(f"axis.{i}", f"Values {str(text).strip()!r} are given "
                                     f"without an axis in row {AXIS_POSITIONS[i]}; pick the "
                                     "axis or clear the values."))
    return pairs, errors


def count_html(count: int | None, errors: Sequence[FieldError] = ()) -> str:
    """What the form says before launch: the number of runs, or what is wrong."""
    if errors:
        items = "".join(f"<li class='field-error-text'>{html.escape(e.message)}</li>"
                        for e in errors)
        return f"<div id='sweep-count' data-count='' class='sweep-error'><ul>{items}</ul></div>"
    if not count:
        return ("<div id='sweep-count' data-count='0' class='muted'>Pick an axis and its "
                "values to sweep.</div>")
    refusal = count_refusal(count, False)
    over = f" <b>{html.escape(refusal)}</b>" if refusal else ""
    return (f"<div id='sweep-count' data-count='{count}'>This sweep makes <b>{count}</b> "
            f"run{'s' if count != 1 else ''}.{over}</div>")


class SweepPanel:
    """Built inside the Create tab, under the Run buttons; `form` is the CreateForm."""

    def __init__(self, ops: Operations, nav: Nav, form: Any) -> None:
        self.ops = ops
        self.nav = nav
        self.form = form
        controls = form.ops.profile(form.fields["model"].value).control_names
        with gr.Accordion("Sweep: a grid of runs over up to three settings", open=False,
                          elem_id="sweep-box") as self.box:
            gr.Markdown("Each axis takes a list (`0.2,0.5,0.8`) or a range with a step "
                        "(`0.2:0.8:0.3` is 0.2, 0.5, 0.8; the stop is included when a step "
                        "lands on it). The first axis makes the columns, the second the "
                        "rows, the third one grid per value. Every other setting comes from "
                        f"the form above. Over {CONFIRM_ABOVE} runs needs the confirmation.")
            self.rows: list[tuple[gr.Dropdown, gr.Textbox]] = []
            for i in range(MAX_AXES):
                with gr.Row():
                    name = gr.Dropdown(axis_choices(controls), value=NO_AXIS,
                                       label=f"Axis {AXIS_POSITIONS[i]}", scale=1,
                                       elem_id=f"sweep-axis-{i}", allow_custom_value=True)
                    values = gr.Textbox(label="Values", placeholder=VALUES_HINT, scale=2,
                                        elem_id=f"sweep-values-{i}")
                self.rows.append((name, values))
            self.count = gr.HTML(count_html(None), elem_id="sweep-count-box", js_on_load=None)
            with gr.Row():
                self.confirm = gr.Checkbox(label=f"Yes, queue more than {CONFIRM_ABOVE} runs",
                                           value=False, elem_id="sweep-confirm", scale=1)
                self.button = gr.Button("Run sweep", variant="primary", elem_id="sweep-run",
                                        scale=1)
            self.message = gr.Markdown(elem_id="sweep-message")

    @property
    def inputs(self) -> list[Any]:
        return [c for row in self.rows for c in row]

    def _axes(self, model: str, values: Sequence[Any]):
        pairs, errors = chosen_pairs(values)
        if errors:
            return [], errors
        if not pairs:
            return [], []
        try:
            return self.ops.sweep_axes(pairs, model or self.ops.settings.generation.model), []
        except ValidationFailed as failed:
            return [], failed.errors

    def _count(self, model: str, *values: Any) -> str:
        axes, errors = self._axes(model, values)
        return count_html(run_count(axes) if axes else None, errors)

    def _choices(self, model: str, *names: Any):
        """The model changed: its controls are the weight axes offered (a chosen axis it
        lacks stays, and the count says it is not there)."""
        try:
            controls = self.ops.profile(model).control_names
        except NotFound:
            controls = ()
        return [gr.update(choices=axis_choices(controls)) for _ in names]

    @staticmethod
    def _seed(values: dict[str, Any], axes: Sequence[Any]) -> int | None:
        """"Random seed" draws one seed for the whole sweep, so its cells differ only by their
        axes (a seed axis wins over it)."""
        if not values.get("random_seed") or any(a.name == "seed" for a in axes):
            return None
        field = profile_of(values).field("seed")
        return random.randrange(int(field.maximum) + 1 if field and field.maximum else 2**32)

    def _launch(self, request: gr.Request, *args: Any):
        """Outputs: message, count, the selected sweep, tabs."""
        auth.check(self.ops, request, accounts.LAUNCH)
        n = len(self.form.components)
        form_args, rest = args[:n], args[n:]
        sweep_values, confirmed = rest[:-1], bool(rest[-1])
        values = self.form._values(form_args)
        skip = gr.skip()
        axes, errors = self._axes(values.get("model") or "", sweep_values)
        if not axes and not errors:
            errors = [FieldError("axes", "Pick at least one axis and give its values.")]
        if errors:
            return "**Sweep not queued.**", count_html(None, errors), skip, skip
        params = params_from_values(values, seed=self._seed(values, axes),
                                    host_offload=self.form._host_offload(values))
        try:
            sweep = self.ops.launch_sweep(
                params, axes, name=(values.get("name") or ""), host=values.get("host"),
                owner=auth.owner_of(self.ops, request), confirmed=confirmed)
        except ValidationFailed as failed:
            return ("**Sweep not queued.** Please fix:", count_html(None, failed.errors), skip,
                    skip)
        except (NotFound, Refused) as exc:
            return (f"**Sweep not queued.** {html.escape(str(exc))}", skip, skip, skip)
        return (f"Queued sweep `{sweep['id']}`: {len(sweep['cells'])} runs. Its grid is in "
                "**Sweeps**.", count_html(len(sweep["cells"])), sweep["id"],
                self.nav.goto(TAB_SWEEPS))

    def wire(self, selected_sweep: gr.State) -> None:
        quiet = dict(api_visibility="private", show_progress="hidden")
        model = self.form.fields["model"]
        counted = [model, *self.inputs]
        # one event for all of them: the count shown is always the one for the latest values
        # (one event each let an older count land last; see create_form's preview)
        gr.on([c.change for c in counted], self._count, counted, self.count,
              trigger_mode="always_last", **quiet)
        model.change(self._choices, [model, *(r[0] for r in self.rows)],
                     [r[0] for r in self.rows], **quiet)
        self.button.click(self._launch, [*self.form.components, *self.inputs, self.confirm],
                          [self.message, self.count, selected_sweep, self.nav.switch],
                          api_visibility="private")
