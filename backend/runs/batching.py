"""Smart batching: compatible queued runs share one container and one model load.

Loading a model, its text encoder and the guardrail takes minutes, so N compatible runs are
cheaper as one batch job of the model (Transfer1's `--batch_input_path` JSONL, Transfer2.5's
`-i batch.jsonl`). What "compatible" means is the model profile's `batch_key` (Transfer1:
same base spec; Transfer2.5: same set of controls, since mixing sets switches every sample to
the multicontrol model); only runs of the same model on the same host ever share a job. Each
run ends as its own run with its own video, log and status. The batch folder on the box is
`runs/<batch_id>/`; the plan stored where each run's outputs are. This module decides which
runs may share a container (the claim takes them together); the lifecycle
(backend/runs/lifecycle.py) runs a batch like any job.
"""

from __future__ import annotations

import logging
from typing import Callable, Sequence

from backend.models.params import RUN_INFERENCE, GenerationParams
from backend.models.profile import UnknownModel, get_profile
from backend.store.models import Run

log = logging.getLogger(__name__)


def batch_key(run: Run, fps_of: Callable[[str], float | None]) -> tuple | None:
    """The compatibility key of a queued run, or None if it cannot be batched."""
    if run.run_type != RUN_INFERENCE:
        return None
    try:
        profile = get_profile(run.model)
    except UnknownModel:
        return None
    params = GenerationParams.from_dict(run.params_dict())
    fps = fps_of(params.input_video) if params.input_video else None
    key = profile.batch_key(params, fps)
    return None if key is None else (profile.id, key)


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
