"""What really uses a box's GPUs, looked at before our scheduler gives one out.

Our database knows only our runs. A box may also run another installation of the app (its
containers carry our labels with another `cosmos.app`, its leases lie under
`<remote_root>/leases`), or anything else (a plain container, someone's notebook: nvidia-smi
shows its processes and its memory). A look gathers all of it in a few commands:

  * nvidia-smi: each GPU's memory and the processes using it;
  * every container on the box (`docker ps -a`), ours or not, with its owner where its labels
    say so;
  * the GPU leases of every installation (backend/hosts/leases.py).

and says, per GPU, why it is not free for us. Memory and processes on a GPU our own runs hold
(as our store says at the time of the look) are ours and ignored. The look is advice for
placement; the lease taken before a run starts is what makes a GPU exclusive.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

from backend.hosts.leases import Lease
from backend.remote.docker import LABEL_APP, LABEL_GPUS, LABEL_OWNER, LABEL_RUN

log = logging.getLogger(__name__)

GPU_MEMORY_FIELDS = "index,uuid,memory.used,memory.total"
APP_FIELDS = "gpu_uuid,pid,used_memory"


def labels_of(container: Mapping[str, Any]) -> dict[str, str]:
    """A `docker ps --format '{{json .}}'` row's labels ("k=v,k=v") as a dict."""
    raw = container.get("Labels") or ""
    if isinstance(raw, dict):
        return {str(k): str(v) for k, v in raw.items()}
    pairs = (item.split("=", 1) for item in str(raw).split(",") if "=" in item)
    return {k.strip(): v.strip() for k, v in pairs}


def _gpu_ids(text: str) -> list[int]:
    return [int(g) for g in (text or "").split(",") if g.strip().isdigit()]


def _float(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def parse_gpu_memory(text: str) -> dict[int, tuple[str, float | None, float | None]]:
    """`--query-gpu=index,uuid,memory.used,memory.total` -> index: (uuid, used, total)."""
    rows = {}
    for line in text.splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) == 4 and parts[0].isdigit():
            rows[int(parts[0])] = (parts[1], _float(parts[2]), _float(parts[3]))
    return rows


def memory_of(rows: Sequence[Mapping[str, Any]]) -> dict[int, tuple[str, float | None,
                                                                     float | None]]:
    """parse_gpu_memory's answer from rows the host monitor already read (telemetry's
    parse_gpu_csv with uuids): index -> (uuid, used, total)."""
    return {int(r["index"]): (str(r["uuid"]), r["memory_used"], r["memory_total"]) for r in rows}


def parse_apps(text: str) -> list[tuple[str, str, float | None]]:
    """`--query-compute-apps=gpu_uuid,pid,used_memory` -> (uuid, pid, MiB) per process."""
    apps = []
    for line in text.splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) == 3 and parts[0]:
            apps.append((parts[0], parts[1], _float(parts[2])))
    return apps


def describe_container(container: Mapping[str, Any], installation: str) -> dict[str, Any]:
    """A container as the Hosts tab lists it: whose it is, where known."""
    labels = labels_of(container)
    app, run, owner = labels.get(LABEL_APP), labels.get(LABEL_RUN, ""), labels.get(LABEL_OWNER, "")
    if app == installation:
        whose = "ours"
    elif app:
        whose = "another installation"
    else:
        whose = "not started by Cosmos"
    return {"name": str(container.get("Names", "")), "id": str(container.get("ID", ""))[:12],
            "state": str(container.get("State", "")), "status": str(container.get("Status", "")),
            "image": str(container.get("Image", "")), "whose": whose, "owner": owner,
            "run_id": run, "installation": app or "", "gpus": _gpu_ids(labels.get(LABEL_GPUS, ""))}


@dataclass
class BoxLook:
    """One look at a box: per GPU, why it is not free for us."""

    at: float
    taken: dict[int, str] = field(default_factory=dict)
    containers: list[dict[str, Any]] = field(default_factory=list)  # every one, described
    leases: list[Lease] = field(default_factory=list)
    error: str | None = None


def judge(*, installation: str, gpus: Sequence[int], ours: Iterable[int],
          memory: Mapping[int, tuple[str, float | None, float | None]],
          apps: Sequence[tuple[str, str, float | None]], containers: Sequence[dict[str, Any]],
          leases: Sequence[Lease], busy_mb: float, vram_mb: int, now: float) -> dict[int, str]:
    """Per GPU of the host, the reason it is not free for a run of ours (pure)."""
    ours = set(ours)
    taken: dict[int, str] = {}
    for c in containers:  # other installations' live containers, by their GPU label
        if c["whose"] == "another installation" and c["state"] in ("running", "created",
                                                                   "restarting", "paused"):
            for g in c["gpus"]:
                taken.setdefault(g, f"{c['owner'] or 'someone'}'s run {c['run_id'][-8:]} of "
                                 f"another installation (container {c['name']})")
    for lease in leases:
        if lease.installation != installation and lease.expires_at > now:
            taken.setdefault(lease.gpu, f"leased by another installation for "
                             f"{lease.owner or 'someone'}'s run {lease.run_id[-8:]}")
    by_uuid = {uuid: index for index, (uuid, _, _) in memory.items()}
    for uuid, pid, mib in apps:
        index = by_uuid.get(uuid)
        if index is not None and index not in ours:
            taken.setdefault(index, f"a process not started by this installation (pid {pid}"
                             + (f", {mib / 1024:.1f} GB" if mib else "") + ")")
    for index, (_, used, total) in memory.items():
        if index in ours or used is None:
            continue
        if used > busy_mb:
            taken.setdefault(index, f"{used / 1024:.1f} GB of its memory in use by something "
                             "not started by this installation")
        elif vram_mb and total is not None and total - used < vram_mb:
            taken.setdefault(index, f"VRAM: {(total - used) / 1024:.1f} GB free, a run needs "
                             f"{vram_mb / 1024:.1f} GB")
    return {g: why for g, why in taken.items() if g in gpus}


class BoxView:
    """The latest look at one box, shared by the host monitor (which refreshes it), the
    scheduler (which places by it) and the lifecycle (which notes a lease it lost)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.latest: BoxLook | None = None
        self._noted: dict[int, tuple[str, float]] = {}

    def update(self, look: BoxLook) -> None:
        """A new look; what was noted before it was taken is now known to the look."""
        with self._lock:
            self.latest = look
            self._noted = {g: v for g, v in self._noted.items() if v[2] > look.at}

    def note(self, gpu: int, why: str, seconds: float = 30.0) -> None:
        """A GPU found taken outside a look (a lease lost at staging): avoid it until the
        next look (or `seconds`)."""
        now = time.time()
        with self._lock:
            self._noted[gpu] = (why, now + seconds, now)

    def age(self) -> float:
        look = self.latest
        return float("inf") if look is None else time.time() - look.at

    def taken(self) -> dict[int, str]:
        with self._lock:
            now = time.time()
            taken = dict(self.latest.taken) if self.latest else {}
            for gpu, (why, until, _) in self._noted.items():
                if until > now:
                    taken.setdefault(gpu, why)
            return taken


def look(runtime: Any, installation: str, ours: Iterable[int], *, busy_mb: float,
         memory: Mapping[int, tuple[str, float | None, float | None]] | None = None,
         listed: Sequence[Mapping[str, Any]] | None = None) -> BoxLook:
    """Look at the box now (a few commands over its shell). Each source that fails is left
    out and named in `error`; the lease taken at staging still guards the GPU. `memory` (each
    GPU's uuid and memory, memory_of) and `listed` (every container of the box): what the
    caller just read (the host monitor has), not asked again."""
    host = runtime.host
    now = time.time()
    errors: list[str] = []
    apps: list[tuple[str, str, float | None]] = []
    if not runtime.kind.watches_gpus(host):
        memory = {}
    else:
        if memory is None:
            result = runtime.shell.run([*host.gpu_query, f"--query-gpu={GPU_MEMORY_FIELDS}",
                                        "--format=csv,noheader,nounits"], timeout=20)
            if not result.ok:
                errors.append("nvidia-smi: " + (result.err.strip()
                                                or f"exit {result.exit_code}")[-120:])
            memory = parse_gpu_memory(result.out if result.ok else "")
        result = runtime.shell.run([*host.gpu_query, f"--query-compute-apps={APP_FIELDS}",
                                    "--format=csv,noheader,nounits"], timeout=20)
        if result.ok:
            apps = parse_apps(result.out)
    containers: list[dict[str, Any]] = []
    try:
        every = runtime.engine.list_all() if listed is None else listed
        containers = [describe_container(c, installation) for c in every]
    except Exception as exc:  # a box without docker: the other signals still count
        errors.append(f"containers: {exc}")
    leases: list[Lease] = []
    try:
        leases = runtime.leases.list()
    except Exception as exc:
        errors.append(f"leases: {exc}")
    taken = judge(installation=installation, gpus=host.gpus, ours=ours, memory=memory,
                  apps=apps, containers=containers, leases=leases, busy_mb=busy_mb,
                  vram_mb=host.vram_mb, now=now)
    return BoxLook(now, taken, containers, leases, "; ".join(errors) or None)
