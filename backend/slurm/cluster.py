"""What one Slurm host's runs share: the client and a short-lived view of the queue.

Every run's state is read from one `squeue` of the user's jobs (cached for QUEUE_MAX_AGE), so
following N runs costs one Slurm call per second, not N.
"""

from __future__ import annotations

import threading
import time

from backend.config.hosts import HostConfig
from backend.remote.shell import Shell
from backend.slurm.client import SlurmClient, SlurmJob
from backend.slurm.config import slurm_options

#: How old the shared `squeue` answer may be (every run's inspect reads it).
QUEUE_MAX_AGE = 0.8
#: How often a waiting job's place in the queue is recomputed (one squeue of the partition).
POSITION_MAX_AGE = 3.0

class SlurmCluster:
    """What one Slurm host's runs share: the client and a short-lived view of the queue."""

    def __init__(self, host: HostConfig, shell: Shell) -> None:
        self.client = SlurmClient(shell, slurm_options(host).slurm_env)
        self._lock = threading.Lock()
        self._queue: dict[str, SlurmJob] = {}
        self._queue_at = 0.0
        self._pending: dict[str, list[SlurmJob]] = {}
        self._pending_at: dict[str, float] = {}
        self._final: dict[str, SlurmJob] = {}

    def queue(self) -> dict[str, SlurmJob]:
        """This user's jobs that are not over, by id (one `squeue` per QUEUE_MAX_AGE)."""
        with self._lock:
            if time.monotonic() - self._queue_at > QUEUE_MAX_AGE:
                self._queue = {j.job_id: j for j in self.client.queue()}
                self._queue_at = time.monotonic()
            return self._queue

    def forget_queue(self) -> None:
        with self._lock:
            self._queue_at = 0.0

    def job(self, job_id: str) -> SlurmJob | None:
        """The job's latest state; a finished job is asked for once and remembered."""
        if job_id in self._final:
            return self._final[job_id]
        job = self.queue().get(job_id)
        if job is None or job.finished:
            job = self.client.find(job_id) or job
        if job is not None and job.finished:
            with self._lock:
                if len(self._final) > 2000:
                    self._final.clear()
                self._final[job_id] = job
        return job

    def fresh(self, job_id: str) -> SlurmJob | None:
        """Ask slurmctld now (no cache): used while waiting for a signalled job to end."""
        return self.client.find(job_id)

    def position(self, job: SlurmJob) -> tuple[int, int] | None:
        """(place, pending jobs) of a waiting job in its partition's queue, all users."""
        part = job.partition.split(",")[0]
        with self._lock:
            age = time.monotonic() - self._pending_at.get(part, 0.0)
            known = any(j.job_id == job.job_id for j in self._pending.get(part, ()))
            if age > POSITION_MAX_AGE or (not known and age > QUEUE_MAX_AGE):
                self._pending[part] = self.client.pending_order(part or None)
                self._pending_at[part] = time.monotonic()
            order = [j.job_id for j in self._pending[part]]
        if job.job_id not in order:
            return None
        return order.index(job.job_id) + 1, len(order)
