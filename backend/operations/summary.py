"""A run as the UI and the CLI show it: plain data, so no ORM object leaves operations."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from backend.models.params import LEGACY_MODEL
from backend.store.models import TERMINAL, Run


@dataclass(frozen=True)
class RunSummary:
    """A run as the UI and CLI show it (no ORM objects leave this module)."""

    id: str
    name: str
    run_type: str
    status: str
    host: str
    simulated: bool
    prompt: str
    created_at: float
    started_at: float | None
    finished_at: float | None
    exit_code: int | None
    failure_cause: str | None
    failure_evidence: str | None
    output_path: str | None
    thumbnail_path: str | None
    command: str | None
    spec: str | None
    progress: dict[str, Any] | None
    params: dict[str, Any]
    log_lines: int
    cancel_requested: str | None
    parent_id: str | None = None
    output_info: dict[str, Any] | None = None
    gpus: tuple[int, ...] = ()
    result_prompt_id: str | None = None
    rating: float | None = None
    ratings: int = 0
    owner: str = ""
    gpu_count: int = 1
    wait_reason: str | None = None
    pending_at: float | None = None  # when a cluster (Slurm) began keeping it waiting
    ran_at: float | None = None  # when it really started on its GPUs
    gpu_seconds: float | None = None
    external_id: str | None = None  # the Slurm job id
    node: str | None = None  # where it ran (Slurm node)
    priority: int = 0

    @property
    def queue_seconds(self) -> float | None:
        """Time spent waiting in a cluster's queue (Slurm), kept apart from run time."""
        if self.pending_at is None:
            return None
        return max(0.0, (self.ran_at or self.finished_at or time.time())
                   - self.pending_at)
    #: the model profile that made it, the arguments the model resolved (if it wrote them),
    #: and its other outputs and notes: {"files": [{role, label, path}], "notes": [...]}
    model: str = LEGACY_MODEL
    recipe: str | None = None
    guardrails: bool | None = None
    artifacts: dict[str, Any] | None = None
    #: what makes it reproducible (with `guardrails`): the image digest, the setup manifest id
    image_digest: str | None = None
    checkpoints_manifest: str | None = None

    @property
    def model_files(self) -> list[dict[str, Any]]:
        """Other outputs the model wrote (control videos, masks), as brought home."""
        return list((self.artifacts or {}).get("files") or [])

    @property
    def model_notes(self) -> list[dict[str, Any]]:
        """Facts of the plan worth showing (e.g. which video a prompt upsampler read)."""
        return list((self.artifacts or {}).get("notes") or [])

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL


def summarize(run: Run, rating: tuple[float, int] | None = None) -> RunSummary:
    params = run.params_dict()
    return RunSummary(
        id=run.id, name=run.name, run_type=run.run_type, status=run.status, host=run.host,
        simulated=run.simulated, prompt=params.get("prompt", ""), created_at=run.created_at,
        started_at=run.started_at, finished_at=run.finished_at, exit_code=run.exit_code,
        failure_cause=run.failure_cause, failure_evidence=run.failure_evidence,
        output_path=run.output_path, thumbnail_path=run.thumbnail_path, command=run.command,
        spec=run.spec, progress=run.progress_dict(), params=params, log_lines=run.log_lines,
        cancel_requested=run.cancel_requested,
        parent_id=run.parent_id, output_info=json.loads(run.output_info) if run.output_info
        else None, gpus=tuple(run.gpu_list()), result_prompt_id=run.result_prompt_id,
        rating=rating[0] if rating else None, ratings=rating[1] if rating else 0,
        owner=run.owner or "", gpu_count=1 if run.gpu_count is None else run.gpu_count,
        wait_reason=run.wait_reason,
        pending_at=run.pending_at, ran_at=run.ran_at, gpu_seconds=run.gpu_seconds,
        external_id=run.external_id, node=run.node, priority=run.priority,
        model=run.model or params.get("model") or LEGACY_MODEL, recipe=run.recipe,
        artifacts=json.loads(run.artifacts) if run.artifacts else None,
        image_digest=run.image_digest, checkpoints_manifest=run.checkpoints_manifest,
        guardrails=run.guardrails,
    )
