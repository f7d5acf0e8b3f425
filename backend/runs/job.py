"""A job: one container (or cluster job) on one box and the runs it serves.

A single run is a job of one; smart batching (backend/runs/batching.py) makes jobs of several
runs that share one model load. Everything in the lifecycle (stage, launch, follow, collect,
retry) works on jobs, so single runs and batches can never drift apart again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from backend.runs.plan import container_name
from backend.store.models import Run


@dataclass(frozen=True)
class Job:
    id: str  # the run id of a single run, or the batch id
    runs: tuple[Run, ...]  # in batch order

    @property
    def is_batch(self) -> bool:
        return self.runs[0].batch_id is not None

    @property
    def name(self) -> str:
        return container_name(self.id)

    @property
    def run_ids(self) -> list[str]:
        return [r.id for r in self.runs]

    def with_status(self, *statuses: str) -> list[Run]:
        return [r for r in self.runs if r.status in statuses]

    @classmethod
    def load(cls, store: Any, job_id: str) -> "Job | None":
        """The job called `job_id` as stored now: a batch's members, or the one run."""
        members = store.batch_members(job_id)
        if members:
            return cls(job_id, tuple(members))
        run = store.get_run(job_id)
        return cls(job_id, (run,)) if run is not None else None

    def reload(self, store: Any) -> "Job":
        """The same job with fresh rows (members requeued meanwhile drop out)."""
        fresh = Job.load(store, self.id)
        if fresh is None:
            return Job(self.id, ())
        if self.is_batch:  # a requeued mate has left the batch
            return Job(self.id, tuple(r for r in fresh.runs if r.batch_id == self.id))
        return fresh
