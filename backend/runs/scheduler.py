"""The worker: claims queued jobs, gives them GPUs and a port, and runs each in a thread.

Runs belong to the scheduler, not to a browser request, so a closed tab or a second tab changes
nothing. Several schedulers may share one database (the app's and any `cosmos worker`): a claim
is one IMMEDIATE transaction (backend/store/claims.py), so no two workers ever start the same
run or hand out the same GPU. A worker that stops heart-beating loses its runs to another,
which reattaches to them (follows the container, or collects what it left).

The scheduler wakes on events, not on a fast timer: a run queued (by any process) or a run
ending (capacity freed) looks at the queue at once; a slow timer covers a missed wake-up.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Any, Callable

from backend.config import HostConfig, Settings
from backend.extensions import run_type_runner
from backend.events.types import StatusChanged
from backend.hosts import boxcheck
from backend.hosts.runtime import HostRuntime
from backend.hosts.telemetry import HostMonitor
from backend.ids import instance_id, is_valid_id, new_id  # noqa: F401 (instance_id)
from backend.models.jobs import pick_master_port
from backend.remote.shell import Shell
from backend.runs.batching import pick_batch
from backend.runs.lifecycle import Lifecycle
from backend.runs.placement import make_placer
from backend.store.claims import Terms
from backend.store.models import ACTIVE, QUEUED, TERMINAL, Run

log = logging.getLogger(__name__)

HEARTBEAT_EVERY = 2.0
#: How often hosts with retention keys (retention_days, cache_max_gb) are pruned.
AUTO_PRUNE_EVERY = 3600.0


def open_shell(host: HostConfig, settings: Settings | None = None) -> Shell:
    """The shell of a host, as its kind reaches it (no I/O until first used)."""
    from backend.extensions import host_kind

    known_hosts = (settings.data_dir / "known_hosts") if settings else None
    return host_kind(host.kind).open_shell(host, known_hosts)


class Scheduler:
    def __init__(self, settings: Settings, store, *,
                 shell_factory: Callable[[HostConfig], Shell] | None = None) -> None:
        self.settings = settings
        self.store = store
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
        self._unsubscribe: Callable[[], None] | None = None
        self.monitors: dict[str, HostMonitor] = {}
        self._fps_cache: dict[str, float | None] = {}
        self._last_prune = 0.0

    # -- lifecycle ----------------------------------------------------------------------------
    def start(self, *, monitors: bool = True) -> bool:
        self.store.register_worker(self.worker_id)
        self._last_heartbeat = time.time()
        self._unsubscribe = self.store.bus.subscribe(self._on_status,
                                                     kinds=(StatusChanged.KIND,))
        self.adopt_orphaned_runs()
        self._loop = threading.Thread(target=self._run_loop, name="scheduler", daemon=True)
        self._loop.start()
        if monitors:
            for name in self.settings.hosts:
                monitor = HostMonitor(self.runtime(name), self.store, self.instance_id,
                                      interval=self.settings.telemetry_interval,
                                      worker_id=self.worker_id,
                                      busy_mb=self.settings.gpu_busy_memory_mb,
                                      lease_seconds=self.settings.lease_seconds)
                self.monitors[name] = monitor
                monitor.start()
        log.info("scheduler %s started (pid %d)", self.worker_id, os.getpid())
        return True

    def stop(self, timeout: float = 5.0) -> None:
        """Stop claiming; running runs keep running remotely and are adopted on next start."""
        self._stop.set()
        self._wake.set()
        if self._unsubscribe is not None:
            self._unsubscribe()
        for monitor in self.monitors.values():
            monitor.stop()
        deadline = time.monotonic() + timeout
        if self._loop:
            self._loop.join(timeout)
        for monitor in self.monitors.values():
            monitor.join(deadline - time.monotonic())
        self.store.remove_worker(self.worker_id)

    def wake(self) -> None:
        """Look at the queue now instead of at the next fallback round."""
        self._wake.set()

    def _on_status(self, event: StatusChanged) -> None:
        if event.status == QUEUED or event.status in TERMINAL:
            self._wake.set()

    def runtime(self, host_name: str) -> HostRuntime:
        with self._runtime_lock:
            if host_name not in self._runtimes:
                host = self.settings.hosts[host_name]
                self._runtimes[host_name] = HostRuntime(host, self._shell_factory(host),
                                                        store=self.store,
                                                        kill_grace=self.settings.kill_grace,
                                                        installation=self.instance_id)
            return self._runtimes[host_name]

    # -- ownership ----------------------------------------------------------------------------
    def heartbeat(self) -> None:
        self.store.heartbeat(self.worker_id)
        self._last_heartbeat = time.time()

    def adopt_orphaned_runs(self) -> list[str]:
        """Take over active runs whose worker is gone, and follow/collect them (reattach)."""
        adopted = []
        for run in self.store.orphaned_runs(self.settings.stale_worker_seconds, self.worker_id):
            job_id = run.batch_id or run.id
            if run.worker_id == self.worker_id and job_id in self._threads:
                continue
            if run.host not in self.settings.hosts:
                log.warning("run %s is on host %s, which is no longer configured", run.id,
                            run.host)
                continue
            if self.store.take_over(run, self.worker_id):
                log.info("adopting run %s (%s) from worker %s", run.id, run.status,
                         run.worker_id)
                adopted.append(run.id)
                if job_id not in self._threads or not self._threads[job_id].is_alive():
                    self._spawn(job_id, self._driver(run).resume)
        self.store.forget_dead_workers(self.settings.stale_worker_seconds + 3600)
        return adopted

    # -- work ---------------------------------------------------------------------------------
    def _lifecycle(self, host_name: str) -> Lifecycle:
        return Lifecycle(self.settings, self.store, self.runtime(host_name), self.instance_id)

    def _driver(self, run: Run) -> Any:
        """What drives a claimed run: its run type's runner (setup), else the lifecycle."""
        runner = run_type_runner(run.run_type)
        if runner is not None:
            return runner(self.settings, self.store, self.runtime(run.host), self.instance_id)
        return self._lifecycle(run.host)

    def _input_fps(self, path: str) -> float | None:
        """The input's frame rate (probed once per file): batch mates must share the fps."""
        if path not in self._fps_cache:
            from backend.media import MediaError, probe_video

            try:
                self._fps_cache[path] = probe_video(path).fps
            except MediaError:
                self._fps_cache[path] = None
        return self._fps_cache[path]

    def _spawn(self, job_id: str, target: Callable[[str], None]) -> None:
        thread = threading.Thread(target=target, args=(job_id,), name=f"job-{job_id}",
                                  daemon=True)
        self._threads[job_id] = thread
        thread.start()

    def claim(self, host: HostConfig, now: float | None = None) -> list[Run]:
        """Atomically take the first queued run of a host that may start: GPUs, port,
        ownership, in fair-share order (backend/store/claims.py).

        With batching on, queued runs of the same owner that can share the run's container
        are taken with it (same GPUs and port, one batch id); otherwise just the one run.
        """
        runtime = self.runtime(host.name)

        def group(head: Run, queued) -> list[Run]:
            if not self.settings.batching or run_type_runner(head.run_type) is not None:
                return [head]
            return pick_batch(head, queued, self.settings.max_batch, self._input_fps)

        return self.store.claim(host.name, worker_id=self.worker_id,
                                max_containers=host.max_concurrent, place=make_placer(runtime),
                                group=group,
                                pick_port=lambda head, used: pick_master_port(head.id, used),
                                terms=self._terms,
                                backfill_seconds=self.settings.backfill_seconds
                                if self.settings.backfill else None, now=now)

    def _terms(self, owner: str) -> Terms:
        share = self.settings.fair_share.of(owner)
        return Terms(share=share.share, priority=share.priority, max_gpus=share.max_gpus)

    def look_if_stale(self, host: HostConfig) -> None:
        """Before placing on a box whose last look is old (no monitor, or it lags), look now
        (outside any database transaction: the claim must not hold the lock over SSH)."""
        runtime = self.runtime(host.name)
        if not runtime.checks_box:
            return
        if runtime.box.age() <= 3 * self.settings.telemetry_interval + 1:
            return
        if not self.store.queued_in_order(host.name, limit=1):
            return
        ours = {g for r in self.store.runs_in(ACTIVE, host=host.name) for g in r.gpu_list()}
        try:
            runtime.box.update(boxcheck.look(runtime, self.instance_id, ours,
                                             busy_mb=self.settings.gpu_busy_memory_mb))
        except Exception as exc:
            log.warning("could not look at the GPUs of %s: %s", host.name, exc)

    def tick(self) -> int:
        """Start every queued run that fits now; returns how many runs were started."""
        started = 0
        self._threads = {k: t for k, t in self._threads.items() if t.is_alive()}
        for name, host in self.settings.hosts.items():
            self.look_if_stale(host)
            while True:
                runs = self.claim(host)
                if not runs:
                    break
                self._spawn(runs[0].batch_id or runs[0].id, self._driver(runs[0]).execute)
                started += len(runs)
        return started

    def clean_up_deleted(self) -> int:
        """Remove deleted runs' folders on their boxes: only `runs/<that id>`, nothing else."""
        done = 0
        for job in self.store.cleanup_jobs(limit=20):
            if job.host in self.settings.hosts and is_valid_id(job.run_id):
                runtime = self.runtime(job.host)
                result = runtime.shell.run(["rm", "-rf", "--", runtime.run_dir(job.run_id)])
                if not result.ok:
                    log.warning("could not remove %s on %s: %s", job.run_id, job.host,
                                result.err.strip())
                    continue
            if self.store.cleanup_done(job.id):
                done += 1
        return done

    def auto_prune(self) -> int:
        """Apply each host's retention keys (backend/runs/prune.py); returns hosts pruned."""
        from backend.runs.prune import prune_host

        self._last_prune = time.time()
        done = 0
        for name, host in self.settings.hosts.items():
            if not (host.retention_days or host.cache_max_gb):
                continue
            try:
                prune_host(self.store, self.runtime(name), self.instance_id, dry_run=False,
                           older_than_days=host.retention_days or None,
                           cache_max_gb=host.cache_max_gb or None)
                done += 1
            except Exception:
                log.warning("automatic prune of %s failed", name, exc_info=True)
        return done

    def _run_loop(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            try:
                if time.time() - self._last_heartbeat >= HEARTBEAT_EVERY:
                    self.heartbeat()
                    self.adopt_orphaned_runs()
                self.tick()
                self.clean_up_deleted()
                if time.time() - self._last_prune >= AUTO_PRUNE_EVERY:
                    self.auto_prune()
            except Exception:
                log.exception("scheduler tick failed")
            # the queue is looked at on every event that may let a run start; the config's
            # poll_interval is only the fallback for a wake-up that never came
            self._wake.wait(min(self.settings.poll_interval, HEARTBEAT_EVERY))

    def idle(self) -> bool:
        """True when this worker drives no run and nothing is queued (for `worker --once`)."""
        self._threads = {k: t for k, t in self._threads.items() if t.is_alive()}
        return not self._threads and self.store.queue_is_empty()
