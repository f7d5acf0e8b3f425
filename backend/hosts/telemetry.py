"""Per-host watch: reachability, GPUs (nvidia-smi), our containers and orphans, GPU samples.

One thread per host asks the box two questions every few seconds, one command each, whatever
the number of runs (never a command per run). The answers are kept in memory for the Hosts
view and written as metric samples for the runs that hold those GPUs. The UI reads the latest
snapshot and never waits on a box.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from backend import store as st
from backend.remote.docker import LABEL_APP, LABEL_RUN

log = logging.getLogger(__name__)

GPU_FIELDS = "index,name,utilization.gpu,memory.used,memory.total,temperature.gpu"


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None  # "[N/A]" and friends


def parse_gpu_csv(text: str) -> list[dict[str, Any]]:
    """Rows of `nvidia-smi --query-gpu=GPU_FIELDS --format=csv,noheader,nounits`."""
    gpus = []
    for line in text.splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) != 6 or not parts[0].isdigit():
            continue
        gpus.append({"index": int(parts[0]), "name": parts[1],
                     "utilization": _number(parts[2]), "memory_used": _number(parts[3]),
                     "memory_total": _number(parts[4]), "temperature": _number(parts[5])})
    return gpus


@dataclass
class HostSnapshot:
    name: str
    checked_at: float | None = None
    reachable: bool | None = None  # None: not checked yet
    error: str | None = None
    gpus: list[dict[str, Any]] = field(default_factory=list)
    containers: list[dict[str, str]] = field(default_factory=list)  # ours, by label


class HostMonitor:
    def __init__(self, runtime: Any, store: st.Store, instance_id: str,
                 interval: float = 2.0, worker_id: str | None = None) -> None:
        self.runtime = runtime
        self.worker_id = worker_id
        self.store = store
        self.instance_id = instance_id
        self.interval = interval
        self.snapshot = HostSnapshot(runtime.host.name)
        self._removals: list[str] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, daemon=True,
                                        name=f"monitor-{self.runtime.host.name}")
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def request_removal(self, container_name: str) -> None:
        with self._lock:
            self._removals.append(container_name)

    def _loop(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                self.check()
            except Exception:
                log.exception("monitoring %s failed", self.runtime.host.name)
            self._stop.wait(max(0.2, self.interval - (time.monotonic() - started)))

    def check(self) -> HostSnapshot:
        """One round: remove requested orphans, list containers, read GPUs, record samples."""
        host = self.runtime.host
        shell = self.runtime.shell
        snap = HostSnapshot(host.name, checked_at=time.time())
        with self._lock:
            removals, self._removals = self._removals, []
        try:
            for name in removals:
                self.runtime.docker.remove(name)
            snap.containers = self.runtime.docker.list_by_label(f"{LABEL_APP}={self.instance_id}")
            snap.reachable = True
        except Exception as exc:  # unreachable box, docker missing: say so, keep watching
            snap.reachable = False
            snap.error = str(exc)
            self.snapshot = snap
            return snap
        result = shell.run([*host.gpu_query, f"--query-gpu={GPU_FIELDS}",
                            "--format=csv,noheader,nounits"], timeout=20)
        if result.ok:
            snap.gpus = [g for g in parse_gpu_csv(result.out) if g["index"] in host.gpus]
        else:
            snap.error = "GPU query failed: " + (result.err.strip() or result.out.strip()
                                                 or f"exit {result.exit_code}")[-200:]
        self.snapshot = snap
        self._record(snap)
        return snap

    def _record(self, snap: HostSnapshot) -> None:
        if not snap.gpus:
            return
        by_index = {g["index"]: g for g in snap.gpus}
        rows = []
        for run in self.store.runs_in((st.RUNNING,), host=snap.name):
            if self.worker_id and run.worker_id != self.worker_id:
                continue  # the worker driving the run records its samples, once
            for gpu in run.gpu_list():
                g = by_index.get(gpu)
                if g:
                    rows.append({"run": run.id, "at": snap.checked_at, "gpu": gpu,
                                 "utilization": g["utilization"],
                                 "memory_used": g["memory_used"],
                                 "memory_total": g["memory_total"],
                                 "temperature": g["temperature"]})
        if rows:
            st.MetricSample.insert_many(rows).execute()


def run_id_of(container: dict[str, str]) -> str:
    """The run (or batch) id in a container's `cosmos.run` label ("" if none)."""
    for pair in (container.get("Labels") or "").split(","):
        if pair.startswith(LABEL_RUN + "="):
            return pair.split("=", 1)[1]
    return ""


def orphans(snap: HostSnapshot, known: Callable[[str], bool]) -> list[dict[str, str]]:
    """Our containers whose run is unknown or already over (nobody will clean them up)."""
    found = []
    for container in snap.containers:
        run_id = run_id_of(container)
        if not run_id or not known(run_id):
            found.append({"name": container.get("Names", ""), "id": container.get("ID", ""),
                          "status": container.get("Status", ""), "run_id": run_id})
    return found
