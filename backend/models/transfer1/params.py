"""What an artist asks for, as Cosmos-Transfer1 sees it: its controls, presets, GPU counts.

`GenerationParams` itself is model-independent (backend/models/params.py) and re-exported here
so the Transfer1 contract modules read as before.
"""

from __future__ import annotations

from backend.models.params import (PRESETS, RUN_ENHANCE, RUN_INFERENCE, RUN_UPSCALE,
                                   GenerationParams)

#: Controls an artist can weight, in the order the UI shows them.
CONTROLS: tuple[str, ...] = ("vis", "edge", "depth", "seg", "keypoint")
#: Every hint key Cosmos-Transfer1 accepts in a spec (we drive the first six).
ALL_HINTS: tuple[str, ...] = CONTROLS + ("upscale", "hdmap", "lidar")
#: GPU counts Cosmos' context parallelism accepts for a 121-frame clip.
GPU_COUNTS: tuple[int, ...] = (1, 2, 4, 8)

__all__ = ["ALL_HINTS", "CONTROLS", "GPU_COUNTS", "PRESETS", "RUN_ENHANCE", "RUN_INFERENCE",
           "RUN_UPSCALE", "GenerationParams"]
