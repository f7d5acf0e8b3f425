"""Claims and workers: which scheduler drives which run, decided atomically in SQLite.

Several schedulers may share one database (the app's and any `cosmos worker`). A claim is one
IMMEDIATE transaction that checks the host's capacity, takes the queue head, gives it GPUs and
a torchrun port that no active run of the host holds, and marks it as the claiming worker's:
two workers can never start the same run or hand out the same GPU. The placement rules
(which GPUs, which runs may share a container) are the caller's, passed in as functions, so
this module holds the SQL and nothing else.
"""

from __future__ import annotations

import json
import os
import socket
import time
from dataclasses import dataclass
from typing import Callable, Sequence

from backend.ids import new_id
from backend.store.models import ACTIVE, QUEUED, STAGING, Run, Worker

#: How many queued runs a claim looks at to find batch mates for the head.
CLAIM_WINDOW = 64


@dataclass(frozen=True)
class Placement:
    """Where the queue head may run now: its GPUs (empty when the host kind places them)."""

    gpus: list[int]


#: (head, the host's active runs) -> a Placement, or None when the head does not fit yet
Placer = Callable[[Run, Sequence[Run]], Placement | None]
#: (head, the queued runs after it) -> the runs to start in one container, head first
Grouper = Callable[[Run, Sequence[Run]], list[Run]]
#: (head, ports held by the host's active runs) -> a free torchrun master port
PortPicker = Callable[[Run, set[int]], int]


class ClaimStore:
    """A mixin of Store (needs `writing` and `transition`)."""

    def claim(self, host: str, *, worker_id: str, max_containers: int, place: Placer,
              group: Grouper, pick_port: PortPicker) -> list[Run]:
        """Atomically take the queue head of `host` (plus its batch mates) if it fits.

        FIFO within a priority: when the head does not fit (no capacity, no GPUs), nothing
        behind it jumps the queue. Returns the claimed runs (now `staging`), or [].
        """
        with self.writing():
            active = self.runs_in(ACTIVE, host=host)
            if len({r.batch_id or r.id for r in active}) >= max_containers:
                return []
            queued = self.queued_in_order(host, limit=CLAIM_WINDOW)
            if not queued:
                return []
            head = queued[0]
            placement = place(head, active)
            if placement is None:
                return []
            port = pick_port(head, {r.master_port for r in active if r.master_port})
            runs = group(head, queued[1:])
            batch_id = new_id() if len(runs) > 1 else None
            note = f"claimed by worker {worker_id}" + (
                f" into batch {batch_id}" if batch_id else "")
            return [self.transition(run.id, STAGING, expect=(QUEUED,), note=note,
                                    gpus=json.dumps(placement.gpus), master_port=port,
                                    worker_id=worker_id, batch_id=batch_id,
                                    batch_index=index if batch_id else None)
                    for index, run in enumerate(runs)]

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
