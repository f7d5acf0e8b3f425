"""Accounting as people ask for it: GPU-hours, run counts and failure rate per person, host or
model, since a date (`cosmos usage`, the Usage view)."""

from __future__ import annotations

import time
from typing import Any

from backend.models.checks import FieldError
from backend.operations.errors import ValidationFailed
from backend.store.usage import USAGE_GROUPS


def _row(row: dict[str, Any]) -> dict[str, Any]:
    ended = int(row["completed"] or 0) + int(row["failed"] or 0)
    return {
        "key": row["key"] or "(unknown)", "runs": int(row["runs"] or 0),
        "completed": int(row["completed"] or 0), "failed": int(row["failed"] or 0),
        "blocked": int(row["blocked"] or 0), "cancelled": int(row["cancelled"] or 0),
        # failed over what ended on its own (completed or failed): cancelled and guardrail-
        # blocked runs are counted above but are no failure of the farm
        "failure_rate": (int(row["failed"] or 0) / ended) if ended else None,
        "gpu_hours": float(row["gpu_seconds"] or 0) / 3600,
        "run_hours": float(row["run_seconds"] or 0) / 3600,
        "slurm_queue_hours": float(row["queue_seconds"] or 0) / 3600,
        "queued_in_slurm": int(row["queued_in_cluster"] or 0),
    }


class UsageOps:
    """A mixin of Operations (store)."""

    def usage(self, *, by: str = "user", since: float | None = None) -> dict[str, Any]:
        """Rows per `by` (user, host or model) of runs created since `since` (epoch seconds),
        busiest first, and their total."""
        if by not in USAGE_GROUPS:
            raise ValidationFailed([FieldError("by", f"Usage is grouped by {by!r}; use one of "
                                               + ", ".join(USAGE_GROUPS) + ".")])
        if since is not None and (isinstance(since, bool) or not isinstance(since, (int, float))
                                  or since < 0 or since > time.time() + 86400):
            raise ValidationFailed([FieldError("since", f"Since {since!r} is not a date in the "
                                               "past; give a date such as 2026-11-01.")])
        rows = [_row(r) for r in self.store.usage(by=by, since=since, now=time.time())]
        total = {"key": "total"}
        for name in ("runs", "completed", "failed", "blocked", "cancelled", "gpu_hours",
                     "run_hours", "slurm_queue_hours", "queued_in_slurm"):
            total[name] = sum(r[name] for r in rows)
        ended = total["completed"] + total["failed"]
        total["failure_rate"] = total["failed"] / ended if ended else None
        return {"by": by, "since": since, "rows": rows, "total": total}
