"""The Create form: prompt, input and control videos, one weight per control, advanced settings,
presets, a live spec preview, and Run / Run + upscale / Enhance prompt.

It owns its layout and its events. Launching only validates and queues through `operations`
(instant, no network); the scheduler does the work, so closing the tab loses nothing. Every
refusal is shown under the field it is about, before anything is queued.
"""

from __future__ import annotations

import functools
import html
import logging
import random
from pathlib import Path
from typing import Any

import gradio as gr

from backend.models.transfer1.params import CONTROLS, GPU_COUNTS, PRESETS, GenerationParams
from backend.models.transfer1.validate import SEED_LIMIT
from backend.media import MediaError
from backend.models.transfer1.validate import FieldError
from backend.operations import NotFound, Operations, Refused, ValidationFailed
from components.common import TAB_CREATE, TAB_RUNS, field_error_html
from components.create_presets import PresetActions
from components.create_review import CreateReviewBits
from components.enhance_panel import EnhancePanel
from components.input_info import describe_input, probe  # noqa: F401
from components.form_values import (ADVANCED_SLOTS, CONTROL_VIDEO_SLOTS, ERROR_SLOTS, FIELDS,
                                    UPLOAD, chosen_input, errors_by_slot, params_from_values,
                                    spec_preview, values_from_params, weight_sum_note)
from components.nav import Nav
from cosmos_ui import auth
from backend import accounts

log = logging.getLogger(__name__)

CONTROL_LABELS = {
    "vis": "Vis (blurred input: keeps colours and layout)",
    "edge": "Edge (Canny edges: keeps outlines)",
    "depth": "Depth (keeps 3D structure)",
    "seg": "Seg (segmentation: keeps objects and regions)",
    "keypoint": "Keypoint (keeps human poses)",
}


class CreateForm(PresetActions):
    """Builds the form inside the current Blocks context and wires its events."""

    def __init__(self, ops: Operations, nav: Nav) -> None:
        self.ops = ops
        self.nav = nav
        self.samples = [(f"Sample: {p.stem.removeprefix('sample_')}", str(p))
                        for p in ops.sample_videos()]
        defaults = ops.default_params()
        first_input = self.samples[0][1] if self.samples else None
        self.errors: dict[str, gr.HTML] = {}
        f: dict[str, Any] = {}

        with gr.Row(elem_id="create-form", elem_classes="stack-narrow"):
            with gr.Column(scale=3, min_width=420):
                with gr.Row():
                    with gr.Column(scale=2, min_width=200):
                        f["name"] = gr.Textbox(label="Run name (optional)", elem_id="run-name",
                                               max_length=200)
                        self._err("name")
                    with gr.Column(scale=1, min_width=160):
                        f["host"] = gr.Dropdown(label="Host", choices=list(ops.settings.hosts),
                                                value=ops.settings.generation.host,
                                                elem_id="host")
                        self._err("host")
                self.review = CreateReviewBits(ops)  # the shot, and a note's draft v+1
                f["prompt"] = gr.Textbox(label="Prompt", lines=4, elem_id="prompt",
                                         placeholder="Describe the scene Cosmos should render, "
                                         "in detail: subjects, materials, lighting, camera...")
                self._err("prompt")
                self.enhance = EnhancePanel(ops, f["prompt"])
                with gr.Accordion("Negative prompt", open=False) as self.neg_box:
                    f["negative_prompt"] = gr.Textbox(label="Negative prompt", lines=3,
                                                      value=defaults.negative_prompt,
                                                      elem_id="negative-prompt")
                self._err("negative_prompt")
                with gr.Row(elem_classes="stack-narrow"):
                    with gr.Column(min_width=240):
                        f["input_choice"] = gr.Dropdown(
                            label="Input video", choices=self._input_choices(),
                            value=first_input, elem_id="input-choice", allow_custom_value=True,
                            info="A sample, a video used before, or (my upload) below.")
                        f["upload"] = gr.File(label="Upload an input video (or drop one of our "
                                              "outputs to recall its settings)",
                                              file_types=["video"], elem_id="input-upload",
                                              type="filepath", height=110)
                        self.input_info = gr.Markdown(describe_input(first_input)[0],
                                                      elem_id="input-info")
                        self._err("input_video")
                    with gr.Column(min_width=240):
                        self.preview = gr.Video(label="Input preview", interactive=False,
                                                value=first_input, elem_id="input-preview",
                                                height=240)
                gr.Markdown("### Controls\nOne weight per control; 0 turns a control off.")
                with gr.Row():
                    for c in CONTROLS:
                        with gr.Column(min_width=240):
                            f[f"weight.{c}"] = gr.Slider(0, 1, step=0.05, label=CONTROL_LABELS[c],
                                                         value=defaults.weights.get(c, 0.0),
                                                         elem_id=f"weight-{c}")
                            self._err(f"weights.{c}")
                self.weight_note = gr.Markdown(weight_sum_note(defaults.weights),
                                               elem_id="weight-note", elem_classes="note-box")
                self._err("weights")
                f["seg_prompt"] = gr.Textbox(label="Seg text prompt (objects to segment, "
                                             "separated by ' . ')", elem_id="seg-prompt",
                                             placeholder="robot arm . table . mug")
                self._err("seg_prompt")
                with gr.Accordion("Own control videos (optional)", open=False,
                                  elem_id="control-videos") as self.controls_box:
                    gr.Markdown("Without one, Cosmos derives the control from the input video.")
                    for c in CONTROLS:
                        f[f"control.{c}"] = gr.File(label=f"{c} control video",
                                                    file_types=["video"], type="filepath",
                                                    elem_id=f"control-{c}", height=120)
                        self._err(f"control_videos.{c}")
                with gr.Accordion("Advanced", open=False, elem_id="advanced") as self.adv_box:
                    with gr.Row():
                        f["num_steps"] = self._number("Steps", defaults.num_steps, "num_steps",
                                                      precision=0)
                        f["guidance"] = self._number("Guidance", defaults.guidance, "guidance")
                        f["sigma_max"] = self._number("Sigma max (80 = ignore input colours)",
                                                      defaults.sigma_max, "sigma_max")
                    with gr.Row():
                        f["seed"] = self._number("Seed", defaults.seed, "seed", precision=0)
                        with gr.Column(min_width=120):
                            f["random_seed"] = gr.Checkbox(label="Random seed", value=False,
                                                           elem_id="random-seed")
                        f["fps"] = self._number("FPS (0 = same as input)", 0, "fps",
                                                precision=0)
                    with gr.Row():
                        with gr.Column(min_width=160):
                            f["num_gpus"] = gr.Radio(label="GPUs", choices=list(GPU_COUNTS),
                                                     value=defaults.num_gpus, elem_id="num-gpus")
                            self._err("num_gpus")
                        with gr.Column(min_width=160):
                            f["blur"] = gr.Dropdown(label="Vis blur strength", elem_id="blur",
                                                    choices=list(PRESETS),
                                                    value=defaults.blur_strength)
                            self._err("blur_strength")
                        with gr.Column(min_width=160):
                            f["canny"] = gr.Dropdown(label="Edge (Canny) threshold",
                                                     choices=list(PRESETS), elem_id="canny",
                                                     value=defaults.canny_threshold)
                            self._err("canny_threshold")
                    f["upscale_weight"] = self._number("Upscale weight (Run + upscale, 0 to 1)",
                                                       defaults.upscale_weight, "upscale_weight")
            with gr.Column(scale=2, min_width=320):
                with gr.Accordion("Presets", open=True, elem_id="presets") as self.presets_box:
                    self.preset = gr.Dropdown(label="Preset (pick one, or type a new name)",
                                              choices=ops.list_presets(), value=None,
                                              allow_custom_value=True, elem_id="preset-name")
                    with gr.Row():
                        self.preset_load = gr.Button("Load", size="sm", elem_id="preset-load")
                        self.preset_save = gr.Button("Save", size="sm", elem_id="preset-save")
                        self.preset_delete = gr.Button("Delete", size="sm",
                                                       elem_id="preset-delete")
                    self._err("preset")
                    self.preset_message = gr.Markdown(elem_id="preset-message")
                self.spec = gr.Code(self._initial_spec(defaults, first_input),
                                    label="Spec preview (what the GPU box receives)",
                                    language="json", interactive=False, wrap_lines=True,
                                    elem_id="spec-preview", max_lines=40)
            self.fields = f
        with gr.Row():
            self.run_button = gr.Button("Run", variant="primary", elem_id="run-button")
            self.upscale_button = gr.Button("Run + upscale to 4K", elem_id="run-upscale-button")
            self.enhance_button = gr.Button("Enhance prompt", elem_id="enhance-button")
        self.message = gr.Markdown(elem_id="create-message")
        self.components = [self.fields[k] for k in FIELDS]
        self._wire()

    # -- layout helpers -----------------------------------------------------------------------
    def _err(self, slot: str) -> gr.HTML:
        self.errors[slot] = gr.HTML("", elem_id="err-" + slot.replace(".", "-"),
                                    elem_classes="field-error", js_on_load=None)
        return self.errors[slot]

    def _number(self, label: str, value: Any, slot: str, **kw: Any) -> gr.Number:
        with gr.Column(min_width=140):
            number = gr.Number(label=label, value=value, elem_id=slot.replace("_", "-"), **kw)
            self._err(slot)
        return number

    def _input_choices(self, extra: str | None = None) -> list[tuple[str, str]]:
        choices = list(self.samples)
        try:
            choices += self.ops.recent_inputs()
        except Exception:  # the form must open even if the history cannot be read
            log.exception("could not list recent inputs")
        if extra and extra != UPLOAD and all(v != extra for _, v in choices):
            choices.append((f"{Path(extra).name[:24]} (from settings)", extra))
        return choices + [("(my upload)", UPLOAD)]

    def _initial_spec(self, defaults: GenerationParams, first_input: str | None) -> str:
        values = dict(values_from_params(defaults), input_choice=first_input)
        return self._preview(*[values.get(k) for k in FIELDS])[0]

    # -- filling the form ---------------------------------------------------------------------
    def fill(self, values: dict[str, Any]) -> list[Any]:
        """Updates for `self.components` that set these values and leave the rest alone."""
        updates: list[Any] = []
        for key in FIELDS:
            if key not in values:
                updates.append(gr.skip())
            elif key == "input_choice":
                updates.append(gr.update(choices=self._input_choices(values[key]),
                                         value=values[key]))
            else:
                updates.append(values[key])
        return updates

    def load_run_settings(self, run_id: str | None, request: gr.Request) -> list[Any]:
        """The Load button of the run view (an operator's: it fills the Create form)."""
        auth.check(self.ops, request, accounts.LAUNCH)
        return self.fill_from_run(run_id)

    def fill_from_run(self, run_id: str | None) -> list[Any]:
        """Outputs for [*components, message, tabs]: a run's settings loaded into the form."""
        if not run_id:
            return [gr.skip()] * len(self.components) + [gr.skip(), gr.skip()]
        try:
            params = self.ops.settings_of(run_id)
        except NotFound:
            return [gr.skip()] * len(self.components) + ["That run no longer exists.",
                                                         gr.skip()]
        note = f"Settings of run `{run_id}` loaded. Change what you like, then Run."
        return self.fill(values_from_params(params)) + [note, self.nav.goto(TAB_CREATE)]

    # -- events -------------------------------------------------------------------------------
    def _values(self, args: tuple) -> dict[str, Any]:
        return dict(zip(FIELDS, args))

    def _preview(self, *args):
        values = self._values(args)
        _, note, region = CreateReviewBits.extras(args, len(FIELDS))
        params = self.review.preview_params(params_from_values(values), note, region)
        try:
            info = probe(params.input_video)
        except (MediaError, OSError):
            info = None
        text = spec_preview(params, info.fps if info else None,
                            random_seed=bool(values.get("random_seed")))
        return text, weight_sum_note(params.weights)

    def _preview_event(self, request: gr.Request, *args):
        """The live spec preview probes the chosen file: only for those who may launch."""
        if not auth.allowed(self.ops, request, accounts.LAUNCH):
            return gr.skip(), gr.skip()
        return self._preview(*args)

    def _on_choice(self, choice: str | None, upload: str | None, request: gr.Request):
        if not auth.allowed(self.ops, request, accounts.LAUNCH):
            return gr.skip(), gr.skip(), gr.skip()
        path = chosen_input(choice, upload)
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

    def _launch(self, mode: str, *args):
        """Validate and queue. Outputs: message, error slots, accordions, seed, states, tabs."""
        values = self._values(args)
        seed = random.randrange(SEED_LIMIT) if values.get("random_seed") else None
        params = params_from_values(values, seed=seed)
        host, name = values.get("host"), (values.get("name") or "").strip()
        shot, note, region = CreateReviewBits.extras(args, len(FIELDS))
        drafted = note is not None and mode != "enhance"
        try:
            if mode == "enhance":
                run = self.ops.enhance(params, host=host, name=name)
            elif drafted:
                run = self.ops.launch_draft(note, params, region_prompt=region, name=name,
                                            host=host, with_upscale=(mode == "upscale"))
            else:
                run = self.ops.launch(params, name=name, host=host, shot=shot,
                                      with_upscale=(mode == "upscale"))
        except ValidationFailed as failed:
            return self._refused(failed.errors)
        except (NotFound, Refused) as exc:
            return self._refused([FieldError("general", str(exc))])
        clear = [""] * len(ERROR_SLOTS)
        seed_out = seed if seed is not None else gr.skip()
        what = {"run": "Queued run", "upscale": "Queued run (a 4K upscale follows)",
                "enhance": "Queued prompt enhancement"}[mode]
        message = f"{what} `{run.id}`{' (simulated)' if run.simulated else ''}."
        if mode == "enhance":
            return (message, *clear, gr.skip(), gr.skip(), gr.skip(), seed_out, gr.skip(),
                    run.id, gr.skip(), *self.enhance.start(run.id, params.prompt),
                    *self.review.after_launch(False))
        return (message + " Follow it in **Runs**.", *clear, gr.skip(), gr.skip(), gr.skip(),
                seed_out, run.id, run.id, self.nav.goto(TAB_RUNS), *self.enhance.idle(),
                *self.review.after_launch(drafted))

    def _launch_run(self, request: gr.Request, *args):
        auth.check(self.ops, request, accounts.LAUNCH)
        return self._launch("run", *args)

    def _launch_upscale(self, request: gr.Request, *args):
        auth.check(self.ops, request, accounts.LAUNCH)
        auth.check(self.ops, request, accounts.UPSCALE)
        return self._launch("upscale", *args)

    def _launch_enhance(self, request: gr.Request, *args):
        auth.check(self.ops, request, accounts.ENHANCE)
        return self._launch("enhance", *args)

    def _refused(self, errors: list[Any]):
        slots = errors_by_slot(errors)
        names = ", ".join(sorted({e.field for e in errors}))
        general = slots.get("general", [])
        message = "**Not queued.** Please fix: " + html.escape(names) + \
            ("".join(f"\n- {html.escape(m)}" for m in general) if general else
             " (see the messages under the fields).")
        updates = [field_error_html(" ".join(slots.get(slot, []))) for slot in ERROR_SLOTS]
        open_neg = gr.Accordion(open=True) if "negative_prompt" in slots else gr.skip()
        open_ctl = gr.Accordion(open=True) if CONTROL_VIDEO_SLOTS & set(slots) else gr.skip()
        open_adv = gr.Accordion(open=True) if ADVANCED_SLOTS & set(slots) else gr.skip()
        return (message, *updates, open_neg, open_ctl, open_adv, gr.skip(), gr.skip(),
                gr.skip(), gr.skip(), *self.enhance.skip(), *self.review.after_refusal(errors))

    def _current_params(self, args: tuple) -> GenerationParams:
        return params_from_values(self._values(args))

    def on_load(self):
        """Fresh lists for a newly opened page (inputs used since, presets saved elsewhere)."""
        return gr.update(choices=self._input_choices()), gr.update(choices=self.ops.list_presets())

    def _wire(self) -> None:
        private = dict(api_visibility="private")
        quiet = dict(private, show_progress="hidden")
        f = self.fields
        previewed = self.components + self.review.inputs
        for component in self.components + [self.review.note, self.review.region_prompt]:
            component.change(self._preview_event, previewed, [self.spec, self.weight_note],
                             **quiet)
        f["input_choice"].change(self._on_choice, [f["input_choice"], f["upload"]],
                                 [self.input_info, self.preview, self.errors["input_video"]],
                                 **quiet)
        f["upload"].upload(self._on_upload, [f["upload"], *self.components],
                           [*self.components, self.input_info, self.preview,
                            self.errors["input_video"], self.message], **private)
        for c in CONTROLS:
            f[f"control.{c}"].upload(functools.partial(self._on_control, c), f[f"control.{c}"],
                                     self.errors[f"control_videos.{c}"], **quiet)
        launch_outputs = [self.message, *[self.errors[s] for s in ERROR_SLOTS], self.neg_box,
                          self.controls_box, self.adv_box, f["seed"], self.nav.selected_run,
                          self.nav.launched, self.nav.tabs, *self.enhance.outputs,
                          *self.review.launch_outputs]
        for button, handler in ((self.run_button, self._launch_run),
                                (self.upscale_button, self._launch_upscale),
                                (self.enhance_button, self._launch_enhance)):
            button.click(handler, self.components + self.review.inputs, launch_outputs,
                         **private)
        self.preset_save.click(self._preset_save, [self.preset, *self.components],
                               [self.preset, self.errors["preset"], self.preset_message],
                               **private)
        self.preset_load.click(self._preset_load, self.preset,
                               [*self.components, self.errors["preset"], self.preset_message],
                               **private)
        self.preset_delete.click(self._preset_delete, self.preset,
                                 [self.preset, self.errors["preset"], self.preset_message],
                                 **private)
