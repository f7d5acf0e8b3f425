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
from backend.store.models import (ACTIVE, PENDING, QUEUED, RUNNING, STAGING, STATUSES,
                                  TERMINAL, LogLine, RemoteCleanup, Run, RunTransition, db)


class _Before:
    """The status and host of a run just before a transition."""

    __slots__ = ("status", "host")

    def __init__(self, status: str, host: str) -> None:
        self.status, self.host = status, host


class StaleTransition(RuntimeError):
    """The run was not in the status the caller expected (someone else moved it)."""


#: The fields a run gets back when it returns to the queue (a batch-mate was killed, or a
#: batch could not start): nothing of the attempt that did not happen stays on it.
_REQUEUE_FIELDS = dict(batch_id=None, batch_index=None, gpus=None, master_port=None,
                       worker_id=None, log_offset=0, log_lines=0, progress=None,
                       container_id=None, exit_code=None, started_at=None, ran_at=None,
                       pending_at=None, external_id=None, node=None)


class RunStore:
    """Run rows and their status history (a mixin of Store: needs `writing` and `emit`)."""

    # -- create and read ----------------------------------------------------------------------
    def create_run(self, *, params: dict[str, Any], host: str, prompt_id: str | None,
                   run_type: str = "inference", name: str = "", simulated: bool = False,
                   parent_id: str | None = None, priority: int = 0, owner: str = "",
                   model: str | None = None, gpu_count: int | None = None,
                   guardrails: bool | None = None, spec: str | None = None) -> Run:
        """Queue a run. `gpu_count` is what its model's job takes (the profile's `gpus_for`,
        or a registered run type's `gpus`: 0 for setup); without it, the params' num_gpus.
        `guardrails`: whether the model's safety checks are on for it (the profile says; None
        where a model has none)."""
        now = time.time()
        gpus = params.get("num_gpus", 1) if gpu_count is None else gpu_count
        with self.writing():
            run = Run.create(
                id=new_id(), prompt=prompt_id, parent=parent_id, run_type=run_type, name=name,
                status=QUEUED, host=host, simulated=simulated, params=json.dumps(params),
                priority=priority, created_at=now, updated_at=now, owner=owner,
                gpu_count=gpus if isinstance(gpus, int) and not isinstance(gpus, bool) else 1,
                model=model or params.get("model") or "transfer1", guardrails=guardrails,
                spec=spec,
            )
            RunTransition.create(run=run.id, status=QUEUED, at=now)
            self.emit(StatusChanged(run.id, status=QUEUED, previous=None, host=host))
        return run

    def get_run(self, run_id: str) -> Run | None:
        # plain SQL: the hottest read of the app (every status change, every live update),
        # and building a 45-column SELECT costs Peewee more than SQLite's answer
        rows = list(Run.raw('SELECT * FROM "run" WHERE "id" = ?', run_id))
        return rows[0] if rows else None

    def has_run(self, run_id: str) -> bool:
        return Run.select(SQL("1")).where(Run.id == run_id).exists()

    def list_runs(self, *, limit: int = 50, offset: int = 0,
                  statuses: Sequence[str] | None = None) -> list[Run]:
        query = Run.select().order_by(Run.id.desc())
        if statuses:
            query = query.where(Run.status.in_(list(statuses)))
        return list(query.limit(limit).offset(offset))

    def runs_in(self, statuses: Iterable[str], host: str | None = None) -> list[Run]:
        statuses = list(statuses)
        marks = ", ".join("?" * len(statuses))
        if host is None:
            return list(Run.raw(f'SELECT * FROM "run" WHERE "status" IN ({marks}) '
                                'ORDER BY "id"', *statuses))
        return list(Run.raw(f'SELECT * FROM "run" WHERE "status" IN ({marks}) AND "host" = ? '
                            'ORDER BY "id"', *statuses, host))

    def queued_in_order(self, host: str | None = None, limit: int | None = None) -> list[Run]:
        """The queue as it will start: higher priority first, then first come first served."""
        query = Run.select().where(Run.status == QUEUED)
        if host is not None:
            query = query.where(Run.host == host)
        query = query.order_by(Run.priority.desc(), Run.id)
        return list(query.limit(limit) if limit else query)

    def queued_count_of(self, owner: str) -> int:
        """How many of this person's runs are waiting to start (any host)."""
        return Run.select(SQL("1")).where((Run.status == QUEUED) & (Run.owner == owner)).count()

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
            fields.setdefault("wait_reason", None)
        if new_status == PENDING:
            fields.setdefault("pending_at", fn.COALESCE(Run.pending_at, now))
        if new_status == RUNNING:  # the GPUs are really in use from now (after any queue)
            fields.setdefault("ran_at", fn.COALESCE(Run.ran_at, now))
        with self.writing():
            before = db.execute_sql('SELECT "status", "host" FROM "run" WHERE "id" = ?',
                                    (run_id,)).fetchone()
            before = _Before(*before) if before else None
            count = (Run.update(**fields)
                     .where((Run.id == run_id) & (Run.status.in_(list(expect))))
                     .execute())
            if count != 1:
                raise StaleTransition(
                    f"run {run_id} is {before.status if before else 'gone'}, "
                    f"not {'/'.join(expect)}; cannot move it to {new_status}")
            RunTransition.create(run=run_id, status=new_status, at=now, note=note)
            if new_status in TERMINAL:
                self._account(run_id)
            self.emit(StatusChanged(run_id, status=new_status, previous=before.status,
                                    host=before.host))
        return self.get_run(run_id)

    def _account(self, run_id: str) -> None:
        """An ended run's share of GPU time: its GPUs x the time they were really in use,
        split evenly among the runs that shared its container."""
        run = Run.select(Run.ran_at, Run.finished_at, Run.gpu_count, Run.batch_id).where(
            Run.id == run_id).first()
        if run is None or run.ran_at is None or run.finished_at is None:
            return
        share = 1
        if run.batch_id:
            share = max(1, Run.select().where(Run.batch_id == run.batch_id).count())
        seconds = max(0.0, run.finished_at - run.ran_at) * run.gpu_count / share
        Run.update(gpu_seconds=seconds).where(Run.id == run_id).execute()

    def requeue(self, run_id: str, *, expect: Sequence[str], note: str,
                wait_reason: str | None = None) -> Run:
        """Put a run that never really ran back in the queue, its attempt forgotten (its
        log too: the next attempt writes a new one)."""
        with self.writing():
            run = self.transition(run_id, QUEUED, expect=expect, note=note,
                                  wait_reason=wait_reason, **_REQUEUE_FIELDS)
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
