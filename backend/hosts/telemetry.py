"""Per-host watch: reachability, GPUs (nvidia-smi), our containers and orphans, GPU samples.

One thread per host asks the box two questions every few seconds, one command each, whatever
the number of runs (never a command per run). Each look is published as a `telemetry` event,
so every process (the app, while a separate `cosmos worker` drives the runs) sees the Hosts
view live; the samples of the GPUs a run holds are stored for its GPU plot. The UI reads the
latest snapshot it was told about and never waits on a box. Asking a box to remove an orphan
container is an event too (`host_action`), carried out by whichever process watches the box.

The few seconds hold while the box matters to someone: a run of the host queued or active
(placement, GPU plots, leases), or a page showing the Hosts view (it says so with a `watch`
action, again while it stays there). Otherwise the monitor looks IDLE_FACTOR times less often:
an idle box is not asked four commands every two seconds by every app and worker that knows
it (on the test machine, most of the simulator's engine starts were such looks). A run queued
or a page turning to the Hosts view wakes the monitor at once.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from backend.events.types import HostAction, HostTelemetry, StatusChanged
from backend.hosts import boxcheck
from backend.remote.docker import LABEL_APP, LABEL_RUN
from backend.store.models import ACTIVE, QUEUED, RUNNING, TERMINAL

log = logging.getLogger(__name__)

GPU_FIELDS = "index,name,utilization.gpu,memory.used,memory.total,temperature.gpu"
#: The host monitor's one GPU query a round: GPU_FIELDS plus each GPU's uuid, which the look
#: at the box (boxcheck.look) needs to tie GPU processes to GPUs. One query, not two: on the
#: simulator each query is a process start, on a real box a round trip.
WATCH_GPU_FIELDS = GPU_FIELDS + ",uuid"
REMOVE_ORPHAN = "remove_orphan"
#: A HostAction asking the host's monitor to run `cosmos doctor`'s checks again (Re-check).
RUN_DOCTOR = "doctor"
#: a page shows the Hosts view: look at full rate for WATCH_SECONDS (pages repeat it)
WATCH = "watch"
WATCH_SECONDS = 60.0
#: how many times less often an idle, unwatched box is looked at
IDLE_FACTOR = 5


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None  # "[N/A]" and friends


def parse_gpu_csv(text: str, with_uuid: bool = False) -> list[dict[str, Any]]:
    """Rows of `nvidia-smi --query-gpu=GPU_FIELDS --format=csv,noheader,nounits`, or of
    WATCH_GPU_FIELDS (`with_uuid`: each row also has its "uuid")."""
    gpus = []
    for line in text.splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) != 6 + with_uuid or not parts[0].isdigit():
            continue
        gpu = {"index": int(parts[0]), "name": parts[1],
               "utilization": _number(parts[2]), "memory_used": _number(parts[3]),
               "memory_total": _number(parts[4]), "temperature": _number(parts[5])}
        if with_uuid:
            gpu["uuid"] = parts[6]
        gpus.append(gpu)
    return gpus


@dataclass
class HostSnapshot:
    name: str
    checked_at: float | None = None
    reachable: bool | None = None  # None: not checked yet
    error: str | None = None
    gpus: list[dict[str, Any]] = field(default_factory=list)
    containers: list[dict[str, str]] = field(default_factory=list)  # ours, by label
    #: why the GPU query failed on a reachable box (the Hosts tab shows it), else None
    gpu_error: str | None = None
    #: the latest doctor report of the host ({checked_at, ok, status, checks}), else None
    doctor: dict[str, Any] | None = None
    #: every container on the box, ours or not, with whose it is (boxcheck.describe_container)
    box_containers: list[dict[str, Any]] = field(default_factory=list)
    #: GPU index (as text: JSON keys) -> why it is not free for us (another installation, a
    #: foreign process, VRAM)
    taken: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "HostSnapshot":
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


class HostMonitor:
    def __init__(self, runtime: Any, store: Any, instance_id: str,
                 interval: float = 2.0, worker_id: str | None = None, *,
                 busy_mb: float = 1024.0, lease_seconds: float = 120.0) -> None:
        self.runtime = runtime
        self.worker_id = worker_id
        self.busy_mb = busy_mb
        self.lease_seconds = lease_seconds
        self._renewed: dict[str, float] = {}
        self.store = store
        self.instance_id = instance_id
        self.interval = interval
        self.snapshot = HostSnapshot(runtime.host.name)
        self._removals: list[str] = []
        self._doctor_wanted = True  # once at start, then on Re-check and after a setup
        self._doctor: dict[str, Any] | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._watched_until = 0.0
        self._idle_now = False  # the last round found the box idle and unwatched
        #: seconds from one look to the next, as the last round chose (interval, or idle)
        self.period = interval
        self._thread: threading.Thread | None = None
        self._unsubscribe: Callable[[], None] | None = None

    def start(self) -> None:
        self._unsubscribe = self.store.bus.subscribe(
            self._on_action, kinds=(HostAction.KIND, StatusChanged.KIND))
        self._thread = threading.Thread(target=self._loop, daemon=True,
                                        name=f"monitor-{self.runtime.host.name}")
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._unsubscribe is not None:
            self._unsubscribe()

    def join(self, timeout: float) -> None:
        """Wait for the round in flight: one left running after its store closed went on
        asking the box and wrote to whichever database the process opened next."""
        if self._thread is not None:
            self._thread.join(max(0.0, timeout))

    def _on_action(self, event: Any) -> None:
        if event.kind == StatusChanged.KIND:  # a setup of this host ended: look again
            if event.host == self.runtime.host.name and event.status == QUEUED \
                    and self._idle_now:
                self._wake.set()  # a run to place: back to full rate now
            if event.host == self.runtime.host.name and event.status in TERMINAL:
                run = self.store.get_run(event.run_id)
                if run is not None and run.run_type == "setup":
                    self.request_doctor()
            return
        if event.host == self.runtime.host.name and event.action == REMOVE_ORPHAN:
            self.request_removal(event.target)
        elif event.host == self.runtime.host.name and event.action == RUN_DOCTOR:
            self.request_doctor()
        elif event.host == self.runtime.host.name and event.action == WATCH:
            idle = self._idle_now
            self._watched_until = time.monotonic() + WATCH_SECONDS
            if idle:
                self._wake.set()

    def request_doctor(self) -> None:
        self._doctor_wanted = True
        self._wake.set()

    def _run_doctor(self) -> None:
        """The doctor's checks through this monitor's shell; kept for every later snapshot."""
        from backend.hosts.doctor import check_host

        self._doctor_wanted = False
        try:
            report = check_host(self.runtime.host, self.runtime.shell).to_dict()
        except Exception as exc:  # never let a check take the monitor down
            report = {"ok": False, "status": "fail", "checks": [
                {"name": "doctor", "status": "fail", "finding": f"could not run: {exc}",
                 "fix": "run `cosmos doctor` in a terminal", "details": {}}]}
        self._doctor = dict(report, checked_at=time.time())

    def request_removal(self, container_name: str) -> None:
        with self._lock:
            self._removals.append(container_name)
        self._wake.set()

    def wanted(self) -> bool:
        """Whether the box matters now (module docstring): full rate, or IDLE_FACTOR slower."""
        if time.monotonic() < self._watched_until:
            return True
        return bool(self.store.runs_in((QUEUED, *ACTIVE), host=self.runtime.host.name))

    def _loop(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                self.check()
            except Exception:
                log.exception("monitoring %s failed", self.runtime.host.name)
            try:
                self._idle_now = not self.wanted()
            except Exception:
                self._idle_now = False
            self.period = self.interval * (IDLE_FACTOR if self._idle_now else 1)
            self._wake.wait(max(0.2, self.period - (time.monotonic() - started)))
            self._wake.clear()

    def check(self) -> HostSnapshot:
        """One round: remove requested orphans, list containers, read GPUs, record samples."""
        host = self.runtime.host
        snap = HostSnapshot(host.name, checked_at=time.time())
        with self._lock:
            removals, self._removals = self._removals, []
        engine = self.runtime.engine
        every = None
        try:
            for name in removals:
                engine.remove(name)
            if self.runtime.checks_box:
                every = engine.list_all()
                snap.containers = [c for c in every if boxcheck.labels_of(c).get(LABEL_APP)
                                   == self.instance_id]
                snap.box_containers = [boxcheck.describe_container(c, self.instance_id)
                                       for c in every]
            else:
                snap.containers = engine.list_ours(f"{LABEL_APP}={self.instance_id}")
            snap.reachable = True
        except Exception as exc:  # unreachable box, docker missing: say so, keep watching
            snap.reachable = False
            snap.error = str(exc)
            snap.doctor = self._doctor
            self._publish(snap)
            return snap
        memory = None  # the GPUs' uuid and memory, for the look below (None: it asks itself)
        if self.runtime.kind.watches_gpus(host):
            result = self.runtime.shell.run([*host.gpu_query, f"--query-gpu={WATCH_GPU_FIELDS}",
                                             "--format=csv,noheader,nounits"], timeout=20)
            if result.ok:
                rows = parse_gpu_csv(result.out, with_uuid=True)
                memory = boxcheck.memory_of(rows)
                snap.gpus = [{k: v for k, v in g.items() if k != "uuid"} for g in rows
                             if g["index"] in host.gpus]
            else:
                snap.gpu_error = "`" + " ".join(host.gpu_query) + "` failed: " + (
                    result.err.strip() or result.out.strip()
                    or f"exit {result.exit_code}")[-200:]
                snap.error = "GPU query failed: " + snap.gpu_error
        # the samples first: they belong to the runs running when the GPUs were read
        self._record(snap)
        if self.runtime.checks_box:
            self._look(snap, every, memory)
        if self._doctor_wanted and not self._setting_up():
            self._run_doctor()
        snap.doctor = self._doctor
        self._publish(snap)
        return snap

    def _setting_up(self) -> bool:
        """A setup of this host is queued or running: doctor waits for it to end (then it is
        asked again), so it neither reports half a setup nor installs the simulator's stand-in
        files under the setup's feet."""
        return any(r.run_type == "setup" for r in self.store.runs_in(
            (QUEUED, *ACTIVE), host=self.runtime.host.name))

    def _look(self, snap: HostSnapshot, every: list | None,
              memory: dict[int, tuple[str, float | None, float | None]] | None) -> None:
        """What else uses the box's GPUs (for placement), and our leases kept alive. `every`
        and `memory`: the containers and GPUs this round already read (None: look again)."""
        active = self.store.runs_in(ACTIVE, host=snap.name)
        ours = {g for r in active for g in r.gpu_list()}
        try:
            look = boxcheck.look(self.runtime, self.instance_id, ours, busy_mb=self.busy_mb,
                                 listed=every, memory=memory)
        except Exception as exc:  # a look is advice: the lease at staging still guards
            log.warning("looking at the GPUs of %s failed: %s", snap.name, exc)
            return
        self.runtime.box.update(look)
        snap.taken = {str(g): why for g, why in sorted(look.taken.items())}
        self._renew(active)

    def _renew(self, active: list) -> None:
        """Renew the leases of the jobs this worker drives here, a few times per lease."""
        now = time.time()
        jobs: dict[str, Any] = {}
        for run in active:
            if run.gpu_list() and (not self.worker_id or run.worker_id == self.worker_id):
                jobs.setdefault(run.batch_id or run.id, run)
        for job_id, run in jobs.items():
            if now - self._renewed.get(job_id, 0.0) < self.lease_seconds / 4:
                continue
            try:
                self.runtime.leases.renew(job_id, run.gpu_list(), self.lease_seconds,
                                          run.owner or "")
                self._renewed[job_id] = now
            except Exception as exc:
                log.warning("renewing the GPU lease of %s failed: %s", job_id, exc)
        self._renewed = {k: v for k, v in self._renewed.items() if k in jobs}

    def _publish(self, snap: HostSnapshot) -> None:
        self.snapshot = snap
        self.store.bus.publish(HostTelemetry(host=snap.name, snapshot=snap.to_dict()))

    def _record(self, snap: HostSnapshot) -> None:
        if not snap.gpus:
            return
        by_index = {g["index"]: g for g in snap.gpus}
        rows = []
        for run in self.store.runs_in((RUNNING,), host=snap.name):
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
        self.store.add_samples(rows)


class TelemetryView:
    """The latest snapshot of every host, as told by telemetry events from any process."""

    def __init__(self, bus: Any) -> None:
        self._latest: dict[str, HostSnapshot] = {}
        self._lock = threading.Lock()
        self._unsubscribe = bus.subscribe(self._on_event, kinds=(HostTelemetry.KIND,))

    def _on_event(self, event: HostTelemetry) -> None:
        snap = HostSnapshot.from_dict(event.snapshot)
        with self._lock:
            current = self._latest.get(event.host)
            if current is None or (snap.checked_at or 0) >= (current.checked_at or 0):
                self._latest[event.host] = snap

    def snapshot(self, host: str) -> HostSnapshot | None:
        with self._lock:
            return self._latest.get(host)

    def close(self) -> None:
        self._unsubscribe()


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
