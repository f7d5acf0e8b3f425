"""Cosmos 3's constants, as cosmos_framework/inference/args.py (and common/args.py) define them.

Where /work/shared/cosmos-transfer2.5-and-cosmos3.md and the source disagree, the source wins
(the profile's docstring lists the differences).
"""

from __future__ import annotations

from dataclasses import dataclass

ENTRY_MODULE = "cosmos_framework.scripts.inference"
#: The file that proves a checkout is one (doctor).
ENTRY_SCRIPT = "cosmos_framework/scripts/inference.py"

#: The modes this profile offers (ModelMode values); the others (text2image, image2image,
#: audio_image2video, the action modes, reasoner) are not generations this tool makes yet.
VIDEO2VIDEO, TEXT2VIDEO, IMAGE2VIDEO = "video2video", "text2video", "image2video"
MODES: tuple[str, ...] = (VIDEO2VIDEO, TEXT2VIDEO, IMAGE2VIDEO)
DEFAULT_MODE = VIDEO2VIDEO

#: TransferHintKey, in upstream order (the model sees [ctrl_1, ..., ctrl_N] in this order).
HINTS: tuple[str, ...] = ("edge", "blur", "depth", "seg", "wsm")
#: Our control name -> Cosmos 3's hint key: our `vis` (blurred input) is Cosmos 3's `blur`.
HINT_OF: dict[str, str] = {"edge": "edge", "vis": "blur", "depth": "depth", "seg": "seg",
                           "wsm": "wsm"}
CONTROLS: tuple[str, ...] = tuple(HINT_OF)
#: transfer.load_transfer_control_frames: only edge and blur are computed on the fly; the
#: others raise "Missing pre-computed control input for '<hint>'" without a control_path.
ON_THE_FLY: frozenset[str] = frozenset({"edge", "vis"})

#: PresetEdgeThreshold and PresetBlurStrength (blur also has "none").
EDGE_PRESETS: tuple[str, ...] = ("very_low", "low", "medium", "high", "very_high")
BLUR_PRESETS: tuple[str, ...] = ("none", "very_low", "low", "medium", "high", "very_high")

#: InferenceResolution (a tier, not pixels) and AspectRatio.
RESOLUTIONS: tuple[str, ...] = ("256", "480", "720", "768")
ASPECT_RATIOS: tuple[str, ...] = ("16,9", "9,16", "4,3", "3,4", "1,1")
#: MIN_NUM_FRAMES / MAX_NUM_FRAMES: outside them upstream only warns ("quality may be
#: degraded"), so we warn too.
MIN_FRAMES = 24
MAX_FRAMES: dict[str, int] = {"256": 400, "480": 300, "720": 200, "768": 200}
#: defaults/<mode>/sample_args.json: 189 frames at 24 fps, 35 steps (Edge: 121 frames).
DEFAULT_FRAMES = 189
DEFAULT_FPS = 24
DEFAULT_STEPS = 35
STEPS_MAX = 200
#: Guidance = Field(ge=0, le=7); ControlGuidance = Field(ge=0, le=10).
GUIDANCE_MIN, GUIDANCE_MAX = 0.0, 7.0
CONTROL_GUIDANCE_MIN, CONTROL_GUIDANCE_MAX = 0.0, 10.0
#: TransferDataOverrides._TRANSFER_SAMPLE_DEFAULTS.
CHUNK_FRAMES = 93
CONDITIONAL_FRAMES = 1
#: TransferDataOverrides._TRANSFER_DEFAULTS: tuned per single hint (when the spec omits them).
TUNED: dict[str, dict[str, float]] = {
    "edge": {"guidance": 3.0, "control_guidance": 1.5},
    "blur": {"guidance": 3.0, "control_guidance": 1.5},
    "depth": {"guidance": 3.0, "control_guidance": 1.5},
    "seg": {"guidance": 3.0, "control_guidance": 2.0},
    "wsm": {"guidance": 1.0, "control_guidance": 3.0, "num_frames": 101, "fps": 10,
            "num_video_frames_per_chunk": 101},
}
SEED_LIMIT = 2**63
#: ParallelismPreset ("latency" is upstream's default).
PARALLELISM: tuple[str, ...] = ("latency", "throughput")
DEFAULT_PARALLELISM = "latency"
#: FSDP shards the weights over every rank, so any count loads; the latency preset's
#: cfgp_size(min(2, N)) * cp_size(N // cfgp) must divide N (OmniSetupArgs._validate_parallelism),
#: which 3, 5 and 7 do not.
GPU_COUNTS: tuple[int, ...] = (1, 2, 3, 4, 5, 6, 7, 8)
#: common/args.py GuardrailOverrides: guardrails on by default.
GUARDRAILS: tuple[str, ...] = ("on", "off")
OFFLOAD_FLAGS: tuple[str, ...] = ("offload_guardrail_models",)
IMAGE_EXTENSIONS: tuple[str, ...] = (".jpg", ".jpeg", ".png", ".webp", ".bmp")
VIDEO_EXTENSIONS: tuple[str, ...] = (".mp4", ".mov", ".avi", ".mkv", ".webm")


@dataclass(frozen=True)
class Checkpoint:
    """One `--checkpoint-path` name: its size, the resolutions its model card lists, the GPUs
    it needs and the GPU memory each of them needs."""

    name: str
    label: str
    size: str
    resolutions: tuple[str, ...]
    min_gpus: int
    vram_gb: float
    default_frames: int = DEFAULT_FRAMES


#: args._CHECKPOINTS (weights: MODEL_MEMORY_BYTES_BY_SIZE, bf16, two towers) and the model
#: cards' resolutions (VisionDataOverrides.resolution docstring). Super (32B, 128 GB of
#: weights) needs 4 or more 80 GB GPUs; the smaller ones fit one GPU.
CHECKPOINTS: tuple[Checkpoint, ...] = (
    Checkpoint("Cosmos3-Nano", "Cosmos3-Nano (8B, one 48 GB+ GPU)", "8B",
               ("256", "480", "720"), 1, 45.0),
    Checkpoint("Cosmos3-Edge", "Cosmos3-Edge (2B, one 16 GB+ GPU)", "2B", ("256", "480"), 1,
               14.0, default_frames=121),
    Checkpoint("Cosmos3-Super", "Cosmos3-Super (32B, 4 or more 80 GB GPUs)", "32B",
               ("256", "480", "720"), 4, 75.0),
)
DEFAULT_CHECKPOINT = "Cosmos3-Nano"


def checkpoint(name: object) -> Checkpoint | None:
    return next((c for c in CHECKPOINTS if c.name == name), None)


def latency_fits(num_gpus: int) -> bool:
    """Whether the latency preset's automatic cfgp/cp sizes divide the world size."""
    if num_gpus <= 1:
        return True
    cfgp = min(2, num_gpus)
    cp = max(1, min(32, num_gpus // cfgp))
    return num_gpus % (cfgp * cp) == 0
