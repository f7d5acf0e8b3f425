"""One job's life on one box: stage -> launch -> follow -> collect (DESIGN §3).

The same lifecycle drives a single run and a batch. It never holds state the store does not
have: every step writes its result (status, command, container id, log offset) before the
next begins, so a restarted app picks a job up wherever it was (`resume`). It runs in a
scheduler thread, never inside a UI request.

One retry policy for every step: a lost connection (or a box that cannot be reached for a
reason that may pass) is retried with backoff for RECONNECT_PATIENCE, whatever the step.
Staging steps are safe to repeat (mkdir -p, uploads that resume, files written atomically,
links replaced), and before a launch is repeated the box is asked whether the container
started anyway. While following or collecting the box is the source of truth: the log resumes
from its stored offset. After the patience a running job is left for a worker to adopt later;
a job that never started fails with the cause. Any other error of staging (a full disk, a
missing image, a refused permission) fails the job at once, with its cause.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from backend import media
from backend.config import Settings
from backend.hosts.leases import LeaseTaken
from backend.hosts.runtime import HostRuntime
from backend.remote.errors import is_transient
from backend.remote.shell import RemoteError
from backend.runs.collect import Collector
from backend.runs.follow import Follower
from backend.runs.job import Job
from backend.runs.preparing import prepare, write_files
from backend.runs.repro import reproducibility
from backend.runs.staging import Stager
from backend.store.models import (CANCELLED, COLLECTING, FAILED, PENDING, QUEUED, RUNNING,
                                  STAGING, TERMINAL)
from backend.store.runs import StaleTransition

log = logging.getLogger(__name__)

#: How long a follower keeps retrying an unreachable box before leaving the job for adoption.
RECONNECT_PATIENCE = 600.0
BACKOFF_FIRST, BACKOFF_MAX = 0.5, 10.0


class Lifecycle:
    def __init__(self, settings: Settings, store: Any, runtime: HostRuntime,
                 instance_id: str) -> None:
        self.settings = settings
        self.store = store
        self.rt = runtime
        self.instance_id = instance_id
        self.stager = Stager(store, runtime)
        self.follower = Follower(store, runtime, settings.kill_grace)
        self.collector = Collector(store, runtime, settings.runs_dir)

    # -- entry points -------------------------------------------------------------------------
    def execute(self, job_id: str) -> None:
        """Take a claimed (staging) job all the way to terminal states."""
        job = Job.load(self.store, job_id)
        if job is None:
            return
        gpus = job.runs[0].gpu_list() if job.runs else []
        try:
            if job.with_status(STAGING) and not self._stage_with_patience(job):
                return
            self._follow_and_collect(job_id)
        finally:
            self._release_leases(job_id, gpus)

    def resume(self, job_id: str) -> None:
        """Reattach after a restart: follow a live container, collect a finished one, and
        adopt a container launched just before the crash (its runs were still `staging`)."""
        job = Job.load(self.store, job_id)
        if job is None or all(r.status in TERMINAL for r in job.runs):
            return
        staging = job.with_status(STAGING)
        if staging:
            state = self.rt.engine.state(job.name)
            if state is not None:
                waiting = self.rt.kind.queues_jobs and state.status == "pending"
                for run in staging:
                    self.store.transition(run.id, PENDING if waiting else RUNNING,
                                          expect=(STAGING,), note="reattached after restart",
                                          container_id=state.id)
        log.info("resuming job %s (%s)", job_id, ", ".join(sorted({r.status for r in job.runs})))
        self.execute(job_id)

    # -- steps --------------------------------------------------------------------------------
    def _take_leases(self, job: Job) -> bool:
        """Lease the job's GPUs on the box (all or none) before anything is staged there; a
        GPU another installation leased meanwhile sends the runs back to the queue."""
        gpus = job.runs[0].gpu_list()
        if not (self.rt.checks_box and gpus):
            return True
        try:
            self.rt.leases.take(job.id, gpus, self.settings.lease_seconds,
                                job.runs[0].owner or "")
        except LeaseTaken as taken:
            for lease in taken.leases:
                self.rt.box.note(lease.gpu, f"leased by another installation for "
                                 f"{lease.owner or 'someone'}'s run {lease.run_id[-8:]}")
            for run in job.runs:
                self.store.requeue(run.id, expect=(STAGING,), note=f"requeued: {taken}",
                                   wait_reason=str(taken))
            log.info("job %s went back to the queue: %s", job.id, taken)
            return False
        return True

    def _release_leases(self, job_id: str, gpus: list[int]) -> None:
        """Give the GPUs back on the box once no run of the job holds them any more (a job
        left for adoption keeps its lease: the adopting worker renews it)."""
        if not (self.rt.checks_box and gpus):
            return
        job = Job.load(self.store, job_id)
        if job is not None and any(r.status not in TERMINAL + (QUEUED,) for r in job.runs):
            return
        try:
            self.rt.leases.release(job_id, gpus)
        except Exception as exc:  # an unreleased lease expires by itself
            log.warning("could not release the GPU lease of job %s: %s", job_id, exc)

    def _stage_with_patience(self, job: Job) -> bool:
        """Stage and launch; True once the container runs. A dropped connection is retried
        (asking the box first whether the container started before the drop)."""
        delay = BACKOFF_FIRST
        deadline = time.monotonic() + RECONNECT_PATIENCE
        while True:
            try:
                if self._adopt_launched(job):
                    return True
                return self._stage_and_launch(job)
            except Exception as exc:
                if is_transient(exc) and time.monotonic() + delay < deadline:
                    log.warning("job %s: lost the box while staging (%s); retrying in %.1f s",
                                job.id, exc, delay)
                    time.sleep(delay)
                    delay = min(delay * 2, BACKOFF_MAX)
                    job = job.reload(self.store)
                    if not job.with_status(STAGING):
                        return bool(job.with_status(RUNNING, PENDING, COLLECTING))
                    continue
                log.exception("job %s failed while staging", job.id)  # nothing runs: say why
                self._fail(job, self.stager.explain_error(exc))
                return False

    def _adopt_launched(self, job: Job) -> bool:
        """A launch cut off by a drop may have started the container: follow it, once."""
        if not any(r.command for r in job.runs):
            return False  # never got as far as launching
        state = self.rt.engine.state(job.name)
        if state is None or state.status == "created":
            return False
        waiting = self.rt.kind.queues_jobs and state.status == "pending"
        for run in job.with_status(STAGING):
            self.store.transition(run.id, PENDING if waiting else RUNNING, expect=(STAGING,),
                                  note="container found after a dropped connection",
                                  container_id=state.id)
        return True

    def _stage_and_launch(self, job: Job) -> bool:
        if not self._take_leases(job):
            return False
        repro = reproducibility(self.settings.data_dir, self.rt, job.runs[0])
        prepared = prepare(self.stager, self.store, self.rt, job, self.instance_id,
                           extra_env=repro.offline_env)
        write_files(self.rt, job, prepared)
        launch = prepared.launch
        for run in job.runs:
            self.store.update_run(run.id, spec=launch.run_specs.get(run.id, launch.spec_text),
                                  job_script=launch.job_script, command=launch.command,
                                  container_name=launch.container_name,
                                  master_port=launch.master_port,
                                  artifacts=json.dumps(launch.artifacts(run.id)),
                                  **repro.fields())
        job = job.reload(self.store)
        if any(r.cancel_requested for r in job.runs):
            self._cancel_before_start(job)
            return False
        container_id = self.rt.engine.launch(launch, list(job.runs))
        # a cluster that queues jobs (Slurm) keeps it `pending` until the job really starts
        started = PENDING if self.rt.kind.queues_jobs else RUNNING
        for run in job.runs:
            note = (f"batch {job.id}: item {run.batch_index} of {len(job.runs)}"
                    if job.is_batch else "")
            self.store.transition(run.id, started, expect=(STAGING,), note=note,
                                  container_id=container_id)
        log.info("job %s (%d run(s)) started %s on %s", job.id, len(job.runs),
                 container_id[:12], self.rt.host.name)
        return True

    def _follow_and_collect(self, job_id: str) -> None:
        delay = BACKOFF_FIRST
        deadline = time.monotonic() + RECONNECT_PATIENCE
        while True:
            try:
                job = Job.load(self.store, job_id)
                if job is None:
                    return
                if job.with_status(RUNNING, PENDING):
                    self.follower.follow(job)
                    job = job.reload(self.store)
                if job.with_status(COLLECTING):
                    self.collector.collect(job)
                return
            except RemoteError as exc:
                if time.monotonic() > deadline:
                    log.error("job %s: box unreachable for %.0f s, leaving it to be adopted "
                              "later: %s", job_id, RECONNECT_PATIENCE, exc)
                    return
                log.warning("job %s: lost the box (%s); retrying in %.1f s", job_id, exc, delay)
                time.sleep(delay)
                delay = min(delay * 2, BACKOFF_MAX)
            except Exception as exc:
                log.exception("job %s failed in the lifecycle", job_id)
                job = Job.load(self.store, job_id)
                if job is not None:
                    self._fail(job, exc)
                return

    # -- endings that are not the job's own ---------------------------------------------------
    def _cancel_before_start(self, job: Job) -> None:
        """A kill asked for while staging: those runs are cancelled; batch-mates that were not
        asked to stop go back to the queue."""
        for run in job.runs:
            if run.cancel_requested:
                self.store.transition(run.id, CANCELLED, expect=(STAGING,),
                                      note="killed before launch",
                                      failure_cause="Cancelled before the container started.")
            else:
                self.store.requeue(run.id, expect=(STAGING,),
                                   note="requeued: a batch-mate was killed before the start")

    def _fail(self, job: Job, exc: Exception) -> None:
        cause = str(exc) if isinstance(exc, (RemoteError, media.MediaError)) else \
            f"internal error: {type(exc).__name__}: {exc}"
        for run in job.runs:
            fresh = self.store.get_run(run.id)
            if fresh is None or fresh.is_terminal:
                continue
            try:
                self.store.transition(run.id, FAILED, expect=(fresh.status,), note=cause,
                                      failure_cause=cause)
            except StaleTransition:
                log.warning("run %s moved while failing it: %s", run.id, cause)
