"""The worker: claims queued runs, gives them GPUs, and runs each in its own thread.

Runs belong to the scheduler, not to a browser request, so a closed tab or a second tab changes
nothing. Only one scheduler may drive a data directory at a time (an exclusive lock file), so a
second app started on the same data never starts a run twice; it still serves the UI.
"""

from __future__ import annotations

import fcntl
import logging
import threading
from pathlib import Path
from typing import Callable

from backend import store as st
from backend.config import HostConfig, Settings
from backend.events import EventBus
from backend.executor import HostRuntime, RunExecutor
from backend.telemetry import HostMonitor
from backend.ids import is_valid_id, new_id
from backend.remote.shell import LocalShell, Shell

log = logging.getLogger(__name__)


def instance_id(data_dir: Path) -> str:
    """A stable id for this installation, written once; it labels our containers."""
    path = data_dir / "instance_id"
    if path.exists():
        return path.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    value = new_id()
    path.write_text(value)
    return value


def open_shell(host: HostConfig) -> Shell:
    if host.kind == "local":
        return LocalShell(host.name)
    from backend.remote.ssh import SshShell  # imported lazily: paramiko is slow to import

    return SshShell(host)


def allocate_gpus(host: HostConfig, busy: set[int], count: int) -> list[int] | None:
    """The first `count` free GPU ids of a host, or None when they do not fit right now."""
    free = [g for g in host.gpus if g not in busy]
    if count > len(host.gpus):
        return None
    return free[:count] if len(free) >= count else None


class Scheduler:
    def __init__(self, settings: Settings, store: st.Store, bus: EventBus,
                 shell_factory: Callable[[HostConfig], Shell] = open_shell) -> None:
        self.settings = settings
        self.store = store
        self.bus = bus
        self.instance_id = instance_id(settings.data_dir)
        self._shell_factory = shell_factory
        self._runtimes: dict[str, HostRuntime] = {}
        self._threads: dict[str, threading.Thread] = {}
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._loop: threading.Thread | None = None
        self._lock_file = None
        self.monitors: dict[str, HostMonitor] = {}

    # -- lifecycle ----------------------------------------------------------------------------
    def try_lock(self) -> bool:
        """Become the one scheduler for this data dir; False if another process is."""
        self.settings.data_dir.mkdir(parents=True, exist_ok=True)
        fh = open(self.settings.data_dir / "scheduler.lock", "a+")
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            fh.close()
            return False
        self._lock_file = fh
        return True

    def start(self) -> bool:
        if not self.try_lock():
            log.warning("another scheduler drives %s; this process only serves the UI",
                        self.settings.data_dir)
            return False
        self._reattach()
        self._loop = threading.Thread(target=self._run_loop, name="scheduler", daemon=True)
        self._loop.start()
        for name in self.settings.hosts:
            monitor = HostMonitor(self.runtime(name), self.store, self.instance_id,
                                  interval=self.settings.telemetry_interval)
            self.monitors[name] = monitor
            monitor.start()
        return True

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        for monitor in self.monitors.values():
            monitor.stop()
        if self._loop:
            self._loop.join(timeout)
        if self._lock_file:
            self._lock_file.close()
            self._lock_file = None

    def wake(self) -> None:
        """Look at the queue now (called after a launch) instead of at the next tick."""
        self._wake.set()

    def runtime(self, host_name: str) -> HostRuntime:
        if host_name not in self._runtimes:
            host = self.settings.hosts[host_name]
            self._runtimes[host_name] = HostRuntime(host, self._shell_factory(host))
        return self._runtimes[host_name]

    # -- work ---------------------------------------------------------------------------------
    def _executor(self, host_name: str) -> RunExecutor:
        return RunExecutor(self.settings, self.store, self.runtime(host_name), self.bus,
                           self.instance_id)

    def _spawn(self, run_id: str, target: Callable[[str], None]) -> None:
        thread = threading.Thread(target=target, args=(run_id,), name=f"run-{run_id}",
                                  daemon=True)
        self._threads[run_id] = thread
        thread.start()

    def _reattach(self) -> None:
        for run in self.store.runs_in(st.ACTIVE):
            if run.host not in self.settings.hosts:
                log.warning("run %s is on host %s, which is no longer configured", run.id,
                            run.host)
                continue
            self._spawn(run.id, self._executor(run.host).resume)

    def _busy(self, host_name: str) -> tuple[int, set[int]]:
        active = self.store.runs_in(st.ACTIVE, host=host_name)
        busy: set[int] = set()
        for run in active:
            busy.update(run.gpu_list())
        return len(active), busy

    def tick(self) -> int:
        """Start every queued run that fits now; returns how many were started."""
        started = 0
        self._threads = {k: t for k, t in self._threads.items() if t.is_alive()}
        for name, host in self.settings.hosts.items():
            while True:
                count, busy = self._busy(name)
                if count >= host.max_concurrent:
                    break
                head = (st.Run.select().where((st.Run.status == st.QUEUED) &
                                              (st.Run.host == name))
                        .order_by(st.Run.priority.desc(), st.Run.id).first())
                if head is None:
                    break
                wanted = int(head.params_dict().get("num_gpus", 1))
                gpus = allocate_gpus(host, busy, wanted)
                if gpus is None:
                    break  # FIFO: the head waits for GPUs; nothing jumps the queue
                try:
                    run = self.store.transition(head.id, st.STAGING, expect=(st.QUEUED,),
                                                note="claimed", gpus=str(gpus).replace(" ", ""))
                except st.StaleTransition:
                    continue
                self._spawn(run.id, self._executor(name).execute)
                started += 1
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
            job.delete_instance()
            done += 1
        return done

    def _run_loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.tick()
                self.clean_up_deleted()
            except Exception:
                log.exception("scheduler tick failed")
            self._wake.wait(self.settings.poll_interval)
            self._wake.clear()

    def join_runs(self, timeout: float | None = None) -> None:
        """Wait for the run threads started so far (tests and `cosmos worker --once`)."""
        for thread in list(self._threads.values()):
            thread.join(timeout)
