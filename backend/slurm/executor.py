"""Runs on a Slurm cluster (host kind "slurm"): Slurm owns the queue and GPU placement.

How it fits the executor (backend/executor.py, DESIGN §3): staging, following the log from its
stored offset, collecting and outcome classification are the plain host's, unchanged. Only the
three steps that talk to the container engine differ, and they all go through `rt.docker`; on a
Slurm host that is `SlurmJobs`, which answers the same calls with Slurm:

* launch (`run_detached`): the plan's `docker run -d` argv becomes a batch script in the run
  folder (shared filesystem; see backend/slurm_script.py), submitted with `sbatch --parsable`.
  The job id is the run's `container_id` and `external_id`;
* state (`inspect`): `squeue` (one call per host per second for all runs, cached), then
  `scontrol show job` once a job has left the queue, then `sacct` when slurmctld forgot it;
  mapped to what the executor decides on (below). The node goes to `Run.node`;
* kill (`stop`/`kill`): graceful is `scancel --signal=TERM` (the job step's processes), KILL
  after the grace; force is `scancel --signal=KILL --batch` (see backend/slurm_script.py for
  why, and for docker mode's traps); a job still waiting is simply `scancel`ed (dequeued).

State mapping (Slurm -> run status):
  submitted, PENDING/CONFIGURING/REQUEUED... -> `running`, progress phase
      "queued in Slurm: <reason>" with the job's place in the partition's queue in `detail`
      (the UI shows it; nothing runs yet, so there is no log);
  RUNNING/COMPLETING/SUSPENDED...            -> `running` (log followed as on a plain host);
  COMPLETED/FAILED/CANCELLED/TIMEOUT/...     -> `collecting`, exit code from ExitCode=N:S
      (N, or 128+S when a signal ended it; none when the job never started), then the usual
      outcome; a failure Slurm caused (time limit, node failure, preemption, out of memory,
      cancelled by someone else) gets Slurm's reason as its cause.

Batching works unchanged (`SlurmBatchExecutor`: one job per batch). Chained upscales are
submitted when their parent completes, like on a plain host.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass, replace
from typing import Any

from backend import store as st
from backend.runs.batching import BatchExecutor
from backend.config import HostConfig
from backend.models.transfer1.params import GenerationParams
from backend.models.transfer1.progress import Progress
from backend.runs.executor import HostRuntime, RunExecutor
from backend.runs.plan import container_name, run_dir as plan_run_dir
from backend.remote.docker import LABEL_RUN, ContainerState
from backend.remote.shell import CommandResult, RemoteError, Shell
from backend.slurm.client import SlurmClient, SlurmJob
from backend.slurm.script import SlurmScriptError, build_batch_script, parse_docker_run

log = logging.getLogger(__name__)

#: How old the shared `squeue` answer may be (every run's inspect reads it).
QUEUE_MAX_AGE = 0.8
#: How often a waiting job's place in the queue is recomputed (one squeue of the partition).
POSITION_MAX_AGE = 3.0
#: After a kill signal: how long to wait for the job to end before escalating.
KILL_WAIT = 10.0
QUEUED_PHASE = "queued in Slurm"

_CAUSES = {
    "TIMEOUT": "Slurm stopped job {id}: it reached its time limit ({limit}); raise time_limit "
               "of the host",
    "OUT_OF_MEMORY": "Slurm killed job {id}: it used more host memory than it asked for "
                     "(add e.g. \"--mem=200G\" to sbatch_extra)",
    "NODE_FAIL": "node {node} failed while Slurm job {id} ran on it",
    "BOOT_FAIL": "node {node} failed to boot for Slurm job {id}",
    "PREEMPTED": "Slurm job {id} was preempted by a higher-priority job",
    "DEADLINE": "Slurm job {id} missed its deadline",
    "CANCELLED": "Slurm job {id} was cancelled outside this app (scancel by its user or an "
                 "administrator)",
    "LAUNCH_FAILED": "Slurm could not launch job {id} on {node}",
    "REVOKED": "Slurm job {id} was revoked (it started on another cluster)",
}


@dataclass(frozen=True)
class JobState(ContainerState):
    """A ContainerState that is a Slurm job; waiting in the queue counts as running."""

    job: SlurmJob | None = None

    @property
    def running(self) -> bool:
        return self.status in ("pending", "running")


def job_state(name: str, job: SlurmJob) -> JobState:
    if job.finished:
        status, code = "exited", (job.exit_code if job.started else None)
    else:  # waiting, active, or a state this code does not know yet: keep following
        status, code = ("pending" if job.waiting else "running"), None
    return JobState(id=job.job_id, name=name, status=status, exit_code=code,
                    labels=job.labels(), job=job)


def slurm_end_cause(job: SlurmJob) -> str | None:
    """Why Slurm ended a job, when Slurm (not the program) ended it."""
    template = _CAUSES.get(job.state)
    if template is None:
        return None
    return template.format(id=job.job_id, node=job.nodes or "its node",
                           limit=job.time_limit or "?")


def _ok(argv: tuple[str, ...] = ()) -> CommandResult:
    return CommandResult(argv, 0, b"", b"")


class SlurmCluster:
    """What one Slurm host's runs share: the client and a short-lived view of the queue."""

    def __init__(self, host: HostConfig, shell: Shell) -> None:
        self.client = SlurmClient(shell, host.slurm_env)
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


class SlurmJobs:
    """The container-engine interface of the executor (DockerClient's calls), done by Slurm.

    Containers are named `cosmos-<run or batch id>`; that is the job name too. Without an
    executor (the host monitor) it only reads and cancels; with one it also records the job id,
    node and queue place on the runs.
    """

    def __init__(self, runtime: "SlurmRuntime") -> None:
        self.rt = runtime
        self.cluster = runtime.cluster
        self._ids: dict[str, str] = {}
        self._shown: dict[str, tuple] = {}

    @property
    def executor(self) -> RunExecutor | None:
        return self.rt.executor

    # -- which runs, which job ----------------------------------------------------------------
    def _owner_id(self, name: str) -> str:
        return name.removeprefix("cosmos-")

    def _runs(self, name: str) -> list[st.Run]:
        """The run (or the batch's runs) a container name stands for."""
        if self.executor is None:
            return []
        owner = self._owner_id(name)
        run = self.executor.store.get_run(owner)
        if run is not None:
            return [run]
        return list(st.Run.select().where(st.Run.batch_id == owner).order_by(st.Run.batch_index))

    def job_id(self, name: str) -> str | None:
        """The job of a container name: remembered, on the run row, or asked of Slurm."""
        if name in self._ids:
            return self._ids[name]
        ids = []
        for run in self._runs(name):
            job = self.cluster.job(run.external_id) if run.external_id else None
            # a run requeued after its batch-mate was killed still names that batch's job
            if run.external_id and (job is None or job.name in ("", name)):
                ids.append(run.external_id)
        if not ids:
            found = self.cluster.client.find_by_name(name)
            ids = [j.job_id for j in sorted(found, key=lambda j: int(j.job_id.split("_")[0]))]
        if ids:
            self._ids[name] = ids[-1]
            return ids[-1]
        return None

    def job(self, name: str, *, fresh: bool = False) -> SlurmJob | None:
        """The job's state: from the shared, ~1 s old queue view, or asked now (`fresh`, for
        decisions such as how to stop it)."""
        job_id = self.job_id(name)
        if not job_id:
            return None
        return (self.cluster.fresh(job_id) if fresh else None) or self.cluster.job(job_id)

    # -- launch -------------------------------------------------------------------------------
    def run_detached(self, run_argv) -> str:
        executor = self.executor
        if executor is None:
            raise RemoteError("internal error: a Slurm job can only be submitted by an executor")
        host = self.rt.slurm_host
        try:
            run = parse_docker_run(run_argv, host.docker)
        except SlurmScriptError as exc:
            raise RemoteError(f"cannot turn the run into a Slurm job: {exc}") from None
        owner = run.labels.get(LABEL_RUN) or self._owner_id(run.name)
        folder = plan_run_dir(host, owner)
        runs = self._runs(run.name)
        num_gpus = 1
        if runs:
            num_gpus = GenerationParams.from_dict(runs[0].params_dict()).num_gpus
        try:
            script = build_batch_script(host, run, folder=folder, num_gpus=num_gpus,
                                        kill_grace=executor.settings.kill_grace)
        except SlurmScriptError as exc:
            raise RemoteError(f"cannot turn the run into a Slurm job: {exc}") from None
        path = f"{folder}/slurm.sh"
        self.rt.shell.write_file(path, script.encode(), 0o755)
        job_id = self.cluster.client.submit(path)
        self._ids[run.name] = job_id
        self.cluster.forget_queue()
        for r in runs:
            executor.store.update_run(r.id, external_id=job_id, command=script)
        log.info("%s submitted to Slurm on %s as job %s", run.name, host.name, job_id)
        return job_id

    # -- state --------------------------------------------------------------------------------
    def inspect(self, name: str) -> JobState | None:
        job = self.job(name)
        if job is None:
            return None
        self._observe(name, job)
        return job_state(name, job)

    def _observe(self, name: str, job: SlurmJob) -> None:
        """Record what the runs should show: the node, and the queue place while waiting."""
        if self.executor is None:
            return
        store, bus = self.executor.store, self.executor.bus
        if job.waiting:
            where = self.cluster.position(job)
            reason = job.reason or "not scheduled yet"
            detail = f"Slurm job {job.job_id}"
            if where:
                detail += f" · position {where[0]} of {where[1]} waiting in " \
                          f"{job.partition or 'the partition'}"
            shown = ("waiting", reason, detail)
            progress = Progress(phase=f"{QUEUED_PHASE}: {reason}", detail=detail)
        elif job.active and job.nodes:
            shown = ("started", job.nodes)
            progress = Progress(phase="starting",
                                detail=f"Slurm job {job.job_id} on {job.nodes}")
        else:
            return
        if self._shown.get(name) == shown:
            return
        first_time = self._shown.get(name) is None or self._shown[name][0] != shown[0]
        self._shown[name] = shown
        for run in self._runs(name):
            fields: dict[str, Any] = {}
            if job.nodes and run.node != job.nodes:
                fields["node"] = job.nodes
            if run.external_id != job.job_id:
                fields["external_id"] = job.job_id
            if job.waiting or (first_time and run.log_lines == 0):
                fields["progress"] = json.dumps(progress.to_dict())
            if fields:
                store.update_run(run.id, **fields)
                if "progress" in fields:
                    bus.publish("progress", run.id, **progress.to_dict())

    # -- stop ---------------------------------------------------------------------------------
    def _wait_end(self, job_id: str, seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while True:
            job = self.cluster.fresh(job_id)
            if job is None or job.finished:
                self.cluster.forget_queue()
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.3)

    def _signal(self, job_id: str, signal: str, *, batch: bool = True) -> None:
        result = self.cluster.client.cancel(job_id, signal=signal, batch=batch)
        if not result.ok:
            log.info("scancel --signal=%s %s: %s", signal, job_id, result.err.strip())

    def stop(self, name: str, grace: int) -> CommandResult:
        """Graceful: TERM (to the job step's processes; docker mode: to the batch script,
        whose trap runs `docker stop`), KILL after `grace` seconds."""
        job = self.job(name, fresh=True)
        if job is None or job.finished:
            return _ok()
        if job.waiting:  # nothing runs yet: take it out of Slurm's queue
            return self._dequeue(job)
        self._signal(job.job_id, "TERM", batch=self._docker)
        # docker mode: the script's trap runs `docker stop -t grace`, which needs that long
        if not self._wait_end(job.job_id, grace + (5 if self._docker else 0)):
            return self.kill(name)
        return _ok()

    def kill(self, name: str) -> CommandResult:
        """Force: KILL the batch script's process now; Slurm then tears the job step down
        (docker mode: USR1 first, whose trap runs `docker kill`)."""
        job = self.job(name, fresh=True)
        if job is None or job.finished:
            return _ok()
        if job.waiting:
            return self._dequeue(job)
        if self._docker:
            self._signal(job.job_id, "USR1")
            if self._wait_end(job.job_id, KILL_WAIT):
                return _ok()
        self._signal(job.job_id, "KILL")
        if not self._wait_end(job.job_id, KILL_WAIT):
            self.cluster.client.cancel(job.job_id)  # Slurm's own cancel, KillWait and all
        return _ok()

    def _dequeue(self, job: SlurmJob) -> CommandResult:
        result = self.cluster.client.cancel(job.job_id)
        self._wait_end(job.job_id, KILL_WAIT)
        return result

    def remove(self, name: str) -> CommandResult:
        """A container is removed after collection; a job has nothing left to remove. A job
        that still waits or runs (an orphan the Hosts view removes) is cancelled."""
        job = self.job(name, fresh=True)
        if job is not None and not job.finished:
            return self.cluster.client.cancel(job.job_id)
        return _ok()

    def list_by_label(self, label: str) -> list[dict[str, str]]:
        """Our jobs that are not over, shaped like `docker ps --format '{{json .}}'` rows."""
        key, eq, value = label.partition("=")
        rows = []
        for job in self.cluster.queue().values():
            labels = job.labels()
            if key in labels and (not eq or labels[key] == value):
                status = job.state.lower() + (f" ({job.reason})" if job.reason else "") + \
                    (f" on {job.nodes}" if job.nodes else "")
                rows.append({"Names": job.name, "ID": job.job_id, "Status": status,
                             "State": job.state.lower(), "Labels": job.comment,
                             "Node": job.nodes})
        return rows

    @property
    def _docker(self) -> bool:
        return self.rt.slurm_host.slurm_container == "docker"


class SlurmRuntime(HostRuntime):
    """A Slurm host as the executor sees it: `docker` is Slurm (SlurmJobs).

    `host` is the config as plan_launch must see it: `docker_gpus` off, since Slurm, not the
    scheduler, picks the GPUs (the batch script passes Slurm's choice to docker);
    `slurm_host` is the config as written.
    """

    def __init__(self, host: HostConfig, shell: Shell, *, cluster: SlurmCluster | None = None,
                 base: HostRuntime | None = None, executor: RunExecutor | None = None) -> None:
        super().__init__(replace(host, docker_gpus=False), shell)
        self.slurm_host = host
        self.cluster = cluster or SlurmCluster(host, shell)
        self._base = base  # the scheduler's runtime: remembers the installed sim checkout
        self.executor = executor
        self._jobs = SlurmJobs(self)

    @property
    def docker(self) -> SlurmJobs:  # type: ignore[override]
        return self._jobs

    def ensure_sim_checkout(self) -> None:
        if self._base is not None:
            self._base.ensure_sim_checkout()
        else:
            super().ensure_sim_checkout()

    def bound(self, executor: RunExecutor) -> "SlurmRuntime":
        """A view for one executor, sharing this host's cluster view and checkout state."""
        return SlurmRuntime(self.slurm_host, self.shell, cluster=self.cluster,
                            base=self._base or self, executor=executor)


def slurm_runtime(runtime: HostRuntime, executor: RunExecutor | None = None) -> SlurmRuntime:
    """The Slurm view of a host's runtime (for the scheduler's monitors and the executors)."""
    if isinstance(runtime, SlurmRuntime):
        return runtime.bound(executor) if executor is not None else runtime
    rt = SlurmRuntime(runtime.host, runtime.shell, base=runtime)
    return rt.bound(executor) if executor is not None else rt


class SlurmExecutor(RunExecutor):
    """RunExecutor whose launch, state and kill steps are Slurm's (see the module doc)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.rt = slurm_runtime(self.rt, self)

    def _collect(self, run: st.Run) -> None:
        super()._collect(run)
        self._explain_slurm_end(container_name(run.id), [run.id])

    def _explain_slurm_end(self, name: str, run_ids: list[str]) -> None:
        """A failure Slurm caused gets Slurm's reason as its cause (the log cannot say it)."""
        try:
            job = self.rt.docker.job(name)
        except RemoteError:
            return
        if job is None:
            return
        cause = slurm_end_cause(job)
        for run_id in run_ids:
            run = self.store.get_run(run_id)
            fields: dict[str, Any] = {}
            if job.nodes and run.node != job.nodes:
                fields["node"] = job.nodes
            if run.status == st.CANCELLED and not job.started:
                fields["failure_cause"] = (f"cancelled by user while waiting in Slurm's queue "
                                           f"(job {job.job_id} never started)")
            if cause and run.status == st.FAILED:
                fields["failure_cause"] = cause
                evidence = next((line for line in reversed(self.store.log_text(run_id))
                                 if "slurmstepd" in line and "***" in line), None)
                if evidence:
                    fields["failure_evidence"] = evidence
            if fields:
                self.store.update_run(run_id, **fields)


class SlurmBatchExecutor(SlurmExecutor, BatchExecutor):
    """A batch of runs as one Slurm job."""

    def _collect_batch(self, batch_id: str, runs: list[st.Run]) -> None:
        ids = [r.id for r in runs]
        super()._collect_batch(batch_id, runs)
        self._explain_slurm_end(container_name(batch_id), ids)
