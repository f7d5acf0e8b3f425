"""Placing a run on a box's GPUs, and saying why it waits when it cannot be placed.

The claim (backend/store/claims.py) asks the functions made here. A GPU is busy when one of
our active runs holds it (our store) or when the latest look at the box says something else
uses it (backend/hosts/boxcheck.py: another installation's container or lease, a foreign
process, too little free VRAM). The host kind decides which free GPUs a run gets.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

from backend.extensions import run_type_runner
from backend.hosts.kind import Placement
from backend.store.models import Run


def gpus_asked(run: Run) -> int:
    """The GPUs a run asks for: a registered run type's `gpus` (setup: none), else what its
    model's job takes (kept as a column when it was queued)."""
    runner = run_type_runner(run.run_type)
    if runner is not None:
        return int(runner.gpus)
    return int(run.gpu_count if run.gpu_count is not None else 1)


def holders(active: Sequence[Run]) -> dict[int, str]:
    """GPU -> which of our runs holds it, in words."""
    held: dict[int, str] = {}
    for run in active:
        for gpu in run.gpu_list():
            held[gpu] = f"{run.owner or 'someone'}'s run {run.id[-8:]}"
    return held


def explain(host: Any, asked: int, busy: dict[int, str]) -> str:
    """Why a run asking for `asked` GPUs waits on `host`, GPU by GPU."""
    if asked > len(host.gpus):
        return f"asks for {asked} GPUs; {host.name} has {len(host.gpus)}"
    free = [g for g in host.gpus if g not in busy]
    details = "; ".join(f"GPU {g}: {busy[g]}" for g in host.gpus if g in busy)
    return (f"needs {asked} GPU(s), {len(free)} free on {host.name}"
            + (f" ({details})" if details else ""))


def make_placer(runtime: Any) -> Callable[[Run, Sequence[Run]], "Placement | str | None"]:
    """The claim's placement rule for one host: GPUs free in our store and on the box."""
    host, kind = runtime.host, runtime.kind

    def place(run: Run, active: Sequence[Run]) -> "Placement | str | None":
        asked = gpus_asked(run)
        busy = holders(active)
        if runtime.checks_box:
            for gpu, why in runtime.box.taken().items():
                busy.setdefault(gpu, why)
        placement = kind.place(host, asked, set(busy))
        return placement if placement is not None else explain(host, asked, busy)

    return place
