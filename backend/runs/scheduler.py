"""The worker: claims queued runs, gives them GPUs and a port, and runs each in a thread.

Runs belong to the scheduler, not to a browser request, so a closed tab or a second tab changes
nothing. Several schedulers may share one database (the app's and any `cosmos worker`): a claim
is one IMMEDIATE transaction that checks capacity, picks the queue head, assigns disjoint GPUs
and a free torchrun port and marks the run as this worker's, so no two workers ever start the
same run or hand out the same GPU. A worker that stops heart-beating loses its runs to another
worker, which reattaches to them (follows the container, or collects what it left).
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from typing import Callable

from backend import store as st
from backend.config import HostConfig, Settings
from backend.models.transfer1.command import pick_master_port
from backend.events import EventBus
from backend.runs.executor import HostRuntime, RunExecutor
from backend.ids import is_valid_id, new_id
from backend.remote.shell import LocalShell, Shell
from backend.hosts.telemetry import HostMonitor

log = logging.getLogger(__name__)

HEARTBEAT_EVERY = 2.0


def instance_id(data_dir) -> str:
    """A stable id for this installation, written once; it labels our containers."""
    path = data_dir / "instance_id"
    if path.exists():
        return path.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    value = new_id()
    path.write_text(value)
    return value


def open_shell(host: HostConfig, settings: Settings | None = None) -> Shell:
    if host.kind == "local" or (host.kind == "slurm" and not host.hostname):
        return LocalShell(host.name)  # a Slurm host without hostname: we run on its login node
    from backend.remote.ssh import SshShell  # imported lazily: paramiko is slow to import

    known_hosts = (settings.data_dir / "known_hosts") if settings else None
    return SshShell(host, app_known_hosts=known_hosts)


def allocate_gpus(host: HostConfig, busy: set[int], count: int) -> list[int] | None:
    """The first `count` free GPU ids of a host, or None when they do not fit right now."""
    free = [g for g in host.gpus if g not in busy]
    if count > len(host.gpus):
        return None
    return free[:count] if len(free) >= count else None


class Scheduler:
    def __init__(self, settings: Settings, store: st.Store, bus: EventBus,
                 shell_factory: Callable[..., Shell] | None = None) -> None:
        self.settings = settings
        self.store = store
        self.bus = bus
        self.instance_id = instance_id(settings.data_dir)
        self.worker_id = new_id()
        self._shell_factory = shell_factory or (lambda host: open_shell(host, settings))
        self._runtimes: dict[str, HostRuntime] = {}
        self._runtime_lock = threading.Lock()
        self._threads: dict[str, threading.Thread] = {}
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._loop: threading.Thread | None = None
        self._last_heartbeat = 0.0
        self.monitors: dict[str, HostMonitor] = {}
        self._fps_cache: dict[str, float | None] = {}

    # -- lifecycle ----------------------------------------------------------------------------
    def start(self, *, monitors: bool = True) -> bool:
        now = time.time()
        st.Worker.create(id=self.worker_id, pid=os.getpid(), hostname=socket.gethostname(),
                         started_at=now, heartbeat_at=now)
        self._last_heartbeat = now
        self.adopt_orphaned_runs()
        self._loop = threading.Thread(target=self._run_loop, name="scheduler", daemon=True)
        self._loop.start()
        if monitors:
            for name in self.settings.hosts:
                monitor = HostMonitor(self.runtime(name), self.store, self.instance_id,
                                      interval=self.settings.telemetry_interval,
                                      worker_id=self.worker_id)
                self.monitors[name] = monitor
                monitor.start()
        log.info("scheduler %s started (pid %d)", self.worker_id, os.getpid())
        return True

    def stop(self, timeout: float = 5.0) -> None:
        """Stop claiming; running runs keep running remotely and are adopted on next start."""
        self._stop.set()
        self._wake.set()
        for monitor in self.monitors.values():
            monitor.stop()
        if self._loop:
            self._loop.join(timeout)
        st.Worker.delete().where(st.Worker.id == self.worker_id).execute()

    def wake(self) -> None:
        """Look at the queue now (called after a launch) instead of at the next tick."""
        self._wake.set()

    def runtime(self, host_name: str) -> HostRuntime:
        with self._runtime_lock:
            if host_name not in self._runtimes:
                host = self.settings.hosts[host_name]
                runtime = HostRuntime(host, self._shell_factory(host))
                if host.kind == "slurm":  # its "containers" are Slurm jobs (monitor included)
                    from backend.slurm.executor import slurm_runtime

                    runtime = slurm_runtime(runtime)
                self._runtimes[host_name] = runtime
            return self._runtimes[host_name]

    # -- ownership ----------------------------------------------------------------------------
    def heartbeat(self) -> None:
        now = time.time()
        updated = (st.Worker.update(heartbeat_at=now)
                   .where(st.Worker.id == self.worker_id).execute())
        if not updated:  # our row was removed (e.g. presumed dead): register again
            st.Worker.create(id=self.worker_id, pid=os.getpid(),
                             hostname=socket.gethostname(), started_at=now, heartbeat_at=now)
        self._last_heartbeat = now

    def adopt_orphaned_runs(self) -> list[str]:
        """Take over active runs whose worker is gone, and follow/collect them (reattach)."""
        cutoff = time.time() - self.settings.stale_worker_seconds
        live = {w.id for w in st.Worker.select(st.Worker.id)
                .where(st.Worker.heartbeat_at >= cutoff)}
        adopted = []
        batches_started: set[str] = set()
        for run in self.store.runs_in(st.ACTIVE):
            if run.worker_id in live and run.worker_id != self.worker_id:
                continue
            if run.worker_id == self.worker_id and (run.id in self._threads or
                                                    run.batch_id in self._threads):
                continue
            if run.host not in self.settings.hosts:
                log.warning("run %s is on host %s, which is no longer configured", run.id,
                            run.host)
                continue
            took = (st.Run.update(worker_id=self.worker_id)
                    .where((st.Run.id == run.id) & (st.Run.worker_id.is_null() if
                           run.worker_id is None else st.Run.worker_id == run.worker_id))
                    .execute())
            if took:
                log.info("adopting run %s (%s) from worker %s", run.id, run.status,
                         run.worker_id)
                adopted.append(run.id)
                if run.batch_id:
                    if run.batch_id not in batches_started:
                        batches_started.add(run.batch_id)
                        self._spawn(run.batch_id, self._batch_executor(run.host).execute_batch)
                else:
                    self._spawn(run.id, self._executor(run.host).resume)
        st.Worker.delete().where(st.Worker.heartbeat_at < cutoff - 3600).execute()
        return adopted

    # -- work ---------------------------------------------------------------------------------
    def _executor(self, host_name: str) -> RunExecutor:
        cls = RunExecutor
        if self.settings.hosts[host_name].kind == "slurm":
            from backend.slurm.executor import SlurmExecutor as cls  # noqa: N813
        return cls(self.settings, self.store, self.runtime(host_name), self.bus,
                   self.instance_id)

    def _batch_executor(self, host_name: str):
        from backend.runs.batching import BatchExecutor as cls

        if self.settings.hosts[host_name].kind == "slurm":
            from backend.slurm.executor import SlurmBatchExecutor as cls  # noqa: N813
        return cls(self.settings, self.store, self.runtime(host_name), self.bus,
                   self.instance_id)

    def _input_fps(self, path: str) -> float | None:
        """The input's frame rate (probed once per file): batch mates must share the fps."""
        if path not in self._fps_cache:
            from backend.media import MediaError, probe_video

            try:
                self._fps_cache[path] = probe_video(path).fps
            except MediaError:
                self._fps_cache[path] = None
        return self._fps_cache[path]

    def _spawn(self, run_id: str, target: Callable[[str], None]) -> None:
        thread = threading.Thread(target=target, args=(run_id,), name=f"run-{run_id}",
                                  daemon=True)
        self._threads[run_id] = thread
        thread.start()

    def claim(self, host: HostConfig) -> list[st.Run]:
        """Atomically take the queue head of a host if it fits: GPUs, port, ownership.

        With batching on, queued runs that can share the head's container are taken with it
        (same GPUs and port, one batch id); otherwise the list holds just the head.
        """
        with st.db.atomic("IMMEDIATE"):
            active = self.store.runs_in(st.ACTIVE, host=host.name)
            containers = {r.batch_id or r.id for r in active}
            if len(containers) >= host.max_concurrent:
                return []
            queued = list(st.Run.select().where((st.Run.status == st.QUEUED) &
                                                (st.Run.host == host.name))
                          .order_by(st.Run.priority.desc(), st.Run.id).limit(64))
            if not queued:
                return []
            head = queued[0]
            busy = {g for r in active for g in r.gpu_list()}
            if host.kind == "slurm":
                gpus = []  # Slurm places the GPUs (the job asks for them: --gres/--gpus)
            else:
                gpus = allocate_gpus(host, busy, int(head.params_dict().get("num_gpus", 1)))
            if gpus is None:
                return []  # FIFO: the head waits for GPUs; nothing jumps the queue
            port = pick_master_port(head.id, {r.master_port for r in active if r.master_port})
            group = [head]
            if self.settings.batching:
                from backend.runs.batching import pick_batch

                group = pick_batch(head, queued[1:], self.settings.max_batch, self._input_fps)
            batch_id = new_id() if len(group) > 1 else None
            note = f"claimed by worker {self.worker_id}" + (
                f" into batch {batch_id}" if batch_id else "")
            return [self.store.transition(run.id, st.STAGING, expect=(st.QUEUED,), note=note,
                                          gpus=json.dumps(gpus), master_port=port,
                                          worker_id=self.worker_id, batch_id=batch_id,
                                          batch_index=index if batch_id else None)
                    for index, run in enumerate(group)]

    def tick(self) -> int:
        """Start every queued run that fits now; returns how many runs were started."""
        started = 0
        self._threads = {k: t for k, t in self._threads.items() if t.is_alive()}
        for name, host in self.settings.hosts.items():
            while True:
                runs = self.claim(host)
                if not runs:
                    break
                if runs[0].batch_id:
                    self._spawn(runs[0].batch_id, self._batch_executor(name).execute_batch)
                else:
                    self._spawn(runs[0].id, self._executor(name).execute)
                started += len(runs)
        return started

    def clean_up_deleted(self) -> int:
        """Remove deleted runs' folders on their boxes: only `runs/<that id>`, nothing else."""
        done = 0
        for job in st.RemoteCleanup.select().limit(20):
            if job.host in self.settings.hosts and is_valid_id(job.run_id):
                runtime = self.runtime(job.host)
                result = runtime.shell.run(["rm", "-rf", "--", runtime.run_dir(job.run_id)])
                if not result.ok:
                    log.warning("could not remove %s on %s: %s", job.run_id, job.host,
                                result.err.strip())
                    continue
            if st.RemoteCleanup.delete().where(st.RemoteCleanup.id == job.id).execute():
                done += 1
        return done

    def _run_loop(self) -> None:
        while not self._stop.is_set():
            try:
                if time.time() - self._last_heartbeat >= HEARTBEAT_EVERY:
                    self.heartbeat()
                    self.adopt_orphaned_runs()
                self.tick()
                self.clean_up_deleted()
            except Exception:
                log.exception("scheduler tick failed")
            self._wake.wait(self.settings.poll_interval)
            self._wake.clear()

    def idle(self) -> bool:
        """True when this worker drives no run and nothing is queued (for `worker --once`)."""
        self._threads = {k: t for k, t in self._threads.items() if t.is_alive()}
        return not self._threads and not self.store.runs_in((st.QUEUED,) + st.ACTIVE)

    def join_runs(self, timeout: float | None = None) -> None:
        """Wait for the run threads started so far (tests and `cosmos worker --once`)."""
        for thread in list(self._threads.values()):
            thread.join(timeout)
