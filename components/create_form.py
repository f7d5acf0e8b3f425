"""The Create form: prompt, input video, one weight per control, advanced settings, Run.

It owns its layout and its events. Launching only validates and queues through `operations`
(instant, no network); the scheduler does the work, so closing the tab loses nothing.
"""

from __future__ import annotations

import html
import logging
from pathlib import Path
from typing import Any

import gradio as gr

from backend.cosmos.params import CONTROLS, GPU_COUNTS, PRESETS, GenerationParams
from backend.media import MediaError, probe_video
from backend.operations import Operations, ValidationFailed

log = logging.getLogger(__name__)

CONTROL_LABELS = {
    "vis": "Vis (blurred input: keeps colours and layout)",
    "edge": "Edge (Canny edges: keeps outlines)",
    "depth": "Depth (keeps 3D structure)",
    "seg": "Seg (segmentation: keeps objects and regions)",
    "keypoint": "Keypoint (keeps human poses)",
}
UPLOAD_CHOICE = "(my upload)"


def weight_sum_note(*weights: float) -> str:
    """Tell the artist what Cosmos will actually do with the weights they set."""
    total = sum(float(w or 0) for w in weights)
    active = [c for c, w in zip(CONTROLS, weights) if float(w or 0) > 0]
    if not active:
        return "**All controls are off**: turn at least one weight above 0."
    if total > 1:
        scaled = ", ".join(f"{c} {float(w) / total:.2f}" for c, w in zip(CONTROLS, weights)
                           if float(w or 0) > 0)
        return (f"Weights sum to {total:.2f}. Cosmos rescales weights that sum above 1, so the "
                f"run will use: {scaled}.")
    return f"Weights sum to {total:.2f} (≤ 1: used as set). Active: {', '.join(active)}."


def describe_input(path: str | None) -> str:
    if not path:
        return ""
    try:
        info = probe_video(path)
    except MediaError as exc:
        return f"**Not usable:** {exc}"
    return f"**{Path(path).name}**: {info.describe()}"


def format_errors(errors: list[Any]) -> str:
    lines = ["**Not queued. Please fix:**"]
    for error in errors:
        lines.append(f"- **{html.escape(error.field)}**: {html.escape(error.message)}")
    return "\n".join(lines)


class CreateForm:
    """Builds the form inside the current Blocks context and wires its events."""

    def __init__(self, ops: Operations, selected_run: gr.State, tabs: gr.Tabs | None = None,
                 runs_tab_id: str = "runs") -> None:
        self.ops = ops
        self.selected_run = selected_run
        self.tabs = tabs
        self.runs_tab_id = runs_tab_id
        defaults = ops.default_params()
        samples = {p.name: str(p) for p in ops.sample_videos()}
        self.samples = samples
        settings = ops.settings

        with gr.Column(elem_id="create-form"):
            with gr.Row():
                self.name = gr.Textbox(label="Run name (optional)", elem_id="run-name",
                                       max_length=200, scale=2)
                self.host = gr.Dropdown(label="Host", choices=list(settings.hosts),
                                        value=settings.generation.host, elem_id="host", scale=1)
            self.prompt = gr.Textbox(label="Prompt", lines=4, elem_id="prompt",
                                     placeholder="Describe the scene Cosmos should render, in "
                                     "detail: subjects, materials, lighting, camera...")
            with gr.Accordion("Negative prompt", open=False):
                self.negative_prompt = gr.Textbox(label="Negative prompt", lines=3,
                                                  value=defaults.negative_prompt,
                                                  elem_id="negative-prompt")
            with gr.Row():
                with gr.Column():
                    self.sample = gr.Dropdown(
                        label="Input video", choices=list(samples) + [UPLOAD_CHOICE],
                        value=next(iter(samples), UPLOAD_CHOICE), elem_id="input-choice",
                        info="A sample clip, or choose (my upload) and drop your own below.")
                    self.upload = gr.File(label="Upload an input video", file_types=["video"],
                                          elem_id="input-upload", type="filepath")
                    self.input_info = gr.Markdown(describe_input(next(iter(samples.values()),
                                                                      None)),
                                                  elem_id="input-info")
                with gr.Column():
                    self.preview = gr.Video(label="Input preview", interactive=False,
                                            value=next(iter(samples.values()), None),
                                            elem_id="input-preview", height=240)
            gr.Markdown("### Controls\nOne weight per control; 0 turns a control off.")
            self.weights = []
            for control in CONTROLS:
                self.weights.append(gr.Slider(
                    0, 1, value=defaults.weights.get(control, 0.0), step=0.05,
                    label=CONTROL_LABELS[control], elem_id=f"weight-{control}"))
            self.weight_note = gr.Markdown(weight_sum_note(*[defaults.weights.get(c, 0.0)
                                                             for c in CONTROLS]),
                                           elem_id="weight-note")
            self.seg_prompt = gr.Textbox(label="Seg text prompt (objects to segment, separated "
                                         "by ' . ')", elem_id="seg-prompt",
                                         placeholder="robot arm . table . mug")
            with gr.Accordion("Advanced", open=False):
                with gr.Row():
                    self.num_steps = gr.Number(label="Steps", value=defaults.num_steps,
                                               precision=0, minimum=1, maximum=200)
                    self.guidance = gr.Number(label="Guidance", value=defaults.guidance,
                                              minimum=0, maximum=20)
                    self.sigma_max = gr.Number(label="Sigma max (80 = ignore input RGB)",
                                               value=defaults.sigma_max, minimum=0, maximum=80)
                with gr.Row():
                    self.seed = gr.Number(label="Seed", value=defaults.seed, precision=0,
                                          minimum=0)
                    self.fps = gr.Number(label="FPS (0 = same as input)", value=0, precision=0,
                                         minimum=0, maximum=120)
                    self.num_gpus = gr.Radio(label="GPUs", choices=list(GPU_COUNTS),
                                             value=defaults.num_gpus)
                with gr.Row():
                    self.blur = gr.Dropdown(label="Vis blur strength", choices=list(PRESETS),
                                            value=defaults.blur_strength)
                    self.canny = gr.Dropdown(label="Edge (Canny) threshold",
                                             choices=list(PRESETS), value=defaults.canny_threshold)
            self.run_button = gr.Button("Run", variant="primary", elem_id="run-button")
            self.message = gr.Markdown(elem_id="create-message")

        self._wire()

    # -- events -------------------------------------------------------------------------------
    def _chosen_input(self, sample: str | None, upload: str | None) -> str | None:
        if sample == UPLOAD_CHOICE or upload:
            return upload or None
        return self.samples.get(sample or "")

    def _on_input_change(self, sample: str | None, upload: str | None):
        path = self._chosen_input(sample, upload)
        info = describe_input(path)
        preview = path if path and not info.startswith("**Not usable") else None
        return info, preview

    def _on_run(self, name, host, prompt, negative, sample, upload, seg_prompt, steps, guidance,
                sigma, seed, fps, gpus, blur, canny, *weights):
        params = GenerationParams(
            prompt=prompt or "",
            negative_prompt=negative or "",
            input_video=self._chosen_input(sample, upload),
            weights={c: float(w or 0) for c, w in zip(CONTROLS, weights)},
            seg_prompt=(seg_prompt or "").strip(),
            sigma_max=float(sigma if sigma is not None else 70),
            guidance=float(guidance if guidance is not None else 5),
            num_steps=int(steps or 0),
            seed=int(seed if seed is not None else 0),
            fps=int(fps) if fps else None,
            blur_strength=blur,
            canny_threshold=canny,
            num_gpus=int(gpus or 1),
        )
        try:
            run = self.ops.launch(params, name=name or "", host=host)
        except ValidationFailed as failed:
            return format_errors(failed.errors), gr.skip(), gr.skip()
        return (f"Queued run `{run.id}`{' (simulated)' if run.simulated else ''}. "
                "Follow it in **Runs**.", run.id, gr.Tabs(selected=self.runs_tab_id))

    def _wire(self) -> None:
        for trigger in (self.sample.change, self.upload.change):
            trigger(self._on_input_change, [self.sample, self.upload],
                    [self.input_info, self.preview], api_visibility="private",
                    show_progress="hidden")
        for slider in self.weights:
            slider.change(weight_sum_note, self.weights, self.weight_note,
                          api_visibility="private", show_progress="hidden")
        self.run_button.click(
            self._on_run,
            [self.name, self.host, self.prompt, self.negative_prompt, self.sample, self.upload,
             self.seg_prompt, self.num_steps, self.guidance, self.sigma_max, self.seed, self.fps,
             self.num_gpus, self.blur, self.canny, *self.weights],
            [self.message, self.selected_run, self.tabs],
            api_visibility="private",
        )
