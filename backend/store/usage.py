"""Accounting: GPU-hours, run counts and failure rates per person, host or model.

One GROUP BY over the run table (indexes on created_at), never a query per run. GPU time is
each run's GPUs x the time they were really in use (`ran_at` to `finished_at`, split among
batch mates; a running run counts so far); time waiting in a cluster's queue (Slurm
`pending`) is summed apart and never counted as GPU time.
"""

from __future__ import annotations

from typing import Any

from peewee import SQL, Case, Value, fn

from backend.store.models import COMPLETED, FAILED, BLOCKED, CANCELLED, Run

#: What usage can be grouped by.
USAGE_GROUPS = ("user", "host", "model")


def _group_column(by: str):
    if by == "user":
        return Run.owner
    if by == "host":
        return Run.host
    return Run.model  # the model profile it was made with (schema 3 filled older runs)


class UsageStore:
    """A mixin of Store."""

    def usage(self, *, by: str, since: float | None, now: float) -> list[dict[str, Any]]:
        """One row per person/host/model: runs, outcomes, GPU seconds, Slurm queue seconds."""
        if by not in USAGE_GROUPS:
            raise ValueError(f"usage is grouped by one of {', '.join(USAGE_GROUPS)}, not {by!r}")
        key = _group_column(by).alias("key")
        running_gpu = Case(None, [((Run.ran_at.is_null(False)) & (Run.finished_at.is_null()),
                                   (Value(now) - Run.ran_at) * Run.gpu_count)], 0)
        gpu_seconds = fn.SUM(fn.COALESCE(Run.gpu_seconds, running_gpu))
        run_seconds = fn.SUM(Case(None, [(Run.ran_at.is_null(False),
                                          fn.COALESCE(Run.finished_at, Value(now)) - Run.ran_at)],
                                  0))
        queue_end = fn.COALESCE(Run.ran_at, Run.finished_at, Value(now))
        queue_seconds = fn.SUM(Case(None, [(Run.pending_at.is_null(False),
                                            queue_end - Run.pending_at)], 0))

        def count(status: str):
            return fn.SUM(Case(None, [(Run.status == status, 1)], 0))

        query = (Run.select(key, fn.COUNT(Run.id).alias("runs"),
                            count(COMPLETED).alias("completed"), count(FAILED).alias("failed"),
                            count(BLOCKED).alias("blocked"), count(CANCELLED).alias("cancelled"),
                            gpu_seconds.alias("gpu_seconds"), run_seconds.alias("run_seconds"),
                            queue_seconds.alias("queue_seconds"),
                            fn.SUM(Case(None, [(Run.pending_at.is_null(False), 1)], 0))
                            .alias("queued_in_cluster"))
                 .group_by(SQL("key")).order_by(SQL("gpu_seconds DESC"), SQL("key")))
        if since is not None:
            query = query.where(Run.created_at >= since)
        return list(query.dicts())
