"""Smart batching: compatible queued runs share one container and one model load.

Loading the 7B model, T5 and the guardrail takes minutes, so N runs that differ only in
prompt, weights and input videos are cheaper as one Cosmos batch job (`--batch_input_path`).
Each run keeps its own prompt, weights and control inputs (every item states every control
explicitly, see backend/cosmos/batch.py) and ends as its own run with its own video, log and
status. The batch folder on the box is `runs/<batch_id>/`; outputs `video_<i>/` map back to the
run with `batch_index` i. This module decides which runs may share a container (the claim
takes them together); the lifecycle (backend/runs/lifecycle.py) runs a batch like any job.
"""

from __future__ import annotations

import logging
from typing import Callable, Sequence

from backend.models.transfer1.batch import batch_compatibility_key
from backend.models.transfer1.params import RUN_INFERENCE, GenerationParams
from backend.models.transfer1.spec import resolve_fps
from backend.store.models import Run

log = logging.getLogger(__name__)


def batch_key(run: Run, fps_of: Callable[[str], float | None]) -> tuple | None:
    """The compatibility key of a queued run, or None if it cannot be batched."""
    if run.run_type != RUN_INFERENCE:
        return None
    params = GenerationParams.from_dict(run.params_dict())
    if params.regional_prompts:  # the batch JSONL has no per-item regional prompts: alone
        return None
    if not params.input_video:
        return None
    return batch_compatibility_key(params, fps=resolve_fps(params, fps_of(params.input_video)))


def pick_batch(head: Run, queued: Sequence[Run], max_batch: int,
               fps_of: Callable[[str], float | None]) -> list[Run]:
    """The head plus the oldest queued runs that can share its container (FIFO, same host)."""
    key = batch_key(head, fps_of)
    if key is None or max_batch < 2:
        return [head]
    mates = [head]
    for run in queued:
        if len(mates) >= max_batch:
            break
        if run.id != head.id and run.host == head.host and batch_key(run, fps_of) == key:
            mates.append(run)
    return mates
