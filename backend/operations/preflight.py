"""Checks made before a run is queued that are about the box, not the request: does the host
serve the model, does the model have this run type, can its GPUs hold the model.

Why at launch: a Transfer2.5 run on a 24 GB card fails only after minutes of downloads and
model loading (CUDA out of memory); the host's latest telemetry (nvidia-smi, as the Hosts view
shows it) already tells us it cannot fit. GPUs our own active runs hold are counted as free
(they free up when those runs end: the new run waits in the queue). Memory held by anything
else counts as used, unless the scheduler looks at the box before placing (`check_box`, issue
16): then a GPU something else uses is one the run waits for in the queue, with the reason
(backend/hosts/boxcheck.py), and only GPUs too small for the model refuse it here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from backend.config import HostConfig
from backend.models.checks import FieldError, one_of
from backend.models.profile import ModelProfile

MIB_PER_GB = 1024


def model_errors(profile: ModelProfile, host: HostConfig, run_type: str) -> list[FieldError]:
    """The host must serve the model, and the model must have the run type."""
    errors = []
    if not host.serves(profile.id):
        errors.append(FieldError("model", f"{host.name} does not serve {profile.id}; it serves "
                                 f"{one_of(host.models)}. Pick one of those, or a host whose "
                                 f"`models` lists {profile.id}."))
    if run_type not in profile.run_types:
        errors.append(FieldError("model", f"{profile.name} has no {run_type} run; its run types "
                                 f"are {one_of(profile.run_types)}."))
    return errors


def vram_errors(profile: ModelProfile, host: HostConfig, gpus_needed: int,
                snapshot: Mapping[str, Any] | None, ours: Iterable[int],
                need_gb: float | None = None, *, others_wait: bool = False) -> list[FieldError]:
    """Refuse when fewer than `gpus_needed` of the host's GPUs can hold the model.

    `snapshot` is the host's latest telemetry (HostSnapshot.to_dict()), None when no worker has
    looked at it yet (then nothing is refused: the run fails with the model's own OOM cause
    if it does not fit). `ours` are GPUs held by our own active runs. `need_gb` is what the
    request needs on each GPU (the profile's `vram_for`; default its `vram_gb`). `others_wait`:
    the scheduler keeps runs off GPUs others use (the box check), so their memory frees up too.
    """
    need_gb = profile.vram_gb if need_gb is None else need_gb
    if not snapshot or not need_gb:
        return []
    gpus = [g for g in snapshot.get("gpus") or [] if g.get("index") in host.gpus]
    if not gpus:
        return []
    need = need_gb * MIB_PER_GB
    held = set(ours)
    usable, report = 0, []
    for gpu in sorted(gpus, key=lambda g: g["index"]):
        total = gpu.get("memory_total")
        used = gpu.get("memory_used") or 0.0
        if total is None:
            return []  # this nvidia-smi does not say: do not guess
        free = total if others_wait or gpu["index"] in held else max(0.0, total - used)
        if free >= need:
            usable += 1
        report.append(f"GPU {gpu['index']} has {free / MIB_PER_GB:.1f} of "
                      f"{total / MIB_PER_GB:.1f} GB free")
    if usable >= gpus_needed:
        return []
    biggest = max(g["memory_total"] for g in gpus) / MIB_PER_GB
    why = (f"its GPUs have at most {biggest:.1f} GB" if biggest * MIB_PER_GB < need
           else "; ".join(report))
    offload = (f", or turn on {one_of(profile.offload_flags)}" if profile.offload_flags
               else "")
    return [FieldError("host", f"{host.name} cannot hold {profile.name}: it needs "
                       f"{need_gb:.1f} GB free on each of {gpus_needed} GPU(s), and {why}. Choose a host with bigger or "
                       f"free GPUs{offload}; nothing was queued.")]
