"""Cosmos-Transfer2.5's constants, as cosmos_transfer2/config.py defines them."""

from __future__ import annotations

#: config.CONTROL_KEYS, in upstream order (the multicontrol model's branch order).
CONTROLS: tuple[str, ...] = ("edge", "vis", "depth", "seg")
#: Context parallelism splits 24 latent frames (93 frames) along time: its divisors up to 8
#: (a split along width raises "Split by width dimension is not currently supported").
GPU_COUNTS: tuple[int, ...] = (1, 2, 3, 4, 6, 8)
#: config.Threshold.
PRESETS: tuple[str, ...] = ("very_low", "low", "medium", "high", "very_high")
#: config.DEFAULT_NEGATIVE_PROMPT.
DEFAULT_NEGATIVE_PROMPT = (
    "The video captures a game playing, with bad crappy graphics and cartoonish frames. It "
    "represents a recording of old outdated games. The lighting looks very fake. The textures "
    "are very raw and basic. The geometries are very primitive. The images are very pixelated "
    "and of poor CG quality. There are many subtitles in the footage. Overall, the video is "
    "unrealistic at all."
)
DEFAULT_SEED = 2025
DEFAULT_GUIDANCE = 3
GUIDANCE_MIN, GUIDANCE_MAX = 0, 7
DEFAULT_STEPS = 35
STEPS_MAX = 200
SEED_LIMIT = 2**32
SIGMA_MAX_MAX = 200.0
#: Keys of VIDEO_RES_SIZE_INFO (_src/predict2/datasets/utils.py); checkpoints are 720p-trained.
RESOLUTIONS: tuple[str, ...] = ("720", "480", "512", "1024", "1080", "256", "480p", "720p")
DEFAULT_RESOLUTION = "720"
#: Frames per chunk (num_video_frames_per_chunk) and the frames carried into the next chunk.
CHUNK_FRAMES = 93
CONDITIONAL_FRAMES = 1
#: _src/transfer2/inference/utils.py _VIDEO_EXTENSIONS (images make an image2image run).
VIDEO_EXTENSIONS: tuple[str, ...] = (".mp4", ".avi", ".mov", ".mkv", ".webm")
#: VRAM of one GPU for the 2B model (docs/inference.md: 65.4 GB), no offload but the guardrail.
VRAM_GB = 65.4
OFFLOAD_FLAGS: tuple[str, ...] = ("offload_guardrail_models",)

#: Every top-level key InferenceArguments accepts (extra="forbid" refuses any other).
SAMPLE_KEYS: frozenset[str] = frozenset({
    "name", "prompt_path", "prompt", "negative_prompt", "seed", "guidance", "video_path",
    "max_frames", "context_frame_index", "image_context_path", "num_conditional_frames",
    "resolution", "sigma_max", "num_video_frames_per_chunk", "num_steps",
    "show_control_condition", "show_input", "keep_input_resolution", "edge", "depth", "vis",
    "seg", "guided_generation_mask", "guided_generation_step_threshold",
    "guided_generation_foreground_labels",
})
#: Keys of each control block (ControlConfig and subclasses); upstream IGNORES unknown ones,
#: so we refuse them ourselves (a Transfer1-style "input_control" would silently vanish).
CONTROL_BLOCK_KEYS: dict[str, frozenset[str]] = {
    "edge": frozenset({"control_path", "control_weight", "mask_path", "mask_prompt",
                       "preset_edge_threshold"}),
    "vis": frozenset({"control_path", "control_weight", "mask_path", "mask_prompt",
                      "preset_blur_strength"}),
    "depth": frozenset({"control_path", "control_weight", "mask_path", "mask_prompt"}),
    "seg": frozenset({"control_path", "control_weight", "mask_path", "mask_prompt",
                      "control_prompt"}),
}
#: The distilled edge model (registered only with COSMOS_EXPERIMENTAL_CHECKPOINTS=1), trained
#: with 4 sampling steps for exactly one 93-frame chunk.
DISTILLED = "distilled"
DISTILLED_MODEL = "edge/distilled"
DISTILLED_STEPS = 4
DISTILLED_MAX_FRAMES = 93
EXPERIMENTAL_ENV = "COSMOS_EXPERIMENTAL_CHECKPOINTS"
#: Why the job runs with COSMOS_VERBOSE=1: cosmos_oss/init.py's console filter drops every
#: record of a module matching "*._*" (all of cosmos_transfer2._src), which hides
#: `Generating chunk i/N` and the reason of a `GUARDRAIL BLOCKED` from the console log.
VERBOSE_ENV = "COSMOS_VERBOSE"
ENTRY_SCRIPT = "examples/inference.py"
HF_REPO = "nvidia/Cosmos-Transfer2.5-2B"


def chunks_for_frames(frames: int, chunk: int = CHUNK_FRAMES,
                      conditional: int = CONDITIONAL_FRAMES) -> int:
    """inference_pipeline._get_num_chunks: one chunk up to `chunk` frames, then one more per
    `chunk - conditional` frames (rounded up)."""
    if chunk == 1 or frames <= chunk:
        return 1
    step = chunk - conditional
    extra = frames - chunk
    return 1 + extra // step + (1 if extra % step else 0)
