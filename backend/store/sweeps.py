"""Sweeps and their cells: which runs make up a sweep, and where each sits in its grid.

Why the sweep row and its links are written in the caller's transaction (the runs' own): a
sweep is queued as a whole, so no scheduler sees half of it (and batches what it sees), and a
refused cell leaves no sweep behind.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any, Sequence

from peewee import fn

from backend.events.types import SweepCreated
from backend.ids import new_id
from backend.store.models import Run, Sweep, SweepRun


@dataclass(frozen=True)
class SweepRow:
    """A sweep as lists show it: its fields and how many of its runs are in each status."""

    id: str
    name: str
    prompt: str
    axes: list[dict[str, Any]]
    owner: str
    created_at: float
    runs: int
    statuses: dict[str, int]

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "prompt": self.prompt, "axes": self.axes,
                "owner": self.owner, "created_at": self.created_at, "runs": self.runs,
                "statuses": self.statuses}


def _row(sweep: Sweep, statuses: dict[str, int]) -> SweepRow:
    return SweepRow(sweep.id, sweep.name, sweep.prompt, json.loads(sweep.axes), sweep.owner,
                    sweep.created_at, sum(statuses.values()), statuses)


class SweepStore:
    """A mixin of Store (needs `writing` and `emit`)."""

    def create_sweep(self, *, name: str, prompt: str, axes: list[dict[str, Any]],
                     owner: str, cells: Sequence[tuple[str, tuple[int, int, int]]]) -> str:
        """Store a sweep and link its (already created) runs to their cells; call inside the
        `writing()` that created the runs."""
        sweep_id = new_id()
        with self.writing():
            Sweep.create(id=sweep_id, name=name, prompt=prompt, axes=json.dumps(axes),
                         owner=owner, created_at=time.time())
            for run_id, (x, y, z) in cells:
                SweepRun.create(run=run_id, sweep=sweep_id, x=x, y=y, z=z)
            self.emit(SweepCreated(sweep_id=sweep_id, runs=len(cells)))
        return sweep_id

    def _statuses(self, sweep_ids: Sequence[str]) -> dict[str, dict[str, int]]:
        counts: dict[str, dict[str, int]] = {s: {} for s in sweep_ids}
        query = (SweepRun.select(SweepRun.sweep, Run.status, fn.COUNT(Run.id).alias("n"))
                 .join(Run).where(SweepRun.sweep.in_(list(sweep_ids)))
                 .group_by(SweepRun.sweep, Run.status).tuples())
        for sweep_id, status, n in query:
            counts[sweep_id][status] = n
        return counts

    def list_sweeps(self, *, limit: int = 50, offset: int = 0,
                    owner: str | None = None) -> list[SweepRow]:
        """Newest first, with each sweep's run counts by status."""
        query = Sweep.select().order_by(Sweep.created_at.desc(), Sweep.id.desc())
        if owner:
            query = query.where(Sweep.owner == owner)
        sweeps = list(query.limit(limit).offset(offset))
        counts = self._statuses([s.id for s in sweeps])
        return [_row(s, counts[s.id]) for s in sweeps]

    def get_sweep(self, sweep_id: str) -> SweepRow | None:
        sweep = Sweep.get_or_none(Sweep.id == sweep_id)
        return None if sweep is None else _row(sweep, self._statuses([sweep.id])[sweep.id])

    def sweep_cells(self, sweep_id: str) -> list[tuple[tuple[int, int, int], Run]]:
        """Each linked run with its (x, y, z), in queue order (x fastest)."""
        query = (SweepRun.select(SweepRun, Run).join(Run)
                 .where(SweepRun.sweep == sweep_id)
                 .order_by(SweepRun.z, SweepRun.y, SweepRun.x))
        return [((c.x, c.y, c.z), c.run) for c in query]

    def sweep_of(self, run_id: str) -> tuple[str, tuple[int, int, int]] | None:
        """(sweep id, cell) of a run that is part of a sweep."""
        cell = SweepRun.get_or_none(SweepRun.run == run_id)
        return None if cell is None else (cell.sweep_id, (cell.x, cell.y, cell.z))

    def sweep_ids_starting_with(self, prefix: str, limit: int = 2) -> list[str]:
        return [s.id for s in Sweep.select(Sweep.id).where(Sweep.id.startswith(prefix))
                .limit(limit)]
