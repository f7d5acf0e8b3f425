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
on: then a later run may use GPUs the first cannot use yet, but only while that keeps its
owner at or below where the waiting run's owner will be once it starts (so the big runs of
those furthest below their share are not starved by everyone's small ones), and, with
`backfill_seconds`, only until the waiting run has waited that long. Each run examined and
left waiting gets its reason (`wait_reason`).
"""

from __future__ import annotations

import json
import os
import socket
import time
from dataclasses import dataclass
from typing import Callable, Sequence


from backend.ids import new_id
from backend.store.models import ACTIVE, HOLDING, QUEUED, STAGING, Run, Worker, db

#: How many queued runs of each owner a claim looks at (order, backfill, batch mates).
CLAIM_WINDOW = 16

#: What the claim reads of a queued run: its order, its owner, what it asks for and (for batch
#: mates) its settings; not its log, spec or outputs.
_CANDIDATE_COLUMNS = ("id", "owner", "priority", "gpu_count", "created_at", "wait_reason",
                      "host", "status", "run_type", "model", "params", "batch_id")
_CANDIDATES_SQL = (
    "SELECT " + ", ".join(f"run.{c}" for c in _CANDIDATE_COLUMNS) + " FROM run JOIN (SELECT "
    "id, ROW_NUMBER() OVER (PARTITION BY owner ORDER BY priority DESC, id) AS rank FROM run "
    "WHERE status = ? AND host = ?) AS q ON run.id = q.id WHERE q.rank <= ?")
_HELD_SQL = (
    "SELECT owner, SUM(gpus), MAX(started) FROM (SELECT owner, MAX(gpu_count) AS gpus, "
    "MAX(started_at) AS started FROM run WHERE status IN ("
    + ", ".join("?" * len(HOLDING)) + ") GROUP BY coalesce(batch_id, id)) GROUP BY owner")


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
              backfill_seconds: float | None = None, now: float | None = None) -> list[Run]:
        """Atomically start the first queued run of `host` that may start (plus its batch
        mates); the claimed runs (now `staging`), or []. `backfill_seconds` None: strict
        order (a run that does not fit holds up the runs behind it); 0: backfill bounded by
        fair share only; N: also nothing jumps a run that has waited N seconds. `now` is the
        clock that bound is read on (a simulation's; default the wall clock)."""
        terms = terms or (lambda owner: EVEN)
        now = time.time() if now is None else now
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
            holdings = self._holdings()
            held = {owner: gpus for owner, (gpus, _) in holdings.items()}
            queued.sort(key=lambda r: (-r.priority, r.id))
            heads: dict[str, Run] = {}
            for run in queued:  # each owner's next run in their own order
                heads.setdefault(run.owner, run)
            queued.sort(key=lambda r: _order(r, terms(r.owner), holdings, heads[r.owner]))
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
                if blocked is not None and (backfill_seconds is None or (
                        backfill_seconds > 0 and now - blocked.created_at > backfill_seconds)):
                    break  # nothing jumps a run that waits for GPUs (or has waited enough)
                if blocked is not None and _after(run, terms, held) > _after(
                        blocked, terms, held) + 1e-9:
                    # backfill stays fair: it may not lift an owner above where the waiting
                    # run's owner would be once it starts (else big runs of the owners most
                    # below their share would wait for ever behind everyone's small ones)
                    reasons[run.id] = (f"waits for {blocked.owner or 'an earlier run'}'s "
                                       f"{blocked.gpu_count}-GPU run {blocked.id[-8:]} "
                                       "(fair share)")
                    continue
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
        """Each owner's first CLAIM_WINDOW queued runs on the host (their own order).

        Plain SQL, built once: a claim runs it for every host the scheduler looks at, and
        Peewee's query building costs more than SQLite's answer here."""
        return list(Run.raw(_CANDIDATES_SQL, QUEUED, host, CLAIM_WINDOW))

    def held_gpus_by_owner(self) -> dict[str, int]:
        """GPUs each owner's runs hold now, all hosts (a job's GPUs once, batch or not)."""
        return {owner: gpus for owner, (gpus, _) in self._holdings().items()}

    def _holdings(self) -> dict[str, tuple[int, float]]:
        """Per owner: (GPUs held now, when their latest running job was claimed)."""
        rows = db.execute_sql(_HELD_SQL, list(HOLDING)).fetchall()
        return {owner: (int(gpus or 0), float(last or 0)) for owner, gpus, last in rows}

    def _note_waits(self, reasons: dict[str, str], runs: Sequence[Run]) -> None:
        """Record why each examined run waits: one UPDATE per distinct reason, only for the
        runs whose words changed."""
        current = {r.id: r.wait_reason for r in runs}
        changed: dict[str, list[str]] = {}
        for run_id, reason in reasons.items():
            if current.get(run_id) != reason:
                changed.setdefault(reason, []).append(run_id)
        for reason, ids in changed.items():
            Run.update(wait_reason=reason).where(
                Run.id.in_(ids) & (Run.status == QUEUED)).execute()

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


def _after(run: Run, terms: Callable[[str], Terms], held: dict[str, int]) -> float:
    """The owner's GPUs per share once this run has started."""
    return (held.get(run.owner, 0) + run.gpu_count / 2) / max(terms(run.owner).share, 1e-9)


def _order(run: Run, terms: Terms, holdings: dict[str, tuple[int, float]], head: Run) -> tuple:
    """The claim order: priority (own + owner's); then fair share: the owner holding the
    fewest GPUs per share counting half of their next run (Sainte-Lague's rule, which favours
    neither small nor large shares), the owner served least recently on a tie; then first
    come within an owner."""
    held, last = holdings.get(run.owner, (0, 0.0))
    return (-(run.priority + terms.priority),
            round((held + head.gpu_count / 2) / max(terms.share, 1e-9), 9), last, run.id)
