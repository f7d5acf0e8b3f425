"""The Cosmos-Transfer1 profile: today's contract modules (params, validate, spec, batch,
command, progress, outcome) wrapped behind backend/models/profile.py, plus the options of
options.py and the standalone prompt upsampler of enhance.py.

Facts: /work/shared/cosmos-transfer1.md, checked against nvidia-cosmos/cosmos-transfer1
(transfer.py, inference_utils.validate_controlnet_specs, world_generation_pipeline.py,
preprocessors.py, auxiliary/upsampler/).
"""

from __future__ import annotations

import json
import posixpath
from collections.abc import Mapping, Sequence
from typing import Any

from backend.extensions import register_model_profile
from backend.models.checks import FieldError, VideoInfoLike
from backend.models.params import RUN_ENHANCE, RUN_INFERENCE, RUN_UPSCALE, GenerationParams
from backend.models.profile import (CheckpointFile, ControlSpec, FieldSpec, ImageFacts,
                                    InputFile, ItemResult, JobContext, JobItem, ModelCommand,
                                    ModelProfile, OutputFile, RunOutputs, VariantSpec)
from backend.models.results import CANCELLED, COMPLETED, Outcome
from backend.models.transfer1 import enhance, options
from backend.models.transfer1.batch import (BATCH_PROMPT_NAME, BATCH_VIDEO_NAME, BatchItem,
                                            batch_compatibility_key, batch_controls,
                                            build_batch_base_spec, build_batch_jsonl)
from backend.models.transfer1.command import OFFLOAD_FLAGS, TRANSFER_SCRIPT, build_transfer_argv
from backend.models.transfer1.outcome import classify_outcome
from backend.models.transfer1.params import CONTROLS, GPU_COUNTS, PRESETS
from backend.models.transfer1.progress import ProgressTracker
from backend.models.transfer1.spec import build_spec, build_upscale_spec, resolve_fps, spec_json
from backend.models.transfer1.validate import (SEED_LIMIT, validate_params,
                                               validate_upscale_weight)

#: transfer.py writes `<VIDEO_NAME>.mp4` (and `.txt`) into the job's outputs folder.
VIDEO_NAME = "output"
MODEL_DIR = "nvidia/Cosmos-Transfer1-7B"
TOKENIZER_DIR = "nvidia/Cosmos-Tokenize1-CV8x8x8-720p"
_OPTIONS = ("ckpt_path", "weight_map")
_SUFFIXES = {"input": "input", "control": "{c}", "weight": "{c}_weights", "region": "region_{c}"}


def _link(role: str, path: str) -> str:
    kind, _, name = role.partition(".")
    suffix = posixpath.splitext(str(path))[1].lower() or ".mp4"
    return _SUFFIXES[kind].format(c=name) + suffix


class Transfer1Profile(ModelProfile):
    id = "transfer1"
    name = "Cosmos-Transfer1-7B"
    summary = ("NVIDIA's 7B controllable video-to-video model: vis, edge, depth, seg and keypoint "
               "controls, a 4K upscaler and a prompt upsampler.")
    controls = (
        ControlSpec("vis", "Vis (blurred input: keeps colours and layout)", _OPTIONS,
                    "blur_strength"),
        ControlSpec("edge", "Edge (Canny edges: keeps outlines)", _OPTIONS, "canny_threshold"),
        ControlSpec("depth", "Depth (keeps 3D structure)", _OPTIONS),
        ControlSpec("seg", "Seg (segmentation: keeps objects and regions)",
                    _OPTIONS + ("weight_prompt",)),
        ControlSpec("keypoint", "Keypoint (keeps human poses)", _OPTIONS),
    )
    gpu_counts = GPU_COUNTS
    run_types = (RUN_INFERENCE, RUN_UPSCALE, RUN_ENHANCE)
    variants = (VariantSpec(options.DISTILLED, "Distilled edge (1 step, --use_distilled)",
                            "The distilled edge ControlNet: one diffusion step instead of 35; "
                            "edge only, no regional prompts.", ("edge",)),)
    offload_flags = OFFLOAD_FLAGS
    #: No official figure: tested on H100 80 GB with offloads (issue #4); 60 GB free OOMs (#189).
    vram_gb = 70.0
    #: transfer.py walks a long input in 121-frame clips, each new one overlapping by 1 frame
    chunk_frames, chunk_overlap = 121, 1
    image = ImageFacts(
        default_image="cosmos-transfer1:latest",
        build="in the cosmos-transfer1 checkout: docker build -f Dockerfile -t "
              "cosmos-transfer1:latest . (the code is mounted from the checkout, not copied)",
        checkout_dir="cosmos-transfer1", entry_script=TRANSFER_SCRIPT,
        container_checkout="/workspace/cosmos-transfer1", sim_checkout="transfer1",
        repository="https://github.com/nvidia-cosmos/cosmos-transfer1",
        download="cd {checkout} && PYTHONPATH=$(pwd) python scripts/download_checkpoints.py "
                 "--output_dir {checkpoint_dir} --model 7b (it exits 0 even when a download "
                 "failed, so run the doctor again after)",
        download_argv=("python", "scripts/download_checkpoints.py", "--output_dir",
                       "{checkpoint_dir}", "--model", "7b"))
    checkpoints = tuple(CheckpointFile(f"{MODEL_DIR}/{name}", "checkpoint_dir", what) for name, what in (
        ("base_model.pt", "every run"), ("vis_control.pt", "vis"), ("edge_control.pt", "edge"),
        ("depth_control.pt", "depth"), ("seg_control.pt", "seg"),
        ("keypoint_control.pt", "keypoint"), ("4kupscaler_control.pt", "4K upscale"))) + tuple(
        CheckpointFile(f"{TOKENIZER_DIR}/{name}", "checkpoint_dir", "tokenizer")
        for name in ("encoder.jit", "decoder.jit", "autoencoder.jit", "mean_std.pt")) + tuple(
        # what every run loads besides the 7B model (the text encoder and the guardrails, which
        # Transfer1 cannot switch off), and what enhance (the prompt upsampler) needs
        CheckpointFile(path, "checkpoint_dir", what) for path, what in (
            ("google-t5/t5-11b/config.json", "T5-11B text encoder"),
            ("nvidia/Cosmos-Guardrail1/face_blur_filter/Resnet50_Final.pth", "guardrail"),
            ("nvidia/Cosmos-Guardrail1/video_content_safety_filter/safety_filter.pt",
             "guardrail"),
            ("meta-llama/Llama-Guard-3-8B/config.json", "guardrail (Llama-Guard-3-8B)"),
            ("nvidia/Cosmos-UpsamplePrompt1-12B-Transfer/config.json", "enhance")))

    # -- what the artist sees -------------------------------------------------------------------
    def fields(self) -> tuple[FieldSpec, ...]:
        return (
            FieldSpec("num_steps", "Steps", "integer", 35, 1, 200, 1),
            FieldSpec("guidance", "Guidance", "number", 5.0, 0, 20, 0.5,
                      info="transfer.py's default is 5 (its docs use 7)"),
            FieldSpec("sigma_max", "Sigma max (80 = ignore input colours)", "number", 70.0, 0,
                      80),
            FieldSpec("seed", "Seed", "integer", 1, 0, SEED_LIMIT - 1, 1),
            FieldSpec("fps", "FPS (0 = same as input)", "integer", 0, 0, 120, 1),
            FieldSpec("num_gpus", "GPUs", "choice", 1, choices=GPU_COUNTS),
            FieldSpec("blur_strength", "Vis blur strength", "choice", "medium", choices=PRESETS),
            FieldSpec("canny_threshold", "Edge (Canny) threshold", "choice", "medium",
                      choices=PRESETS),
            FieldSpec("upscale_weight", "Upscale weight (Run + upscale, 0 to 1)", "number", 0.5,
                      0, 1, 0.05),
            FieldSpec("batch_size", "Batch size (items on the GPU at once; batches only)",
                      "integer", 1, 1, options.BATCH_SIZE_MAX, 1),
            FieldSpec("regional_prompts", "Regional prompts (one per line: PROMPT @ x1,y1,x2,y2 "
                      "| PROMPT @ mask.mp4 | PROMPT @ objects to segment)", "regions", "",
                      info="boxes are fractions 0..1 of width and height"),
        )

    def defaults(self, generation: Any) -> GenerationParams:
        g = generation
        return GenerationParams(
            prompt="", negative_prompt=g.negative_prompt, weights=dict(g.weights),
            sigma_max=g.sigma_max, guidance=g.guidance, num_steps=g.num_steps, seed=g.seed,
            blur_strength=g.blur_strength, canny_threshold=g.canny_threshold,
            num_gpus=g.num_gpus, upscale_weight=g.upscale_weight, model=self.id)

    # -- checking -------------------------------------------------------------------------------
    def input_files(self, params: GenerationParams, run_type: str) -> list[InputFile]:
        if run_type == RUN_UPSCALE:
            return []  # the parent's output, already on the box
        files = []
        if params.input_video:
            files.append(InputFile("input", params.input_video, True,
                                   _link("input", params.input_video)))
        active = params.active_controls(CONTROLS)
        videos = params.control_videos if isinstance(params.control_videos, Mapping) else {}
        for control in CONTROLS:
            video = videos.get(control)
            if video and control in active:
                files.append(InputFile(f"control.{control}", video, True,
                                       _link(f"control.{control}", video)))
            weight_map = params.option(control, "weight_map")
            if weight_map and control in active:
                files.append(InputFile(f"weight.{control}", weight_map, False,
                                       _link(f"weight.{control}", weight_map)))
        for i in options.staged_regions(params):
            path = params.regional_prompts[i]["mask_video"]
            files.append(InputFile(f"region.{i}", path, True, _link(f"region.{i}", path)))
        return files

    def validate(self, params: GenerationParams, *, run_type: str,
                 infos: Mapping[str, VideoInfoLike], batching: bool = False
                 ) -> list[FieldError]:
        if run_type == RUN_UPSCALE:
            return validate_upscale_weight(params.upscale_weight)
        controls = {role.split(".", 1)[1]: info for role, info in infos.items()
                    if role.startswith("control.")}
        errors = validate_params(params, input_info=infos.get("input"),
                                 control_infos=controls or None)
        errors += options.validate_options(params, run_type=run_type, batching=batching)
        if run_type == RUN_ENHANCE:
            errors += enhance.validate_enhance(params)
        return errors

    def gpus_for(self, params: GenerationParams, run_type: str) -> int:
        """The standalone upsampler runs on one GPU (vLLM, tensor_parallel_size=1)."""
        return 1 if run_type == RUN_ENHANCE else super().gpus_for(params, run_type)

    def guardrails(self, params: GenerationParams) -> bool | None:
        """On: the app never turns this model's guardrails off (as Cosmos ships it)."""
        return True

    # -- the job --------------------------------------------------------------------------------
    def command(self, ctx: JobContext, items: Sequence[JobItem]) -> ModelCommand:
        if ctx.run_type == RUN_ENHANCE:
            return self._enhance(ctx, items[0])
        if ctx.batch:
            return self._batch(ctx, items)
        item = items[0]
        p, paths = item.params, item.paths
        if ctx.run_type == RUN_UPSCALE:
            fps = p.fps or (round(item.input_fps) if item.input_fps else None)
            spec = build_upscale_spec(paths["input"], p.upscale_weight,
                                      negative_prompt=p.negative_prompt, prompt=p.prompt,
                                      fps=fps, seed=p.seed, guidance=p.guidance)
        else:
            spec = build_spec(p, input_video_path=paths.get("input"),
                              control_paths={c: paths[f"control.{c}"] for c in CONTROLS
                                             if f"control.{c}" in paths},
                              fps=resolve_fps(p, item.input_fps))
            options.apply_options(spec, p, paths)
        text = spec_json(spec)
        argv = self._argv(ctx, p, batch_input=None)
        outputs = RunOutputs(video=f"outputs/{VIDEO_NAME}.mp4", text=f"outputs/{VIDEO_NAME}.txt",
                             extras=self._made_controls(p, "outputs", paths))
        return ModelCommand(files={"spec.json": text}, spec_files=("spec.json",), argv=argv,
                            env={}, outputs={item.run_id: outputs},
                            run_specs={item.run_id: text})

    def _argv(self, ctx: JobContext, p: GenerationParams, batch_input: str | None) -> list[str]:
        argv = build_transfer_argv(
            num_gpus=ctx.num_gpus, master_port=ctx.master_port, checkpoint_dir=ctx.checkpoint_dir,
            video_save_folder=f"{ctx.folder}/outputs", video_save_name=VIDEO_NAME,
            controlnet_specs=f"{ctx.folder}/spec.json", offload_flags=ctx.offload,
            batch_input_path=batch_input)
        if p.variant == options.DISTILLED and ctx.run_type == RUN_INFERENCE:
            argv.append("--use_distilled")
        if batch_input and int(p.batch_size or 1) > 1:
            argv += ["--batch_size", str(int(p.batch_size))]
        return argv

    @staticmethod
    def _made_controls(p: GenerationParams, folder: str, paths: Mapping[str, str]
                       ) -> tuple[OutputFile, ...]:
        """Control videos Cosmos' preprocessors write for controls given no video of their
        own (`<hint>_input_control_<rank>.mp4` in the save folder), and seg's weight mask."""
        made = [OutputFile(f"control.{c}", f"{c} control video (made by Cosmos)",
                           f"{folder}/{c}_input_control_0.mp4")
                for c in p.active_controls(CONTROLS) if f"control.{c}" not in paths]
        if options.text_value(p.option("seg", "weight_prompt")) and "seg" in p.active_controls():
            made.append(OutputFile("weight.seg", "seg weight mask (from the weight prompt)",
                                   f"{folder}/seg_control_weight_0.mp4"))
        return tuple(made)

    def _batch(self, ctx: JobContext, items: Sequence[JobItem]) -> ModelCommand:
        batch_items = [BatchItem.from_params(
            it.params, visual_input=it.paths["input"],
            control_paths={c: it.paths[f"control.{c}"] for c in CONTROLS
                           if f"control.{c}" in it.paths}) for it in items]
        first = items[0]
        hints = batch_controls(batch_items)
        spec = build_batch_base_spec(first.params, items=batch_items,
                                     fps=resolve_fps(first.params, first.input_fps),
                                     controls=hints)
        options.apply_options(spec, first.params, first.paths)
        text = spec_json(spec)
        jsonl = build_batch_jsonl(batch_items, controls=hints)
        argv = self._argv(ctx, first.params, batch_input=f"{ctx.folder}/batch.jsonl")
        outputs = {}
        for index, it in enumerate(items):
            folder = f"outputs/video_{index}"
            outputs[it.run_id] = RunOutputs(
                video=f"{folder}/{BATCH_VIDEO_NAME}", text=f"{folder}/{BATCH_PROMPT_NAME}",
                extras=self._made_controls(it.params, folder, it.paths))
        return ModelCommand(files={"spec.json": text, "batch.jsonl": jsonl},
                            spec_files=("spec.json", "batch.jsonl"), argv=argv, env={},
                            outputs=outputs, run_specs={it.run_id: text for it in items})

    def _enhance(self, ctx: JobContext, item: JobItem) -> ModelCommand:
        files, why = enhance.enhance_files(
            item.params, item.paths, checkpoint_dir=ctx.checkpoint_dir,
            offload="offload_prompt_upsampler" in ctx.offload)
        argv = ["torchrun", "--nproc_per_node=1", "--nnodes=1", "--node_rank=0",
                f"--master_port={int(ctx.master_port)}", f"{ctx.folder}/{enhance.LAUNCHER_NAME}"]
        source = enhance.upsampler_source(item.params)
        note = OutputFile("upsampler_input", f"The prompt upsampler read {why}.",
                          source[0] if source else "")
        return ModelCommand(files=files, spec_files=(enhance.REQUEST_NAME,), argv=argv, env={},
                            outputs={item.run_id: RunOutputs(text=enhance.RESULT_NAME)},
                            run_specs={item.run_id: files[enhance.REQUEST_NAME]},
                            notes={item.run_id: (note,)})

    def batch_key(self, params: GenerationParams, input_fps: float | None) -> tuple | None:
        """transfer.py batches share the base spec: everything but prompt, weights, input and
        control videos must match (batch.py); weight maps and regional mask videos are files
        of one run, so runs with them never batch."""
        if not params.input_video or any(params.option(c, "weight_map") for c in CONTROLS) \
                or options.staged_regions(params):
            return None
        shared = {c: {k: params.option(c, k) for k in ("ckpt_path", "weight_prompt")}
                  for c in CONTROLS}
        return (self.id, batch_compatibility_key(params, fps=resolve_fps(params, input_fps)),
                params.variant, int(params.batch_size or 1),
                json.dumps(shared, sort_keys=True), json.dumps(params.regional_prompts,
                                                               sort_keys=True),
                tuple(params.offload) if params.offload is not None else None)

    # -- a review note's "re-generate here" ------------------------------------------------------
    takes_region_masks = True

    def with_region_mask(self, params: GenerationParams, mask_video: str, *,
                         prompt: str) -> GenerationParams:
        return options.with_region_mask(params, mask_video, prompt=prompt)

    def region_mask_of(self, params: GenerationParams) -> str | None:
        return options.region_mask_of(params)

    # -- watching and judging -------------------------------------------------------------------
    def progress_tracker(self, n_items: int = 1) -> ProgressTracker:
        return ProgressTracker(n_items=n_items)

    def classify(self, result: ItemResult) -> Outcome:
        if result.run_type == RUN_ENHANCE:
            text = result.files.get("text")
            if result.killed_by_user:
                return classify_outcome(exit_code=result.exit_code, log_lines=result.log_lines,
                                        output_exists=False, killed_by_user=True)
            if result.exit_code == 0 and text is not None and text.read_text(
                    encoding="utf-8").strip():
                evidence = next((line for line in reversed(result.log_lines)
                                 if line.startswith("Upsampled prompt:")), None)
                return Outcome(COMPLETED, "completed", evidence[:400] if evidence else None)
            outcome = classify_outcome(exit_code=result.exit_code, log_lines=result.log_lines,
                                       output_exists=False)
            if result.exit_code == 0 and outcome.status != CANCELLED:
                return Outcome(outcome.status, "the prompt upsampler exited 0 but printed no "
                               "upsampled prompt", outcome.evidence)
            return outcome
        return classify_outcome(exit_code=result.exit_code, log_lines=result.log_lines,
                                output_exists=result.have_video,
                                killed_by_user=result.killed_by_user)


PROFILE = register_model_profile(Transfer1Profile.id, Transfer1Profile())
