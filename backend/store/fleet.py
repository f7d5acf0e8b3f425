"""What the boxes report and what is asked of them: GPU samples, folders to clean up, and
which of a box's containers still belong to a run."""

from __future__ import annotations

import json
import time
from typing import Any, Sequence

from backend.store.models import TERMINAL, EventRecord, MetricSample, RemoteCleanup, Run


class FleetStore:
    """A mixin of Store."""

    # -- GPU samples --------------------------------------------------------------------------
    def add_samples(self, rows: Sequence[dict[str, Any]]) -> None:
        if rows:
            MetricSample.insert_many(list(rows)).execute()

    def samples_of(self, run_id: str, limit: int = 2000) -> list[MetricSample]:
        """The run's GPU samples, oldest first (the latest `limit`)."""
        rows = (MetricSample.select().where(MetricSample.run == run_id)
                .order_by(MetricSample.at.desc()).limit(limit))
        return list(reversed(list(rows)))

    def latest_host_look(self, host: str, max_age: float = 120.0,
                         scan: int = 200) -> dict[str, Any] | None:
        """The newest telemetry snapshot of `host` still in the outbox (younger than
        `max_age` seconds), as HostSnapshot.to_dict() gives it; None when there is none.

        Why from the outbox: a process that just started (the CLI) has not heard a telemetry
        event yet, but the last one any worker published is still there for a few minutes.
        """
        rows = (EventRecord.select(EventRecord.data)
                .where((EventRecord.kind == "telemetry")
                       & (EventRecord.at >= time.time() - max_age))
                .order_by(EventRecord.id.desc()).limit(scan))
        for row in rows:
            data = json.loads(row.data or "{}")
            if data.get("host") == host:
                return data.get("snapshot") or None
        return None

    # -- remote folders of deleted runs -------------------------------------------------------
    def cleanup_jobs(self, limit: int = 20) -> list[RemoteCleanup]:
        return list(RemoteCleanup.select().limit(limit))

    def cleanup_done(self, job_id: int) -> bool:
        return bool(RemoteCleanup.delete().where(RemoteCleanup.id == job_id).execute())

    # -- containers ---------------------------------------------------------------------------
    def container_owners(self, ids: Sequence[str], ended_after: float) -> set[str]:
        """Of these run/batch ids, the ones that still own their container: active, or
        ended after `ended_after` (the executor removes a container after collecting)."""
        if not ids:
            return set()
        owners: set[str] = set()
        for run in Run.select(Run.id, Run.batch_id, Run.status, Run.finished_at).where(
                Run.id.in_(list(ids)) | Run.batch_id.in_(list(ids))):
            if run.status not in TERMINAL or (run.finished_at or 0) > ended_after:
                owners.update(i for i in (run.id, run.batch_id) if i)
        return owners
