"""Claims and workers: which scheduler drives which run, decided atomically in SQLite.

Several schedulers may share one database (the app's and any `cosmos worker`). A claim is one
IMMEDIATE transaction that checks the host's capacity, orders the host's queue, gives the
first run that may start GPUs and a torchrun port that no active run of the host holds, and
marks it as the claiming worker's: two workers can never start the same run or hand out the
same GPU. The rules are the caller's, passed in as functions (placement, batch mates, each
owner's terms), so this module holds the SQL and the order, nothing about boxes.

The order (a studio of many artists, issue 16):
  1. priority: the run's own plus its owner's `[fair_share]` priority, higher first;
  2. fair share within a priority: the owner holding the fewest GPUs for their share first;
  3. first come, first served within an owner.
A run whose owner is at their GPU limit waits (and says so) without holding up anyone else's.
When the first run that may start does not fit, nothing behind it starts, unless backfill is
on: then a later run may use GPUs the first cannot use yet, until the first has waited
`backfill_seconds`. Each run examined and left waiting gets its reason (`wait_reason`).
"""

from __future__ import annotations

import json
import os
import socket
import time
from dataclasses import dataclass
from typing import Callable, Sequence

from peewee import fn

from backend.ids import new_id
from backend.store.models import ACTIVE, HOLDING, QUEUED, STAGING, Run, Worker

#: How many queued runs of each owner a claim looks at (order, backfill, batch mates).
CLAIM_WINDOW = 16


@dataclass(frozen=True)
class Placement:
    """Where the queue head may run now: its GPUs (empty when the host kind places them)."""

    gpus: list[int]


@dataclass(frozen=True)
class Terms:
    """What one owner may use: their share (weight), priority and GPU limit (0 = none)."""

    share: float = 1.0
    priority: int = 0
    max_gpus: int = 0


EVEN = Terms()

#: (run, the host's active runs) -> a Placement (anything with `.gpus`: the host kind's), or
#: why it does not fit (a reason, or None)
Placer = Callable[[Run, Sequence[Run]], "Placement | str | None"]
#: (head, the queued runs after it) -> the runs to start in one container, head first
Grouper = Callable[[Run, Sequence[Run]], list[Run]]
#: (head, ports held by the host's active runs) -> a free torchrun master port
PortPicker = Callable[[Run, set[int]], int]


class ClaimStore:
    """A mixin of Store (needs `writing` and `transition`)."""

    def claim(self, host: str, *, worker_id: str, max_containers: int, place: Placer,
              group: Grouper, pick_port: PortPicker,
              terms: Callable[[str], Terms] | None = None,
              backfill_seconds: float | None = None) -> list[Run]:
        """Atomically start the first queued run of `host` that may start (plus its batch
        mates); the claimed runs (now `staging`), or []. `backfill_seconds` None: strict
        order (a run that does not fit holds up the runs behind it)."""
        terms = terms or (lambda owner: EVEN)
        with self.writing():
            active = self.runs_in(ACTIVE, host=host)
            jobs = len({r.batch_id or r.id for r in active})
            if jobs >= max_containers:
                head = self.queued_in_order(host, limit=1)
                self._note_waits({r.id: f"{host} already runs {jobs} job(s), its "
                                  "max_concurrent" for r in head}, head)
                return []
            queued = self._claim_candidates(host)
            if not queued:
                return []
            held = self.held_gpus_by_owner()
            queued.sort(key=lambda r: _order(r, terms(r.owner), held))
            reasons: dict[str, str] = {}
            blocked: Run | None = None
            for run in queued:
                owner_terms = terms(run.owner)
                mine = held.get(run.owner, 0)
                if owner_terms.max_gpus and mine + run.gpu_count > owner_terms.max_gpus:
                    reasons[run.id] = (f"{run.owner or 'its owner'}'s limit: {mine} of "
                                       f"{owner_terms.max_gpus} GPUs in use ([fair_share] "
                                       "max_gpus)")
                    continue
                if blocked is not None and (backfill_seconds is None or time.time()
                                            - blocked.created_at > backfill_seconds):
                    break  # nothing jumps a run that waits for GPUs (or has waited enough)
                placement = place(run, active)
                if placement is not None and not isinstance(placement, str):
                    self._note_waits(reasons, queued)
                    return self._start(run, placement, active, queued, group, pick_port,
                                       worker_id)
                reasons[run.id] = placement or f"no free GPUs on {host}"
                blocked = blocked or run
            self._note_waits(reasons, queued)
            return []

    def _start(self, head: Run, placement: Placement, active: Sequence[Run],
               queued: Sequence[Run], group: Grouper, pick_port: PortPicker,
               worker_id: str) -> list[Run]:
        port = pick_port(head, {r.master_port for r in active if r.master_port})
        mates = [r for r in queued if r.owner == head.owner and r.id != head.id]
        runs = group(head, sorted(mates, key=lambda r: (-r.priority, r.id)))
        batch_id = new_id() if len(runs) > 1 else None
        note = f"claimed by worker {worker_id}" + (
            f" into batch {batch_id}" if batch_id else "")
        return [self.transition(run.id, STAGING, expect=(QUEUED,), note=note,
                                gpus=json.dumps(placement.gpus), master_port=port,
                                worker_id=worker_id, batch_id=batch_id,
                                batch_index=index if batch_id else None)
                for index, run in enumerate(runs)]

    def _claim_candidates(self, host: str) -> list[Run]:
        """Each owner's first CLAIM_WINDOW queued runs on the host (their own order)."""
        rank = fn.ROW_NUMBER().over(partition_by=[Run.owner],
                                    order_by=[Run.priority.desc(), Run.id]).alias("rank")
        inner = (Run.select(Run.id, rank)
                 .where((Run.status == QUEUED) & (Run.host == host)).alias("q"))
        return list(Run.select().join(inner, on=(Run.id == inner.c.id))
                    .where(inner.c.rank <= CLAIM_WINDOW))

    def held_gpus_by_owner(self) -> dict[str, int]:
        """GPUs each owner's runs hold now, all hosts (a job's GPUs once, batch or not)."""
        per_job = (Run.select(Run.owner, fn.MAX(Run.gpu_count).alias("gpus"))
                   .where(Run.status.in_(list(HOLDING)))
                   .group_by(fn.COALESCE(Run.batch_id, Run.id)).alias("j"))
        rows = (Run.select(per_job.c.owner, fn.SUM(per_job.c.gpus)).from_(per_job)
                .group_by(per_job.c.owner).tuples())
        return {owner: int(gpus or 0) for owner, gpus in rows}

    def _note_waits(self, reasons: dict[str, str], runs: Sequence[Run]) -> None:
        """Record why each examined run waits (only where the words changed)."""
        current = {r.id: r.wait_reason for r in runs}
        for run_id, reason in reasons.items():
            if current.get(run_id) != reason:
                Run.update(wait_reason=reason).where(
                    (Run.id == run_id) & (Run.status == QUEUED)).execute()

    # -- workers ------------------------------------------------------------------------------
    def register_worker(self, worker_id: str) -> None:
        now = time.time()
        Worker.insert(id=worker_id, pid=os.getpid(), hostname=socket.gethostname(),
                      started_at=now, heartbeat_at=now).on_conflict_replace().execute()

    def heartbeat(self, worker_id: str) -> None:
        """Say this worker is alive (registering again if it was presumed dead meanwhile)."""
        updated = (Worker.update(heartbeat_at=time.time())
                   .where(Worker.id == worker_id).execute())
        if not updated:
            self.register_worker(worker_id)

    def remove_worker(self, worker_id: str) -> None:
        Worker.delete().where(Worker.id == worker_id).execute()

    def live_workers(self, stale_after: float) -> list[Worker]:
        """Schedulers whose heartbeat is younger than `stale_after` seconds, oldest first."""
        cutoff = time.time() - stale_after
        return list(Worker.select().where(Worker.heartbeat_at >= cutoff)
                    .order_by(Worker.started_at))

    def forget_dead_workers(self, older_than: float) -> None:
        Worker.delete().where(Worker.heartbeat_at < time.time() - older_than).execute()

    def orphaned_runs(self, stale_after: float, worker_id: str) -> list[Run]:
        """Active runs whose worker is gone (or is `worker_id` itself, after a restart)."""
        live = {w.id for w in self.live_workers(stale_after)} - {worker_id}
        return [r for r in self.runs_in(ACTIVE) if r.worker_id not in live]

    def take_over(self, run: Run, worker_id: str) -> bool:
        """Make `worker_id` the run's driver, unless another worker took it first."""
        owner = Run.worker_id.is_null() if run.worker_id is None else (
            Run.worker_id == run.worker_id)
        return bool(Run.update(worker_id=worker_id)
                    .where((Run.id == run.id) & owner).execute())

    def runs_of_worker(self, worker_id: str) -> list[Run]:
        return [r for r in self.runs_in(ACTIVE) if r.worker_id == worker_id]

    def queue_is_empty(self) -> bool:
        return not Run.select().where(Run.status.in_((QUEUED,) + ACTIVE)).exists()


def _order(run: Run, terms: Terms, held: dict[str, int]) -> tuple:
    """The claim order: priority (own + owner's), then fair share, then first come."""
    return (-(run.priority + terms.priority), held.get(run.owner, 0) / max(terms.share, 1e-9),
            run.id)
