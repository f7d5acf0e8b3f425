"""`cosmos-sim nvidia-smi`: the box's GPUs as nvidia-smi reports them, simulated.

The orchestrator samples GPUs with `nvidia-smi --query-gpu=... --format=csv,noheader,nounits`
on a real box; the simulator answers the same query so telemetry, the Hosts view and the GPU
plot run through the same code everywhere. A GPU is busy while a running container was given
it (`--gpus`), with load that wobbles over time like a real diffusion loop.
"""

from __future__ import annotations

import math
import os
import time
from typing import Any

from .errors import CliError
from .state import Store

def _memory_mib() -> int:
    """GPU memory in MiB: an H100 80GB's, or COSMOS_SIM_GPU_MEMORY_MIB (a smaller box, to see
    a model that does not fit refused before it is queued)."""
    try:
        return max(1024, int(os.environ.get("COSMOS_SIM_GPU_MEMORY_MIB", "81559")))
    except ValueError:
        return 81559


def _name() -> str:
    mib = _memory_mib()
    return "Simulated H100 80GB HBM3" if mib == 81559 else f"Simulated GPU {mib // 1024}GB"


FIELDS = {
    "index": lambda g: str(g["index"]),
    "name": lambda g: _name(),
    "utilization.gpu": lambda g: str(g["util"]),
    "memory.used": lambda g: str(g["mem_used"]),
    "memory.total": lambda g: str(_memory_mib()),
    "temperature.gpu": lambda g: str(g["temp"]),
    "uuid": lambda g: f"GPU-cosmos-sim-{g['index']:04d}",
}


def _gpu_users(store: Store) -> dict[int, list[int]]:
    """GPU index -> pids of the running containers given it (as the NVIDIA runtime would)."""
    users: dict[int, list[int]] = {}
    for cid in store.ids():
        config, state = store.config(cid), store.current_state(cid)
        if not config or not state or state.get("Status") != "running":
            continue
        devices = (config.get("GpuEnv") or {}).get("NVIDIA_VISIBLE_DEVICES", "")
        indexes = range(_gpu_count()) if devices == "all" else [
            int(d) for d in devices.split(",") if d.strip().isdigit()]
        for index in indexes:
            users.setdefault(index, []).append(int(state.get("Pid") or 0))
    return users


def _busy_gpus(store: Store) -> set[int]:
    return set(_gpu_users(store))


def _gpu_count() -> int:
    try:
        return max(1, int(os.environ.get("COSMOS_SIM_GPUS", "8")))
    except ValueError:
        return 8


def gpu_rows(store: Store) -> list[dict[str, Any]]:
    busy = _busy_gpus(store)
    now = time.time()
    rows = []
    for index in range(_gpu_count()):
        if index in busy:
            util = int(82 + 12 * math.sin(now / 3 + index))
            mem = int(min(_memory_mib() * 0.95, 62000 + 4000 * math.sin(now / 7 + index)))
            temp = int(71 + 4 * math.sin(now / 11 + index))
        else:
            util, mem, temp = 0, 4, 34
        rows.append({"index": index, "util": util, "mem_used": mem, "temp": temp})
    return rows


#: `--query-compute-apps` fields: one row per process using a GPU.
APP_FIELDS = {
    "gpu_uuid": lambda a: f"GPU-cosmos-sim-{a['index']:04d}",
    "gpu_bus_id": lambda a: f"00000000:{a['index'] + 1:02X}:00.0",
    "pid": lambda a: str(a["pid"]),
    "process_name": lambda a: "python",
    "used_memory": lambda a: str(a["mem"]),
    "used_gpu_memory": lambda a: str(a["mem"]),
}


def cmd_nvidia_smi(store: Store, args: list[str]) -> int:
    query = apps = None
    for arg in args:
        if arg.startswith("--query-gpu="):
            query = arg.split("=", 1)[1]
        if arg.startswith("--query-compute-apps="):
            apps = arg.split("=", 1)[1]
    if apps is not None:
        names = [n.strip() for n in apps.split(",") if n.strip()]
        unknown = [n for n in names if n not in APP_FIELDS]
        if unknown:
            raise CliError(f'Field "{unknown[0]}" is not a valid field to query.', 2)
        memory = {row["index"]: row["mem_used"] for row in gpu_rows(store)}
        for index, pids in sorted(_gpu_users(store).items()):
            for pid in pids:
                app = {"index": index, "pid": pid, "mem": memory.get(index, 0) // len(pids)}
                print(", ".join(APP_FIELDS[n](app) for n in names))
        return 0
    rows = gpu_rows(store)
    if query is None:
        for row in rows:
            print(f"GPU {row['index']}: {_name()} (UUID: GPU-cosmos-sim-"
                  f"{row['index']:04d})")
        return 0
    names = [n.strip() for n in query.split(",") if n.strip()]
    unknown = [n for n in names if n not in FIELDS]
    if unknown:
        raise CliError(f'Field "{unknown[0]}" is not a valid field to query.', 2)
    for row in rows:
        print(", ".join(FIELDS[n](row) for n in names))
    return 0
