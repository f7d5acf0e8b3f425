"""The Create form: model, prompt, input and control videos, one weight per control, advanced
settings, presets, a live spec preview, and Run / Run + upscale / Enhance prompt.

It owns its layout and its events. The model-dependent parts are built from the model profiles
(components/create_model.py): the components of every model's fields exist, the chosen
model's are shown with its labels and ranges. Launching only validates and queues through
`operations` (instant, no network); the scheduler does the work, so closing the tab loses
nothing. Every refusal is shown under the field it is about, before anything is queued.
"""

from __future__ import annotations

import functools
import html
import logging
from pathlib import Path
from typing import Any

import gradio as gr

from backend.models.params import ALL_CONTROLS as CONTROLS
from backend.models.params import PRESETS, GenerationParams
from backend.models.profile import get_profile, output_plan, plan_text
from backend.media import MediaError
from backend.operations import Operations
from components import lenient
from components.common import field_error_html
from components.create_fill import FillActions
from components.create_launch import N_INPUTS, LaunchActions
from components.create_model import ModelForm
from components.create_presets import PresetActions
from components.create_review import CreateReviewBits
from components.enhance_panel import EnhancePanel
from components.input_info import describe_input, probe  # noqa: F401
from components.form_values import (ERROR_SLOTS, FIELDS, UPLOAD, params_from_values,
                                    profile_of, spec_preview, values_from_params,
                                    weight_messages, weight_sum_note)
from components.model_switch import component_looks
from components.nav import Nav
from components.prepare_panel import PreparePanel
from cosmos_ui import auth
from backend import accounts

log = logging.getLogger(__name__)

#: The page script that keeps a typed slider value as typed (components/js/form.js).
FORM_HEAD = ("<script>\n" + (Path(__file__).resolve().parent / "js" / "form.js").read_text(
    encoding="utf-8") + "\n</script>")

#: How many of an event's inputs are the form's own (`components`: FIELDS, then the
#: shown-model state); the review room's inputs follow them.


class CreateForm(PresetActions, ModelForm, FillActions, LaunchActions):
    """Builds the form inside the current Blocks context and wires its events."""

    def __init__(self, ops: Operations, nav: Nav) -> None:
        self.ops = ops
        self.nav = nav
        self.samples = [(f"Sample: {p.stem.removeprefix('sample_')}", str(p))
                        for p in ops.sample_videos()]
        defaults = ops.default_params()
        profile = get_profile(defaults.model)
        looks = component_looks(profile)
        shown = {k: v.get("visible", True) for k, v in looks.items()}
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
                        f["host"] = lenient.Dropdown(label="Host",
                                                     choices=list(ops.settings.hosts),
                                                     value=ops.settings.generation.host,
                                                     elem_id="host")
                        self._err("host")
                    with gr.Column(scale=1, min_width=200):
                        self._model_picker(f, defaults)
                self.review = CreateReviewBits(ops)  # the shot, and a note's draft v+1
                self.model_note = gr.Markdown(f"**{profile.name}**: {profile.summary}",
                                              elem_id="model-note", elem_classes="note-box")
                self._primary_settings(f)
                f["prompt"] = gr.Textbox(label="Prompt", lines=4, elem_id="prompt",
                                         placeholder="Describe the scene Cosmos should render, "
                                         "in detail: subjects, materials, lighting, camera...")
                self._err("prompt")
                self.enhance = EnhancePanel(ops, f["prompt"], nav.live)
                with gr.Accordion("Negative prompt", open=False) as self.neg_box:
                    f["negative_prompt"] = gr.Textbox(label="Negative prompt", lines=3,
                                                      value=defaults.negative_prompt,
                                                      elem_id="negative-prompt")
                self._err("negative_prompt")
                with gr.Row(elem_classes="stack-narrow", elem_id="input-row") as self.input_row:
                    with gr.Column(min_width=240):
                        f["input_choice"] = gr.Dropdown(
                            label="Input video", choices=self._input_choices(),
                            value=first_input, elem_id="input-choice", allow_custom_value=True,
                            info="A sample, a video used before, or (my upload) below.")
                        # no file_types: Gradio's own check refused a wrong file with a
                        # toast and kept the old input; ours marks the field and clears it
                        f["upload"] = gr.File(label="Upload an input video (or drop one of our "
                                              "outputs to recall its settings)",
                                              elem_id="input-upload",
                                              type="filepath", height=110)
                        self.input_info = gr.Markdown(describe_input(first_input)[0],
                                                      elem_id="input-info")
                        self._err("input_video")
                    with gr.Column(min_width=240):
                        self.preview = gr.Video(label="Input preview", interactive=False,
                                                value=first_input, elem_id="input-preview",
                                                height=240)
                self.prepare = PreparePanel(ops)
                self.controls_col = gr.Column(elem_id="controls-section")
                self.controls_col.__enter__()
                gr.Markdown("### Controls\nOne weight per control; 0 turns a control off.")
                with gr.Row():
                    for c in CONTROLS:
                        with gr.Column(min_width=240):
                            f[f"weight.{c}"] = lenient.Slider(
                                0, 1, step=0.05, label=looks[f"weight.{c}"].get("label", c),
                                value=defaults.weights.get(c, 0.0), elem_id=f"weight-{c}",
                                visible=shown[f"weight.{c}"])
                            self._err(f"weights.{c}")
                self.weight_note = gr.Markdown(
                    weight_sum_note(defaults.weights, profile.control_names),
                    elem_id="weight-note", elem_classes="note-box")
                self._err("weights")
                f["seg_prompt"] = gr.Textbox(label="Seg text prompt (objects to segment, "
                                             "separated by ' . ')", elem_id="seg-prompt",
                                             placeholder="robot arm . table . mug")
                self._err("seg_prompt")
                f["weight_prompt"] = gr.Textbox(
                    label="Seg weight prompt (control_weight_prompt: only these objects get "
                    "the seg weight)", elem_id="weight-prompt", visible=shown["weight_prompt"],
                    placeholder="robotic arms . gloves")
                self._err("control_options.seg.weight_prompt")
                with gr.Accordion("Own control videos, masks and checkpoints (optional)",
                                  open=False, elem_id="control-videos") as self.controls_box:
                    gr.Markdown("Without a control video, the model derives the control from "
                                "the input video.")
                    for c in CONTROLS:
                        f[f"control.{c}"] = gr.File(label=f"{c} control video",
                                                    file_types=["video"], type="filepath",
                                                    elem_id=f"control-{c}", height=120,
                                                    visible=shown[f"control.{c}"])
                        self._err(f"control_videos.{c}")
                        self._control_options(f, c)
                self.controls_col.__exit__()
                with gr.Accordion("Advanced", open=False, elem_id="advanced") as self.adv_box:
                    with gr.Row():
                        f["num_steps"] = self._number("Steps", defaults.num_steps, "num_steps",
                                                      precision=0)
                        f["guidance"] = self._number(looks["guidance"]["label"],
                                                     defaults.guidance, "guidance")
                        f["sigma_max"] = self._number(looks["sigma_max"]["label"],
                                                      defaults.sigma_max, "sigma_max")
                    with gr.Row():
                        f["seed"] = self._number("Seed", defaults.seed, "seed", precision=0)
                        with gr.Column(min_width=120):
                            f["random_seed"] = lenient.CheckedCheckbox(
                                label="Random seed", value=False, elem_id="random-seed")
                        f["fps"] = self._number("FPS (0 = same as input)", 0, "fps",
                                                precision=0, visible=shown["fps"])
                    with gr.Row():
                        with gr.Column(min_width=160):
                            f["num_gpus"] = lenient.Radio(label="GPUs",
                                                          choices=list(profile.gpu_counts),
                                                          value=defaults.num_gpus,
                                                          elem_id="num-gpus")
                            self._err("num_gpus")
                        with gr.Column(min_width=160):
                            f["blur"] = lenient.Dropdown(label="Vis blur strength",
                                                         elem_id="blur", choices=list(PRESETS),
                                                         value=defaults.blur_strength)
                            self._err("blur_strength")
                        with gr.Column(min_width=160):
                            f["canny"] = lenient.Dropdown(label="Edge (Canny) threshold",
                                                          choices=list(PRESETS), elem_id="canny",
                                                          value=defaults.canny_threshold)
                            self._err("canny_threshold")
                    f["upscale_weight"] = self._number("Upscale weight (Run + upscale, 0 to 1)",
                                                       defaults.upscale_weight, "upscale_weight",
                                                       visible=shown["upscale_weight"])
                    self._model_settings(f, defaults)
            with gr.Column(scale=2, min_width=320):
                self.plan = gr.Markdown("", elem_id="launch-plan", elem_classes="note-box")
                self.spec = gr.Code(self._initial_spec(defaults, first_input),
                                    label="Spec preview (what the GPU box receives)",
                                    language="json", interactive=False, wrap_lines=True,
                                    elem_id="spec-preview", max_lines=40)
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
            self.fields = f
        self.shown_model = gr.State(defaults.model)
        # sticky at the bottom of the window: Run (and what it answered) is in reach wherever
        # the form is scrolled; Ctrl+Enter in the prompt clicks it (components/js/form.js)
        with gr.Column(elem_id="run-bar"):
            with gr.Row():
                self.run_button = gr.Button("Run", variant="primary", elem_id="run-button")
                self.upscale_button = gr.Button("Run + upscale to 4K",
                                                elem_id="run-upscale-button")
                self.enhance_button = gr.Button("Enhance prompt", elem_id="enhance-button")
            self.message = gr.Markdown(elem_id="create-message")
        #: every field in FIELDS order, then the model the form shows (a state)
        self.components = [self.fields[k] for k in FIELDS] + [self.shown_model]
        for key, look in looks.items():  # the default model's look from the start
            for attr in ("visible", "label", "info"):
                if key in f and attr in look:
                    setattr(f[key], attr, look[attr])
        self.input_row.visible = looks["input_row"]["visible"]
        self.controls_col.visible = looks["controls_box"]["visible"]
        self.enhance_button.visible = "enhance" in profile.run_types
        self._wire()

    # -- layout helpers -----------------------------------------------------------------------
    def _err(self, slot: str) -> gr.HTML:
        self.errors[slot] = gr.HTML("", elem_id="err-" + slot.replace(".", "-"),
                                    elem_classes="field-error", js_on_load=None)
        return self.errors[slot]

    def _number(self, label: str, value: Any, slot: str, **kw: Any) -> gr.Number:
        with gr.Column(min_width=140):
            number = lenient.Number(label=label, value=value, elem_id=slot.replace("_", "-"),
                                    **kw)
            self._err(slot)
        return number

    def _host_offload(self, values: dict[str, Any]) -> tuple[str, ...]:
        host = self.ops.settings.hosts.get(values.get("host") or "")
        return tuple(host.offload) if host else ()

    def _input_choices(self, extra: str | None = None,
                       how: str = "from settings") -> list[tuple[str, str]]:
        choices = list(self.samples)
        try:
            choices += self.ops.recent_inputs()
        except Exception:  # the form must open even if the history cannot be read
            log.exception("could not list recent inputs")
        if extra and extra != UPLOAD and all(v != extra for _, v in choices):
            choices.append((f"{Path(extra).name[:24]} ({how})", extra))
        return choices + [("(my upload)", UPLOAD)]

    def _initial_spec(self, defaults: GenerationParams, first_input: str | None) -> str:
        values = dict(values_from_params(defaults), input_choice=first_input)
        out = self._preview(*[values.get(k) for k in FIELDS])
        self.plan.value = out[-1]  # the plan of the defaults, until the form changes
        return out[0]

    # -- events -------------------------------------------------------------------------------
    def _values(self, args: tuple) -> dict[str, Any]:
        """The fields' values (the shown-model state after them is not one)."""
        return dict(zip(FIELDS, args))

    def _preview(self, *args):
        values = self._values(args)
        _, note, region = CreateReviewBits.extras(args, N_INPUTS)
        params = self.review.preview_params(
            params_from_values(values, host_offload=self._host_offload(values)), note, region)
        info = None
        if not self.ops.input_refusal(params.input_video):  # never probe a file outside roots
            try:
                info = probe(params.input_video)
            except (MediaError, OSError):
                info = None
        text = spec_preview(params, info.fps if info else None,
                            random_seed=bool(values.get("random_seed")))
        controls = profile_of(values).control_names
        marks = weight_messages(params, controls)
        return (text, weight_sum_note(params.weights, controls),
                *(field_error_html(marks.get(c, "")) for c in CONTROLS),
                self._plan(params, values.get("host"), info))

    def _plan(self, params: GenerationParams, host: str | None, info: Any) -> str:
        """The plan before launch: what the run will produce and cost (the dry run's)."""
        host = host if host in self.ops.settings.hosts else self.ops.settings.generation.host
        try:
            plan = output_plan(profile_of({"model": params.model}), params,
                               width=info.width if info else None,
                               height=info.height if info else None,
                               frames=info.frames if info else None,
                               fps=info.fps if info else None,
                               history=self.ops.seconds_per_chunk(host, params))
        except (TypeError, ValueError):
            return ""
        return f"**Plan on {html.escape(host)}:** {html.escape(plan_text(plan))}"

    def _preview_event(self, request: gr.Request, *args):
        """The live spec preview probes the chosen file: only for those who may launch."""
        if not auth.allowed(self.ops, request, accounts.LAUNCH):
            return (gr.skip(),) * (3 + len(CONTROLS))
        return self._preview(*args)

    def _current_params(self, args: tuple) -> GenerationParams:
        values = self._values(args)
        return params_from_values(values, host_offload=self._host_offload(values))

    def on_load(self):
        """Fresh lists for a newly opened page (inputs used since, presets saved elsewhere)."""
        return gr.update(choices=self._input_choices()), gr.update(choices=self.ops.list_presets())

    def _wire(self) -> None:
        private = dict(api_visibility="private")
        quiet = dict(private, show_progress="hidden")
        f = self.fields
        previewed = self.components + self.review.inputs
        changed = [*(self.fields[k] for k in FIELDS), self.review.note, self.review.region_prompt]
        # one event for every field's preview, "always_last": the page has at most one preview
        # in flight and sends the next with the form as it is then. One event per field let
        # two fields changed in a row race (their requests reach the queue in either order)
        # and the older answer, landing last, cleared the newer field's message.
        gr.on([c.change for c in changed], self._preview_event, previewed, [
            self.spec, self.weight_note, *(self.errors[f"weights.{c}"] for c in CONTROLS),
            self.plan], trigger_mode="always_last", **quiet)
        f["input_choice"].change(self._on_choice, [f["input_choice"], f["upload"]],
                                 [self.input_info, self.preview, self.errors["input_video"]],
                                 **quiet)
        f["upload"].upload(self._on_upload, [f["upload"], *self.components],
                           [*self.components, self.input_info, self.preview,
                            self.errors["input_video"], self.message], **private)
        for c in CONTROLS:
            f[f"control.{c}"].upload(functools.partial(self._on_control, c), f[f"control.{c}"],
                                     self.errors[f"control_videos.{c}"], **quiet)
            f[f"mask.{c}"].upload(functools.partial(self._on_control, c), f[f"mask.{c}"],
                                  self.errors[f"control_options.{c}.mask_path"], **quiet)
        self.prepare.wire(input_choice=f["input_choice"],
                          choices=lambda video: self._input_choices(video, "prepared"),
                          describe=describe_input, preview=self.preview,
                          input_info=self.input_info,
                          controls={c: f[f"control.{c}"] for c in CONTROLS},
                          weights={c: f[f"weight.{c}"] for c in CONTROLS})
        self._wire_model(self.model_note)
        self._launch_outputs = [self.message, *[self.errors[s] for s in ERROR_SLOTS],
                                self.neg_box, self.controls_box, self.adv_box, f["seed"],
                                self.nav.selected_run, self.nav.launched, self.nav.switch,
                                *self.enhance.outputs, *self.review.launch_outputs]
        # Run, Run + upscale and Enhance are wired by `wire_open`, once the run view exists
        self.preset_save.click(self._preset_save, [self.preset, *self.components],
                               [self.preset, self.errors["preset"], self.preset_message],
                               **private)
        self.preset_load.click(self._preset_load, self.preset,
                               [*self.components, self.errors["preset"], self.preset_message],
                               **private)
        self.preset_delete.click(self._preset_delete, self.preset,
                                 [self.preset, self.errors["preset"], self.preset_message],
                                 **private)

