"""Launching from the Create form: Run, Run + 4K upscale and Enhance prompt.

A mixin of CreateForm (it uses the form's `ops`, `nav`, `enhance`, `review`, `_values`,
`_host_offload` and the launch outputs wired in `CreateForm._wire`). Why the error slots come
in as inputs: only a slot whose message changes is written. A launch wrote all ~60 of them
("" each), and each written output costs the server a postprocess in a worker thread and
the page a render: 78 ms of the Run click's answer on the server alone.
"""

from __future__ import annotations

import html
import random
from typing import Any, Callable, Sequence

import gradio as gr

from backend import accounts
from backend.models.checks import FieldError
from backend.operations import NotFound, Refused, ValidationFailed
from components.common import TAB_RUNS, field_error_html
from components.create_review import CreateReviewBits
from components.form_values import (ADVANCED_SLOTS, CONTROL_VIDEO_SLOTS, ERROR_SLOTS,
                                    FIELDS, errors_by_slot, params_from_values, profile_of)
from cosmos_ui import auth

#: The form's fields and the shown-model state: the review bits follow them in the inputs.
N_INPUTS = len(FIELDS) + 1


class LaunchActions:
    #: the run view's outputs and what it shows for a run (`wire_open`; a tuple: the class
    #: default is shared, and is never appended to)
    _open_outputs: Sequence[Any] = ()
    _open: Callable[[str, Any], list[Any]] | None = None

    def wire_open(self, outputs: Sequence[Any],
                  answer: Callable[[str, Any], list[Any]] | None) -> None:
        """Wire Run, Run + upscale and Enhance, their answers carrying the run view's
        `outputs` (`answer(run_id, request)`; the view is built after the form, in Runs).

        Why: the new run shows `queued` in the launch's own answer. Before, the page had to
        apply the answer, send the selection's change events and wait for the stream's push
        (~100 ms more per Run click in Chromium on 2 cores). The error slots' own values come
        in: only a slot that changes is written. No progress overlays: the answer comes in a
        blink, and an overlay on each of its ~110 outputs cost the page more than the launch
        itself. Call once (cosmos_ui/app.py); `answer=None` wires them without the view."""
        self._open_outputs, self._open = list(outputs) if answer else [], answer
        for button, handler in ((self.run_button, self._launch_run),
                                (self.upscale_button, self._launch_upscale),
                                (self.enhance_button, self._launch_enhance)):
            button.click(handler, [*self.components, *self.review.inputs,
                                   *(self.errors[s] for s in ERROR_SLOTS)],
                         [*self._launch_outputs, *self._open_outputs], show_progress="hidden",
                         api_visibility="private")

    def _launch(self, mode: str, *args, owner: str | None = None,
                request: gr.Request | None = None):
        """Validate and queue. Inputs: the form, the review bits, then what each error slot
        shows now. Outputs: message, error slots, accordions, seed, states, tabs, the enhance
        and review bits, then the run view's (`wire_open`)."""
        args, shown = args[:-len(ERROR_SLOTS)], args[-len(ERROR_SLOTS):]
        values = self._values(args)
        seed_field = profile_of(values).field("seed")
        limit = int(seed_field.maximum) + 1 if seed_field and seed_field.maximum else 2**32
        seed = random.randrange(limit) if values.get("random_seed") else None
        params = params_from_values(values, seed=seed, host_offload=self._host_offload(values))
        host, name = values.get("host"), (values.get("name") or "").strip()
        shot, note, region = CreateReviewBits.extras(args, N_INPUTS)
        drafted = note is not None and mode != "enhance"
        try:
            if mode == "enhance":
                run = self.ops.enhance(params, host=host, name=name, owner=owner)
            elif drafted:
                run = self.ops.launch_draft(note, params, region_prompt=region, name=name,
                                            host=host, with_upscale=(mode == "upscale"),
                                            owner=owner)
            else:
                run = self.ops.launch(params, name=name, host=host, shot=shot,
                                      with_upscale=(mode == "upscale"), owner=owner)
        except ValidationFailed as failed:
            return self._refused(failed.errors, shown)
        except (NotFound, Refused) as exc:
            return self._refused([FieldError("general", str(exc))], shown)
        clear = slot_updates([""] * len(ERROR_SLOTS), shown)
        view = self._view_skipped()
        if mode != "enhance":
            view = self._view_of_launched(run.id, request)  # the run view shows it `queued`
        seed_out = seed if seed is not None else gr.skip()
        what = {"run": "Queued run", "upscale": "Queued run (a 4K upscale follows)",
                "enhance": "Queued prompt enhancement"}[mode]
        message = f"{what} `{run.id}`{' (simulated)' if run.simulated else ''}."
        if mode == "enhance":
            return (message, *clear, gr.skip(), gr.skip(), gr.skip(), seed_out, gr.skip(),
                    run.id, gr.skip(), *self.enhance.start(run.id, params.prompt, request),
                    *self.review.after_launch(False), *view)
        return (message + " Follow it in **Runs**.", *clear, gr.skip(), gr.skip(), gr.skip(),
                seed_out, run.id, run.id, self.nav.goto(TAB_RUNS), *self.enhance.idle(),
                *self.review.after_launch(drafted), *view)

    def _view_of_launched(self, run_id: str, request: gr.Request | None) -> list[Any]:
        """The run view's outputs showing `run_id`, for the launch's answer (the answer
        also switches the page to Runs, so the page counts as there already). Without the
        view wired in, the stream pushes it instead (Nav.launched_now)."""
        if self._open is None or request is None:
            self.nav.launched_now(run_id, request)
            return self._view_skipped()
        self.nav.count_as_on(TAB_RUNS, request)
        return list(self._open(run_id, request))

    def _view_skipped(self) -> list[Any]:
        return [gr.skip()] * len(self._open_outputs)

    def _launch_run(self, request: gr.Request, *args):
        auth.check(self.ops, request, accounts.LAUNCH)
        return self._launch("run", *args, owner=auth.owner_of(self.ops, request),
                            request=request)

    def _launch_upscale(self, request: gr.Request, *args):
        auth.check(self.ops, request, accounts.LAUNCH)
        auth.check(self.ops, request, accounts.UPSCALE)
        return self._launch("upscale", *args, owner=auth.owner_of(self.ops, request),
                            request=request)

    def _launch_enhance(self, request: gr.Request, *args):
        auth.check(self.ops, request, accounts.ENHANCE)
        return self._launch("enhance", *args, owner=auth.owner_of(self.ops, request),
                            request=request)

    def _refused(self, errors: list[Any], shown: Sequence[Any]):
        slots = errors_by_slot(errors)
        names = ", ".join(sorted({e.field for e in errors}))
        general = slots.get("general", [])
        message = "**Not queued.** Please fix: " + html.escape(names) + \
            ("".join(f"\n- {html.escape(m)}" for m in general) if general else
             " (see the messages under the fields).")
        updates = slot_updates([field_error_html(" ".join(slots.get(slot, [])))
                                for slot in ERROR_SLOTS], shown)
        open_neg = gr.Accordion(open=True) if "negative_prompt" in slots else gr.skip()
        open_ctl = gr.Accordion(open=True) if CONTROL_VIDEO_SLOTS & set(slots) else gr.skip()
        open_adv = gr.Accordion(open=True) if ADVANCED_SLOTS & set(slots) else gr.skip()
        return (message, *updates, open_neg, open_ctl, open_adv, gr.skip(), gr.skip(),
                gr.skip(), gr.skip(), *self.enhance.skip(), *self.review.after_refusal(errors),
                *self._view_skipped())


def slot_updates(wanted: Sequence[str], shown: Sequence[Any]) -> list[Any]:
    """Each error slot's new HTML, or gr.skip() where the slot already shows it."""
    return [gr.skip() if (now or "") == new else new for new, now in zip(wanted, shown)]
