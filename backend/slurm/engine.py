"""The Engine of a Slurm host: a run (or a batch) is a Slurm job, not a container we start.

How it fits the lifecycle (backend/runs/): staging, following the log from its stored offset,
collecting and outcome classification are the generic ones, unchanged. Only the steps that
talk to the job engine differ, and the lifecycle reaches them through this Engine:

* launch: the plan's `docker run -d` argv becomes a batch script in the run folder (shared
  filesystem; see backend/slurm/script.py), submitted with `sbatch --parsable`. The job id is
  the run's `container_id` and `external_id`;
* state / wait_exit: `squeue` (one call per host per second for all runs, cached in
  SlurmCluster), then `scontrol show job` once a job has left the queue, then `sacct` when
  slurmctld forgot it. The node goes to `Run.node`; while the job waits, its reason and place
  in the partition's queue are the run's progress;
* stop / kill: graceful is `scancel --signal=TERM` (the job step's processes), KILL after the
  grace; force is `scancel --signal=KILL --batch` (see backend/slurm/script.py for why, and
  for docker mode's traps); a job still waiting is simply `scancel`ed (dequeued);
* explain_end: a failure Slurm caused (time limit, node failure, preemption, out of memory,
  cancelled by someone else) gets Slurm's reason as its cause.

State mapping (Slurm -> run status):
  submitted, PENDING/CONFIGURING/REQUEUED... -> `pending` (no GPU time yet), progress phase
      "queued in Slurm: <reason>" with the job's place in the partition's queue in `detail`;
  RUNNING/COMPLETING/SUSPENDED...            -> `running` from when it is seen started (its
      node and GPU indexes recorded; queue time = running - pending, kept apart);
  COMPLETED/FAILED/CANCELLED/TIMEOUT/...     -> `collecting`, exit code from ExitCode=N:S
      (N, or 128+S when a signal ended it; none when the job never started).
"""

from __future__ import annotations

import json
import logging
import re
import time
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from backend.hosts.kind import Cancel
from backend.models.params import GenerationParams
from backend.models.profile import get_profile
from backend.models.results import Progress
from backend.remote.docker import LABEL_RUN, ContainerState
from backend.remote.shell import CommandResult, RemoteError
from backend.slurm.client import SlurmJob
from backend.slurm.cluster import SlurmCluster
from backend.slurm.config import slurm_options
from backend.slurm.script import SlurmScriptError, build_batch_script, parse_docker_run
from backend.store.models import CANCELLED, FAILED, PENDING, RUNNING, Run
from backend.store.runs import StaleTransition

log = logging.getLogger(__name__)

#: How often a running job's state is looked at while waiting for its end (the shared squeue
#: view is at most QUEUE_MAX_AGE old, so this is the exit-noticing delay).
WAIT_EVERY = 0.5

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


def parse_gpu_idx(text: str) -> list[int] | None:
    """GPU indexes in `scontrol -d show job -o` output (`GRES=gpu:2(IDX:0,2-3)`), or None."""
    match = re.search(r"GRES=\S*?gpu[^(\s]*\(IDX:([0-9,\-]+)\)", text or "")
    if not match:
        return None
    gpus: list[int] = []
    for part in match.group(1).split(","):
        first, _, last = part.partition("-")
        if first.isdigit() and (not last or last.isdigit()):
            gpus.extend(range(int(first), int(last or first) + 1))
    return gpus or None


def slurm_end_cause(job: SlurmJob) -> str | None:
    """Why Slurm ended a job, when Slurm (not the program) ended it."""
    template = _CAUSES.get(job.state)
    if template is None:
        return None
    return template.format(id=job.job_id, node=job.nodes or "its node",
                           limit=job.time_limit or "?")


def _ok(argv: tuple[str, ...] = ()) -> CommandResult:
    return CommandResult(argv, 0, b"", b"")



class SlurmEngine:
    """The Engine of a Slurm host. Jobs are named `cosmos-<run or batch id>` (as containers
    are elsewhere); the runs' job id, node and queue place are recorded on them."""

    def __init__(self, runtime: Any, store: Any, kill_grace: int) -> None:
        self.rt = runtime
        self.host = runtime.host
        self.store = store
        self.kill_grace = kill_grace
        self.cluster = SlurmCluster(runtime.host, runtime.shell)
        self._ids: dict[str, str] = {}
        self._shown: dict[str, tuple] = {}

    # -- which runs, which job ----------------------------------------------------------------
    def _owner_id(self, name: str) -> str:
        return name.removeprefix("cosmos-")

    def _runs(self, name: str) -> list[Run]:
        """The run (or the batch's runs) a job name stands for."""
        if self.store is None:
            return []
        owner = self._owner_id(name)
        run = self.store.get_run(owner)
        if run is not None:
            return [run]
        return self.store.batch_members(owner)

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
    def launch(self, plan, runs: Sequence[Run]) -> str:
        host = self.host
        try:
            run = parse_docker_run(plan.docker_argv, host.docker)
        except SlurmScriptError as exc:
            raise RemoteError(f"cannot turn the run into a Slurm job: {exc}") from None
        owner = run.labels.get(LABEL_RUN) or self._owner_id(run.name)
        folder = self.rt.run_dir(owner)
        num_gpus = 1
        if runs:
            num_gpus = get_profile(runs[0].model).gpus_for(
                GenerationParams.from_dict(runs[0].params_dict()), runs[0].run_type)
        try:
            script = build_batch_script(host, run, folder=folder, num_gpus=num_gpus,
                                        kill_grace=self.kill_grace)
        except SlurmScriptError as exc:
            raise RemoteError(f"cannot turn the run into a Slurm job: {exc}") from None
        path = f"{folder}/slurm.sh"
        self.rt.shell.write_file(path, script.encode(), 0o755)
        job_id = self.cluster.client.submit(path)
        self._ids[run.name] = job_id
        self.cluster.forget_queue()
        for r in runs:
            self.store.update_run(r.id, external_id=job_id, command=script)
        log.info("%s submitted to Slurm on %s as job %s", run.name, host.name, job_id)
        return job_id

    # -- state --------------------------------------------------------------------------------
    def state(self, name: str) -> JobState | None:
        job = self.job(name)
        if job is None:
            return None
        self._observe(name, job)
        return job_state(name, job)

    def wait_exit(self, name: str, cancel: Cancel) -> JobState | None:
        """Slurm cannot be waited on over one call: look at the shared queue view until the
        job has left it (or vanished)."""
        while not cancel.cancelled:
            state = self.state(name)
            if state is None or not state.running:
                return state
            cancel.wait(WAIT_EVERY)
        return None

    def _observe(self, name: str, job: SlurmJob) -> None:
        """Record what the runs should show: the node, and the queue place while waiting."""
        if self.store is None:
            return
        store = self.store
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
        gpus = self._allocated_gpus(job) if shown[0] == "started" else None
        for run in self._runs(name):
            fields: dict[str, Any] = {}
            if job.nodes and run.node != job.nodes:
                fields["node"] = job.nodes
            if run.external_id != job.job_id:
                fields["external_id"] = job.job_id
            if gpus and run.gpu_list() != gpus:
                fields["gpus"] = json.dumps(gpus)
            if job.waiting or (first_time and run.log_lines == 0):
                fields["progress"] = json.dumps(progress.to_dict())
            if shown[0] == "started" and run.status == PENDING:
                try:  # its GPU time starts now, its queue time ends
                    store.transition(run.id, RUNNING, expect=(PENDING,),
                                     note=f"Slurm job {job.job_id} started on {job.nodes}",
                                     **fields)
                    continue
                except StaleTransition:
                    pass
            if fields:
                store.update_run(run.id, **fields)  # publishes the new progress

    def _allocated_gpus(self, job: SlurmJob) -> list[int] | None:
        """The GPU indexes Slurm gave a started job (`scontrol -d`: GRES=gpu:N(IDX:0-1))."""
        try:
            result = self.cluster.client.run("scontrol", "-d", "show", "job", "-o", job.job_id)
        except RemoteError:
            return None
        return parse_gpu_idx(result.out) if result.ok else None

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

    def list_ours(self, label: str) -> list[dict[str, str]]:
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

    def list_all(self) -> list[dict[str, str]]:
        """A cluster's other jobs are Slurm's business: the jobs of any installation here."""
        from backend.remote.docker import LABEL_APP

        return self.list_ours(LABEL_APP)

    @property
    def _docker(self) -> bool:
        return slurm_options(self.host).slurm_container == "docker"

    def explain_end(self, name: str, ends: Mapping[str, str]) -> dict[str, dict[str, Any]]:
        """A failure Slurm caused gets Slurm's reason as its cause (the log cannot say it),
        a job cancelled before it started says so, and each run gets the node it ran on."""
        try:
            job = self.job(name)
        except RemoteError:
            return {}
        if job is None:
            return {}
        cause = slurm_end_cause(job)
        extra: dict[str, dict[str, Any]] = {}
        for run_id, status in ends.items():
            fields: dict[str, Any] = {}
            if job.nodes:
                fields["node"] = job.nodes
            if status == CANCELLED and not job.started:
                fields["failure_cause"] = (f"cancelled by user while waiting in Slurm's queue "
                                           f"(job {job.job_id} never started)")
            if cause and status == FAILED:
                fields["failure_cause"] = cause
                evidence = next((line for line in reversed(self.store.log_text(run_id))
                                 if "slurmstepd" in line and "***" in line), None)
                if evidence:
                    fields["failure_evidence"] = evidence
            if fields:
                extra[run_id] = fields
        return extra
