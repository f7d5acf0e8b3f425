"""The Cosmos-Transfer1 contract as pure functions: no I/O, no processes, no clocks.

- params:   what an artist asks for (GenerationParams)
- validate: refuse bad requests with messages tied to form fields
- spec:     GenerationParams -> controlnet spec JSON (every generation value lives there)
- batch:    several compatible runs -> base spec + JSONL
- command:  torchrun argv, job script, `docker run` argv (infrastructure only, all quoted)
- progress: Cosmos' log -> phases, clips, fraction, ETA
- outcome:  exit code + log -> completed / failed / blocked / cancelled with a one-line cause

The facts these follow are in /work/shared/cosmos-transfer1.md.
"""

from backend.models.transfer1.params import (
    ALL_HINTS,
    CONTROLS,
    GPU_COUNTS,
    PRESETS,
    RUN_ENHANCE,
    RUN_INFERENCE,
    RUN_UPSCALE,
    GenerationParams,
)

__all__ = [
    "ALL_HINTS", "CONTROLS", "GPU_COUNTS", "PRESETS", "RUN_ENHANCE", "RUN_INFERENCE",
    "RUN_UPSCALE", "GenerationParams",
]
