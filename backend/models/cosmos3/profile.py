"""The Cosmos 3 profile (NVIDIA/cosmos-framework): Cosmos3-Nano (8B), Cosmos3-Edge (2B) and
Cosmos3-Super (32B), in three modes: video2video (transfer with edge, blur, depth, seg and wsm
hints), text2video (from the prompt alone) and image2video (from a still).

Facts: cosmos_framework/scripts/inference.py (the entry point, outputs folder per sample),
cosmos_framework/inference/args.py (every sample field, its type and range, the checkpoints,
the parallelism presets), inference/common/args.py (setup flags, guardrails, SampleOutputs),
inference/transfer.py (only edge/blur on the fly, chunking), inference/inference.py (what is
written when, the guardrail's messages). Where /work/shared/cosmos-transfer2.5-and-cosmos3.md
section 12 disagrees, the source wins (see docs/architecture.md).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from backend.extensions import register_model_profile
from backend.models.checks import FieldError, VideoInfoLike
from backend.models.cosmos3 import params as c3
from backend.models.cosmos3.command import build_inference_argv
from backend.models.cosmos3.outcome import classify_sample
from backend.models.cosmos3.progress import ProgressTracker
from backend.models.cosmos3.spec import build_sample, extra_of, mode_of, sample_json
from backend.models.cosmos3.validate import validate_params, warnings
from backend.models.params import RUN_INFERENCE, GenerationParams
from backend.models.profile import (CheckpointFile, ControlSpec, FieldSpec, ImageFacts,
                                    InputFile, ItemResult, JobContext, JobItem, ModelCommand,
                                    ModelProfile, OutputFile, RequestShape, RunOutputs)
from backend.models.results import Outcome

_NEEDS_VIDEO = " (needs its own control video: Cosmos 3 computes only edge and blur on the fly)"
#: The Hugging Face cache folder of each checkpoint (`hf download nvidia/<name>`).
_HF = "hub/models--nvidia--{name}/snapshots"


def _suffix(path: str, default: str) -> str:
    text = str(path)
    return text[text.rfind("."):].lower() if "." in text.rsplit("/", 1)[-1] else default


class Cosmos3Profile(ModelProfile):
    id = "cosmos3"
    name = "Cosmos 3"
    summary = ("NVIDIA's omni world model (Nano 8B, Edge 2B, Super 32B): video2video with "
               "edge, blur, depth, seg and wsm hints, text2video from a prompt, image2video "
               "from a still; guardrails on by default; a folder per sample.")
    controls = (
        ControlSpec("edge", "Edge (Canny edges, computed on the fly)", (), "canny_threshold"),
        ControlSpec("vis", "Blur (Cosmos 3's blur hint, computed on the fly)", (),
                    "blur_strength"),
        ControlSpec("depth", "Depth" + _NEEDS_VIDEO),
        ControlSpec("seg", "Seg" + _NEEDS_VIDEO),
        ControlSpec("wsm", "WSM (world surface map)" + _NEEDS_VIDEO),
    )
    gpu_counts = c3.GPU_COUNTS
    run_types = (RUN_INFERENCE,)
    offload_flags = c3.OFFLOAD_FLAGS
    vram_gb = min(c.vram_gb for c in c3.CHECKPOINTS)
    chunk_frames, chunk_overlap = c3.CHUNK_FRAMES, c3.CONDITIONAL_FRAMES

    def chunking(self, params: GenerationParams) -> tuple[int | None, int]:
        """Its chunk size and conditional (overlap) frames are settings of the request."""
        extra = params.extra or {}
        try:
            size = int(extra.get("chunk_frames") or c3.CHUNK_FRAMES)
            overlap = int(extra.get("conditional_frames") if extra.get("conditional_frames")
                          not in (None, "") else c3.CONDITIONAL_FRAMES)
        except (TypeError, ValueError):
            size, overlap = c3.CHUNK_FRAMES, c3.CONDITIONAL_FRAMES
        return size, min(max(0, overlap), max(0, size - 1))
    primary_fields = ("extra.mode", "extra.checkpoint")
    image = ImageFacts(
        default_image="cosmos-framework:latest",
        build="in the cosmos-framework checkout: docker build -t cosmos-framework:latest . "
              "(the code and its environment go into the image; checkpoints download into "
              "HF_HOME on first use: hf download nvidia/Cosmos3-Nano)",
        checkout_dir="cosmos-framework", entry_script=c3.ENTRY_SCRIPT,
        container_checkout="/workspace", sim_checkout="cosmos3",
        repository="https://github.com/NVIDIA/cosmos-framework",
        # each checkpoint is a whole Hugging Face repository (args._CHECKPOINTS[...].hf)
        download="for repo in {repos}; do HF_HOME={hf_home} hf download $repo; done (only "
                 "the checkpoints you run are needed; the first run downloads them too, with "
                 "HF_TOKEN)")
    checkpoints = tuple(CheckpointFile(_HF.format(name=c.name), "hf_home",
                                       f"{c.name} ({c.size})") for c in c3.CHECKPOINTS)

    # -- what the artist sees -------------------------------------------------------------------
    def fields(self) -> tuple[FieldSpec, ...]:
        names = tuple(c.name for c in c3.CHECKPOINTS)
        return (
            FieldSpec("extra.mode", "Mode", "choice", c3.DEFAULT_MODE, choices=c3.MODES,
                      info="video2video: restyle a video with control hints; text2video: "
                      "from the prompt alone; image2video: from a still"),
            FieldSpec("extra.checkpoint", "Checkpoint", "choice", c3.DEFAULT_CHECKPOINT,
                      choices=names, info="; ".join(c.label for c in c3.CHECKPOINTS)),
            FieldSpec("num_steps", "Steps", "integer", c3.DEFAULT_STEPS, 1, c3.STEPS_MAX, 1),
            FieldSpec("guidance", "Guidance (0-7; empty = the mode's tuned default)", "number",
                      None, c3.GUIDANCE_MIN, c3.GUIDANCE_MAX, 0.5, optional=True),
            FieldSpec("seed", "Seed", "integer", 1, 0, c3.SEED_LIMIT - 1, 1),
            FieldSpec("fps", "FPS (0 = 24; video2video keeps the input's)", "integer", 0, 0,
                      None, 1),
            FieldSpec("num_gpus", "GPUs", "choice", 1, choices=c3.GPU_COUNTS),
            FieldSpec("extra.parallelism", "Parallelism preset", "choice",
                      c3.DEFAULT_PARALLELISM, choices=c3.PARALLELISM,
                      info="latency: split one sample over the GPUs; throughput: no split"),
            FieldSpec("extra.guardrails", "Guardrails", "choice", "on", choices=c3.GUARDRAILS,
                      info="on by default: the prompt and the video are checked"),
            FieldSpec("blur_strength", "Blur strength (preset_blur_strength)", "choice",
                      "medium", choices=c3.BLUR_PRESETS),
            FieldSpec("canny_threshold", "Edge threshold (preset_edge_threshold)", "choice",
                      "medium", choices=c3.EDGE_PRESETS),
            FieldSpec("extra.resolution", "Resolution (a tier; empty = the checkpoint's)",
                      "choice", None, choices=c3.RESOLUTIONS, optional=True),
            FieldSpec("extra.aspect_ratio", "Aspect ratio (empty = 16,9 or the input's)",
                      "choice", None, choices=c3.ASPECT_RATIOS, optional=True),
            FieldSpec("extra.num_frames", "Frames (empty = 189; Edge 121)", "integer", None, 1,
                      None, 1, optional=True),
            FieldSpec("extra.max_frames", "Max frames (empty = all)", "integer", None, 1, None,
                      1, optional=True, info="frames read from the input video"),
            FieldSpec("extra.control_guidance", "Control guidance (0-10; empty = tuned)",
                      "number", None, c3.CONTROL_GUIDANCE_MIN, c3.CONTROL_GUIDANCE_MAX, 0.1,
                      optional=True),
            FieldSpec("extra.chunk_frames", "Frames per chunk (empty = 93)", "integer", None,
                      1, None, 1, optional=True),
            FieldSpec("extra.conditional_frames", "Conditional frames per chunk (empty = 1)",
                      "integer", None, 0, None, 1, optional=True),
        )

    def defaults(self, generation: Any) -> GenerationParams:
        return GenerationParams(
            prompt="", negative_prompt="", weights={"edge": 1.0}, sigma_max=None,
            guidance=None, num_steps=c3.DEFAULT_STEPS, seed=1, fps=None, num_gpus=1,
            model=self.id, extra={"mode": c3.DEFAULT_MODE, "checkpoint": c3.DEFAULT_CHECKPOINT,
                                  "parallelism": c3.DEFAULT_PARALLELISM, "guardrails": "on"})

    def shape(self, params: GenerationParams) -> RequestShape:
        """The form follows the mode: text2video has no input and no controls, image2video
        starts from an image and has no controls."""
        mode = mode_of(params)
        if mode == c3.TEXT2VIDEO:
            return RequestShape(input=None, controls=False, hidden=frozenset({
                "extra.max_frames", "extra.control_guidance", "extra.chunk_frames",
                "extra.conditional_frames", "blur_strength", "canny_threshold",
                "seg_prompt"}))
        if mode == c3.IMAGE2VIDEO:
            return RequestShape(input="image", controls=False, hidden=frozenset({
                "extra.max_frames", "extra.control_guidance", "extra.chunk_frames",
                "extra.conditional_frames", "blur_strength", "canny_threshold",
                "seg_prompt"}))
        return RequestShape(input="video", controls=True,
                            hidden=frozenset({"extra.num_frames", "fps", "seg_prompt"}))

    # -- checking -------------------------------------------------------------------------------
    def input_files(self, params: GenerationParams, run_type: str) -> list[InputFile]:
        files = []
        mode = mode_of(params)
        if params.input_video and mode != c3.TEXT2VIDEO:
            image = mode == c3.IMAGE2VIDEO
            files.append(InputFile("input", params.input_video, not image,
                                   "input" + _suffix(params.input_video,
                                                     ".jpg" if image else ".mp4")))
        if mode == c3.VIDEO2VIDEO:
            videos = params.control_videos if isinstance(params.control_videos, Mapping) else {}
            for control in params.active_controls(c3.CONTROLS):
                if videos.get(control):
                    files.append(InputFile(f"control.{control}", videos[control], True,
                                           c3.HINT_OF[control] + _suffix(videos[control],
                                                                         ".mp4")))
        return files

    def validate(self, params: GenerationParams, *, run_type: str,
                 infos: Mapping[str, VideoInfoLike], batching: bool = False
                 ) -> list[FieldError]:
        return validate_params(params, run_type=run_type, infos=infos)

    def warnings(self, params: GenerationParams, *,
                 infos: Mapping[str, VideoInfoLike]) -> list[FieldError]:
        return warnings(params, infos)

    def vram_for(self, params: GenerationParams, num_gpus: int) -> float:
        ckpt = c3.checkpoint(extra_of(params, "checkpoint") or c3.DEFAULT_CHECKPOINT)
        return ckpt.vram_gb if ckpt else self.vram_gb

    # -- the job --------------------------------------------------------------------------------
    def command(self, ctx: JobContext, items: Sequence[JobItem]) -> ModelCommand:
        """One sample per job, named after the run id; upstream writes its folder
        `outputs/<id>/`: `vision.mp4`, `sample_args.json` (kept as the recipe),
        `sample_outputs.json` (the status classify reads) and `control_<hint>.mp4`."""
        if len(items) != 1:
            raise ValueError("Cosmos 3 runs one sample per job")
        it = items[0]
        p = it.params
        sample = build_sample(p, name=it.run_id, paths=it.paths)
        argv = build_inference_argv(
            num_gpus=ctx.num_gpus, master_port=ctx.master_port,
            spec_path=f"{ctx.folder}/spec.json", output_dir=f"{ctx.folder}/outputs",
            checkpoint=extra_of(p, "checkpoint") or c3.DEFAULT_CHECKPOINT,
            parallelism=extra_of(p, "parallelism") or c3.DEFAULT_PARALLELISM,
            guardrails=(extra_of(p, "guardrails") or "on") == "on", offload_flags=ctx.offload)
        rid = it.run_id
        folder = f"outputs/{rid}"
        extras = tuple(OutputFile(f"control.{c}", f"{c3.HINT_OF[c]} control video (written by "
                                  "the model)", f"{folder}/control_{c3.HINT_OF[c]}.mp4")
                       for c in c3.CONTROLS if c3.HINT_OF[c] in sample)
        outputs = {rid: RunOutputs(video=f"{folder}/vision.mp4",
                                   recipe=f"{folder}/sample_args.json", extras=extras,
                                   status=(f"{folder}/sample_outputs.json",))}
        text = sample_json(sample)
        return ModelCommand(files={"spec.json": text}, spec_files=("spec.json",), argv=argv,
                            env={}, outputs=outputs, run_specs={rid: text})

    def guardrails(self, params: GenerationParams) -> bool | None:
        return (extra_of(params, "guardrails") or "on") == "on"

    # -- watching and judging -------------------------------------------------------------------
    def progress_tracker(self, n_items: int = 1) -> ProgressTracker:
        return ProgressTracker(n_items=n_items)

    def classify(self, result: ItemResult) -> Outcome:
        return classify_sample(name=result.run_id, exit_code=result.exit_code,
                               log_lines=result.log_lines, have_video=result.have_video,
                               files=result.files, killed_by_user=result.killed_by_user)


PROFILE = register_model_profile(Cosmos3Profile.id, Cosmos3Profile())
