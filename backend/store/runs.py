"""Runs: creating them, reading them, and moving them from status to status.

Every status change goes through `transition` (or `create_run` / `delete_run`), and each of
them publishes a StatusChanged event in the same transaction: there is no other way to change
a run's status, so no path can forget to tell the UI, the CLI or another worker.
"""

from __future__ import annotations

import json
import time
from typing import Any, Iterable, Sequence

from peewee import SQL, fn

from backend.events.types import CancelRequested, ProgressMoved, StatusChanged
from backend.ids import new_id
from backend.store.models import (ACTIVE, QUEUED, STAGING, STATUSES, TERMINAL, LogLine,
                                  RemoteCleanup, Run, RunTransition, db)


class StaleTransition(RuntimeError):
    """The run was not in the status the caller expected (someone else moved it)."""


#: The fields a run gets back when it returns to the queue (a batch-mate was killed, or a
#: batch could not start): nothing of the attempt that did not happen stays on it.
_REQUEUE_FIELDS = dict(batch_id=None, batch_index=None, gpus=None, master_port=None,
                       worker_id=None, log_offset=0, log_lines=0, progress=None,
                       container_id=None, exit_code=None, started_at=None)


class RunStore:
    """Run rows and their status history (a mixin of Store: needs `writing` and `emit`)."""

    # -- create and read ----------------------------------------------------------------------
    def create_run(self, *, params: dict[str, Any], host: str, prompt_id: str | None,
                   run_type: str = "inference", name: str = "", simulated: bool = False,
                   parent_id: str | None = None, priority: int = 0,
                   model: str | None = None) -> Run:
        now = time.time()
        with self.writing():
            run = Run.create(
                id=new_id(), prompt=prompt_id, parent=parent_id, run_type=run_type, name=name,
                status=QUEUED, host=host, simulated=simulated, params=json.dumps(params),
                priority=priority, created_at=now, updated_at=now,
                model=model or params.get("model") or "transfer1",
            )
            RunTransition.create(run=run.id, status=QUEUED, at=now)
            self.emit(StatusChanged(run.id, status=QUEUED, previous=None, host=host))
        return run

    def get_run(self, run_id: str) -> Run | None:
        return Run.get_or_none(Run.id == run_id)

    def has_run(self, run_id: str) -> bool:
        return Run.select(SQL("1")).where(Run.id == run_id).exists()

    def list_runs(self, *, limit: int = 50, offset: int = 0,
                  statuses: Sequence[str] | None = None) -> list[Run]:
        query = Run.select().order_by(Run.id.desc())
        if statuses:
            query = query.where(Run.status.in_(list(statuses)))
        return list(query.limit(limit).offset(offset))

    def runs_in(self, statuses: Iterable[str], host: str | None = None) -> list[Run]:
        query = Run.select().where(Run.status.in_(list(statuses)))
        if host is not None:
            query = query.where(Run.host == host)
        return list(query.order_by(Run.id))

    def queued_in_order(self, host: str | None = None, limit: int | None = None) -> list[Run]:
        """The queue as it will start: higher priority first, then first come first served."""
        query = Run.select().where(Run.status == QUEUED)
        if host is not None:
            query = query.where(Run.host == host)
        query = query.order_by(Run.priority.desc(), Run.id)
        return list(query.limit(limit) if limit else query)

    def children_of(self, run_id: str) -> list[Run]:
        """Runs made from this one (its upscale), oldest first."""
        return list(Run.select().where(Run.parent == run_id).order_by(Run.id))

    def count_children(self, run_id: str) -> int:
        return Run.select().where(Run.parent == run_id).count()

    def batch_members(self, batch_id: str) -> list[Run]:
        """The runs sharing one container, in their batch order."""
        return list(Run.select().where(Run.batch_id == batch_id).order_by(Run.batch_index))

    def count_runs(self) -> int:
        return Run.select(SQL("1")).count()

    def status_counts(self) -> dict[str, int]:
        counts = {s: 0 for s in STATUSES}
        counts.update(dict(Run.select(Run.status, fn.COUNT(Run.id)).group_by(Run.status)
                           .tuples()))
        return counts

    def ids_starting_with(self, prefix: str, limit: int = 2) -> list[str]:
        return [r.id for r in Run.select(Run.id).where(Run.id.startswith(prefix)).limit(limit)]

    def recent_run_params(self, run_type: str, scan: int) -> list[Run]:
        """The latest `scan` runs of a type, only the columns that list recent inputs."""
        return list(Run.select(Run.id, Run.name, Run.params, Run.created_at)
                    .where(Run.run_type == run_type).order_by(Run.id.desc()).limit(scan))

    def transitions(self, run_id: str) -> list[RunTransition]:
        return list(RunTransition.select().where(RunTransition.run == run_id)
                    .order_by(RunTransition.id))

    # -- change -------------------------------------------------------------------------------
    def update_run(self, run_id: str, **fields: Any) -> None:
        """Set fields that are not the status (command, container id, progress...); a new
        `progress` is published."""
        fields["updated_at"] = time.time()
        with self.writing():
            Run.update(**fields).where(Run.id == run_id).execute()
            if fields.get("progress"):
                self.emit(ProgressMoved(run_id, progress=json.loads(fields["progress"])))

    def transition(self, run_id: str, new_status: str, *, expect: Sequence[str],
                   note: str = "", **fields: Any) -> Run:
        """Move a run to `new_status` only if it is in one of `expect`; record when.

        The conditional UPDATE is what makes claims and kills race-free across threads and
        processes: exactly one caller sees a row count of 1.
        """
        now = time.time()
        fields = dict(fields, status=new_status, updated_at=now)
        if new_status in TERMINAL:
            fields.setdefault("finished_at", now)
        if new_status == STAGING:
            fields.setdefault("started_at", now)
        with self.writing():
            before = Run.select(Run.status, Run.host).where(Run.id == run_id).first()
            count = (Run.update(**fields)
                     .where((Run.id == run_id) & (Run.status.in_(list(expect))))
                     .execute())
            if count != 1:
                raise StaleTransition(
                    f"run {run_id} is {before.status if before else 'gone'}, "
                    f"not {'/'.join(expect)}; cannot move it to {new_status}")
            RunTransition.create(run=run_id, status=new_status, at=now, note=note)
            self.emit(StatusChanged(run_id, status=new_status, previous=before.status,
                                    host=before.host))
        return Run.get_by_id(run_id)

    def requeue(self, run_id: str, *, expect: Sequence[str], note: str) -> Run:
        """Put a run that never really ran back in the queue, its attempt forgotten (its
        log too: the next attempt writes a new one)."""
        with self.writing():
            run = self.transition(run_id, QUEUED, expect=expect, note=note, **_REQUEUE_FIELDS)
            LogLine.delete().where(LogLine.run == run_id).execute()
        return run

    def request_cancel(self, run_id: str, mode: str) -> Run:
        """Mark a kill request (published, so the worker following the run acts at once,
        whatever process it is in); a queued run is cancelled at once (nothing to stop)."""
        run = self.get_run(run_id)
        if run is None:
            raise KeyError(run_id)
        if run.status == QUEUED:
            try:
                return self.transition(run_id, "cancelled", expect=(QUEUED,),
                                       note="dequeued before start",
                                       failure_cause="Cancelled before it started.")
            except StaleTransition:
                run = self.get_run(run_id)
        if run.status in ACTIVE:
            with self.writing():
                self.update_run(run_id, cancel_requested=mode)
                self.emit(CancelRequested(run_id, mode=mode))
        return self.get_run(run_id)

    def delete_run(self, run_id: str, *, remote_host: str | None) -> None:
        """Remove a finished run and its rows; `remote_host` queues the removal of its folder
        on that box (the scheduler does it; the UI never does I/O)."""
        with self.writing():
            if remote_host:
                RemoteCleanup.create(host=remote_host, run_id=run_id, created_at=time.time())
            Run.delete_by_id(run_id)
            self.emit(StatusChanged(run_id, status="deleted", previous=None, host=remote_host
                                    or ""))

    def in_transaction(self) -> bool:
        return db.in_transaction()
