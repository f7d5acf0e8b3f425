"""The Cosmos-Transfer2.5 profile (2B, rectified flow, Cosmos-Reason1 text encoder).

Facts: /work/shared/cosmos-transfer2.5-and-cosmos3.md and, where they disagree, the source:
cosmos_transfer2/config.py (every field, type and range), cosmos_transfer2/inference.py (log
lines, outputs, keep_going), examples/inference.py (the entry point), Dockerfile and
bin/entrypoint.sh (the image), packages/cosmos-oss (checkpoints, the console log filter).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

from backend.extensions import register_model_profile
from backend.models.checks import FieldError, VideoInfoLike
from backend.models.params import RUN_INFERENCE, GenerationParams
from backend.models.profile import (CheckpointFile, ControlSpec, FieldSpec, ImageFacts,
                                    InputFile, ItemResult, JobContext, JobItem, ModelCommand,
                                    ModelProfile, OutputFile, RunOutputs, VariantSpec)
from backend.models.results import Outcome
from backend.models.transfer2_5 import params as t25
from backend.models.transfer2_5.command import build_inference_argv, job_env
from backend.models.transfer2_5.outcome import classify_sample
from backend.models.transfer2_5.progress import ProgressTracker
from backend.models.transfer2_5.spec import batch_jsonl, build_sample, sample_json
from backend.models.transfer2_5.validate import validate_params, warnings

_MASKS = ("mask_path", "mask_prompt")
#: The Hugging Face cache layout (`HF_HOME/hub/models--<org>--<repo>/snapshots/<revision>/`)
#: of the checkpoints at the revisions cosmos_oss/checkpoints_transfer2.py pins.
_SNAPSHOT = "hub/models--nvidia--Cosmos-Transfer2.5-2B/snapshots"
_CHECKPOINTS = (
    ("b67b64abda3801a9aceddbff2bdb86126c06db74",
     "general/edge/61f5694b-0ad5-4ecd-8ad7-c8545627d125_ema_bf16.pt", "edge"),
    ("dea7737ca29dd8d9086413c6dc5724b8250a0bb4",
     "general/depth/626e6618-bfcd-4d9a-a077-1409e2ce353f_ema_bf16.pt", "depth"),
    ("eb5325b77d358944da58a690157dd2b8071bbf85",
     "general/blur/ba2f44f2-c726-4fe7-949f-597069d9b91c_ema_bf16.pt", "vis"),
    ("23057a4167b89de89a4a397fdbf3887994d115eb",
     "general/seg/5136ef49-6d8d-42e8-8abf-7dac722a304a_ema_bf16.pt", "seg"),
    ("bbaeedb2b57cc8b14a44653099e2551adb69dcc7",
     "distilled/general/edge/41f07f13-f2e4-4e34-ba4c-86f595acbc20_ema_bf16.pt",
     "edge/distilled"),
)


#: What every run downloads besides its control checkpoint, at the revisions upstream pins
#: (cosmos_oss/checkpoints.py: the text encoder and the VAE; guardrail/common/core.py:
#: Cosmos-Guardrail1), and Qwen3Guard, which qwen3guard.py loads unpinned (`from_pretrained`,
#: the main branch). A whole-repository download is checked by one file every copy has.
_SHARED = (
    CheckpointFile("hub/models--nvidia--Cosmos-Reason1-7B/snapshots/"
                   "3210bec0495fdc7a8d3dbb8d58da5711eab4b423/config.json", "hf_home",
                   "text encoder (Cosmos-Reason1-7B)",
                   revision="3210bec0495fdc7a8d3dbb8d58da5711eab4b423", whole_repo=True),
    CheckpointFile("hub/models--nvidia--Cosmos-Predict2.5-2B/snapshots/"
                   "f176dc95b4a70f53ce01c4b302851595e7322b00/tokenizer.pth", "hf_home",
                   "VAE (Wan2.1)", revision="f176dc95b4a70f53ce01c4b302851595e7322b00"),
    CheckpointFile("hub/models--nvidia--Cosmos-Guardrail1/snapshots/"
                   "d6d4bfa899a71454a700907664f3e88f503950cf/video_content_safety_filter/"
                   "safety_filter.pt", "hf_home", "guardrail (Cosmos-Guardrail1)",
                   revision="d6d4bfa899a71454a700907664f3e88f503950cf", whole_repo=True),
    CheckpointFile("hub/models--Qwen--Qwen3Guard-Gen-0.6B/refs/main", "hf_home",
                   "guardrail (Qwen3Guard-Gen-0.6B)", whole_repo=True),
)


def _link(role: str, path: str) -> str:
    kind, _, name = role.partition(".")
    suffix = str(path)[str(path).rfind("."):].lower() if "." in str(path) else ".mp4"
    return {"input": "input", "control": name, "mask": f"{name}_mask"}[kind] + suffix


class Transfer25Profile(ModelProfile):
    id = "transfer2.5"
    name = "Cosmos-Transfer2.5-2B"
    summary = ("NVIDIA's 2B successor of Transfer1: edge, vis, depth and seg controls with "
               "per-control masks, integer guidance 0-7, the input's own frame rate, a "
               "4-step distilled edge model.")
    controls = (
        ControlSpec("edge", "Edge (Canny edges: keeps outlines)", _MASKS, "canny_threshold"),
        ControlSpec("vis", "Vis (blurred input: keeps colours and layout)", _MASKS,
                    "blur_strength"),
        ControlSpec("depth", "Depth (VideoDepthAnything: keeps 3D structure)", _MASKS),
        ControlSpec("seg", "Seg (GroundingDINO + SAM2: keeps objects and regions)", _MASKS),
    )
    gpu_counts = t25.GPU_COUNTS
    run_types = (RUN_INFERENCE,)
    variants = (VariantSpec(t25.DISTILLED, "Distilled edge (4 steps, edge/distilled)",
                            "The experimental distilled edge model: 4 sampling steps, one "
                            "93-frame chunk at most, no negative prompt or guidance.",
                            ("edge",), {"num_steps": t25.DISTILLED_STEPS}),)
    offload_flags = t25.OFFLOAD_FLAGS
    vram_gb = t25.VRAM_GB
    #: inference_pipeline._get_num_chunks: 93-frame chunks overlapping by 1 frame
    chunk_frames, chunk_overlap = t25.CHUNK_FRAMES, t25.CONDITIONAL_FRAMES
    #: A review note's region is re-generated through the controls' `mask_path` (white = the
    #: control applies): each active control holds everything but the region (with_region_mask).
    takes_region_masks = True
    region_mask = "outside"
    image = ImageFacts(
        default_image="cosmos-transfer2.5:latest",
        build="in the cosmos-transfer2.5 checkout: docker build --build-arg STANDALONE=true "
              "-f Dockerfile -t cosmos-transfer2.5:latest . (the code and its venv go into "
              "the image at /workspace)",
        checkout_dir="cosmos-transfer2.5", entry_script=t25.ENTRY_SCRIPT,
        container_checkout="/workspace", sim_checkout="transfer2.5",
        # bin/entrypoint.sh runs `uv sync` (network) at every start: skip it, the image is
        # built standalone; a checkout mounted over /workspace keeps the image's venv.
        entrypoint="bash", keep_image_paths=("/workspace/.venv",),
        repository="https://github.com/nvidia-cosmos/cosmos-transfer2.5",
        download_argv=("uvx", "hf>=1.3.5", "download", "{repo}", "{file}", "--revision",
                       "{revision}"),
        offline_env={"HF_HUB_OFFLINE": "1", "UV_OFFLINE": "1"},
        build_args=("STANDALONE=true",))
    checkpoints = tuple(CheckpointFile(f"{_SNAPSHOT}/{rev}/{path}", "hf_home", what,
                                       revision=rev)
                        for rev, path, what in _CHECKPOINTS) + _SHARED

    # -- what the artist sees -------------------------------------------------------------------
    def fields(self) -> tuple[FieldSpec, ...]:
        return (
            FieldSpec("num_steps", "Steps", "integer", t25.DEFAULT_STEPS, 1, t25.STEPS_MAX, 1),
            FieldSpec("guidance", "Guidance (whole number 0-7)", "integer",
                      t25.DEFAULT_GUIDANCE, t25.GUIDANCE_MIN, t25.GUIDANCE_MAX, 1,
                      info="config.py: int 0-7, default 3; ignored by the distilled model"),
            FieldSpec("sigma_max", "Sigma max (empty = the model's schedule; 200 = pure noise)",
                      "number", None, 0, t25.SIGMA_MAX_MAX, optional=True),
            FieldSpec("seed", "Seed", "integer", t25.DEFAULT_SEED, 0, t25.SEED_LIMIT - 1, 1),
            FieldSpec("num_gpus", "GPUs", "choice", 1, choices=t25.GPU_COUNTS),
            FieldSpec("blur_strength", "Vis blur strength (preset_blur_strength)", "choice",
                      "medium", choices=t25.PRESETS),
            FieldSpec("canny_threshold", "Edge threshold (preset_edge_threshold)", "choice",
                      "medium", choices=t25.PRESETS),
            FieldSpec("extra.resolution", "Resolution", "choice", t25.DEFAULT_RESOLUTION,
                      choices=t25.RESOLUTIONS, info="the checkpoints are trained at 720"),
            FieldSpec("extra.max_frames", "Max frames (empty = all)", "integer", None, 2, None, 1,
                      optional=True, info="frames read from the input video"),
        )

    def defaults(self, generation: Any) -> GenerationParams:
        return GenerationParams(
            prompt="", negative_prompt=t25.DEFAULT_NEGATIVE_PROMPT, weights={"edge": 1.0},
            sigma_max=None, guidance=t25.DEFAULT_GUIDANCE, num_steps=t25.DEFAULT_STEPS,
            seed=t25.DEFAULT_SEED, fps=None, num_gpus=1, model=self.id,
            extra={"resolution": t25.DEFAULT_RESOLUTION})

    # -- checking -------------------------------------------------------------------------------
    def input_files(self, params: GenerationParams, run_type: str) -> list[InputFile]:
        files = []
        if params.input_video:
            files.append(InputFile("input", params.input_video, True,
                                   _link("input", params.input_video)))
        active = params.active_controls(t25.CONTROLS)
        videos = params.control_videos if isinstance(params.control_videos, Mapping) else {}
        for control in t25.CONTROLS:
            if control not in active:
                continue
            if videos.get(control):
                files.append(InputFile(f"control.{control}", videos[control], True,
                                       _link(f"control.{control}", videos[control])))
            mask = params.option(control, "mask_path")
            if mask:
                files.append(InputFile(f"mask.{control}", mask, True,
                                       _link(f"mask.{control}", mask)))
        return files

    def validate(self, params: GenerationParams, *, run_type: str,
                 infos: Mapping[str, VideoInfoLike], batching: bool = False
                 ) -> list[FieldError]:
        return validate_params(params, run_type=run_type, infos=infos)

    def warnings(self, params: GenerationParams, *,
                 infos: Mapping[str, VideoInfoLike]) -> list[FieldError]:
        return warnings(params, infos)

    # -- the job --------------------------------------------------------------------------------
    def guardrails(self, params: GenerationParams) -> bool | None:
        """On: the app never turns this model's guardrails off (as Cosmos ships it)."""
        return True

    def command(self, ctx: JobContext, items: Sequence[JobItem]) -> ModelCommand:
        """Samples are named after their run ids (unique, safe file names); outputs land flat
        in `outputs/`: `<id>.mp4`, `<id>.txt`, `<id>.json` (the resolved arguments, kept as the
        run's recipe), `<id>_control_<key>.mp4` and `<id>_mask_<key>.mp4`."""
        samples = [build_sample(it.params, name=it.run_id, paths=it.paths) for it in items]
        lead = items[0].params
        if ctx.batch:
            name, text = "batch.jsonl", batch_jsonl(samples)
        else:
            name, text = "spec.json", sample_json(samples[0])
        distilled = lead.variant == t25.DISTILLED
        argv = build_inference_argv(num_gpus=ctx.num_gpus, master_port=ctx.master_port,
                                    spec_path=f"{ctx.folder}/{name}",
                                    output_dir=f"{ctx.folder}/outputs", distilled=distilled,
                                    offload_flags=ctx.offload)
        outputs, run_specs = {}, {}
        for it, sample in zip(items, samples):
            rid = it.run_id
            extras = [OutputFile(f"control.{c}", f"{c} control video (written by the model)",
                                 f"outputs/{rid}_control_{c}.mp4")
                      for c in t25.CONTROLS if c in sample]
            extras += [OutputFile(f"mask.{c}", f"{c} mask (written by the model)",
                                  f"outputs/{rid}_mask_{c}.mp4")
                       for c in t25.CONTROLS if c in sample and (
                           "mask_path" in sample[c] or "mask_prompt" in sample[c])]
            outputs[rid] = RunOutputs(video=f"outputs/{rid}.mp4", text=f"outputs/{rid}.txt",
                                      recipe=f"outputs/{rid}.json", extras=tuple(extras))
            run_specs[rid] = sample_json(sample)
        return ModelCommand(files={name: text}, spec_files=(name,), argv=argv,
                            env=job_env(distilled=distilled), outputs=outputs,
                            run_specs=run_specs)

    def batch_key(self, params: GenerationParams, input_fps: float | None) -> tuple | None:
        """Each sample carries all its own settings, so only what the whole job shares must
        match: the model variant, the GPUs, offloading, and the set of controls (a batch whose
        samples use more than one control set loads the multicontrol model for every one of
        them: 'Multicontrol inference is not strictly equal to single control')."""
        if not params.input_video:
            return None
        return (self.id, params.variant, int(params.num_gpus),
                tuple(params.active_controls(t25.CONTROLS)),
                tuple(params.offload) if params.offload is not None else None)

    def with_region_mask(self, params: GenerationParams, mask_video: str, *,
                         prompt: str) -> GenerationParams | None:
        """Transfer2.5 has no regional prompts; a control's `mask_path` says where it applies
        (white). So every control the run uses gets the region's inverse (`region_mask =
        "outside"`: `mask_video` is white everywhere but the region) as its mask: the
        controls hold the frame as the run had it everywhere but the region, which is free to
        follow the prompt, with the note's words added to it (once: words already in the
        prompt are not added again when the draft is masked at launch). None when no control
        is in use."""
        active = [c for c in self.control_names if float(params.weights.get(c) or 0) > 0]
        if not active:
            return None
        draft = copy.deepcopy(params)
        options = {k: dict(v) for k, v in (draft.control_options or {}).items()
                   if isinstance(v, Mapping)}
        for control in active:
            block = options.setdefault(control, {})
            block.pop("mask_prompt", None)
            block["mask_path"] = str(mask_video)
        draft.control_options = options
        words = (prompt or "").strip()
        if words and words not in (params.prompt or ""):  # once: a draft is masked again at
            draft.prompt = f"{(params.prompt or '').rstrip()} {words}".strip()  # launch
        return draft

    def region_mask_of(self, params: GenerationParams) -> str | None:
        """The mask with_region_mask gave the controls (the region's inverse)."""
        return next((str(params.option(c, "mask_path")) for c in self.control_names
                     if params.option(c, "mask_path")), None)

    # -- watching and judging -------------------------------------------------------------------
    def progress_tracker(self, n_items: int = 1) -> ProgressTracker:
        return ProgressTracker(n_items=n_items)

    def classify(self, result: ItemResult) -> Outcome:
        return classify_sample(name=result.run_id, exit_code=result.exit_code,
                               log_lines=result.log_lines, have_video=result.have_video,
                               killed_by_user=result.killed_by_user)


PROFILE = register_model_profile(Transfer25Profile.id, Transfer25Profile())
