"""Sweeps: plan one request over its axes, queue every cell as a linked run, show the grid and
export it as one MP4.

Why every cell is validated before anything is stored, and all runs are queued in one
transaction: a sweep is one thing to the person who made it. A cell the model refuses refuses
the sweep, with the cell named, and no half sweep is left in the queue; the scheduler sees all
of its runs at once, so compatible ones share one job and one model load (backend/runs/
batching.py: the profile's `batch_key`, e.g. Transfer1 runs that differ only in weights).
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from backend import media
from backend.models.checks import FieldError
from backend.models.params import GenerationParams
from backend.models.profile import get_profile, profile_ids
from backend.operations.errors import NotFound, Refused, ValidationFailed
from backend.store.models import COMPLETED, TERMINAL
from backend.sweeps.axes import (MODEL_AXIS, Axis, AxisError, Cell, check_axes, count_refusal,
                                 expand, make_axis, run_count, show)
from backend.sweeps.cells import cell_params
from backend.sweeps.render import Tile, render_grid

log = logging.getLogger(__name__)

#: How many cells a grouped refusal names before "and N more".
_NAMED_CELLS = 3


@dataclass(frozen=True)
class PlannedRun:
    """One cell of a planned sweep: where it goes, what its axes give it, its request, and
    which job it would share when batching is on (None: a job of its own)."""

    cell: Cell
    params: GenerationParams
    batch_group: int | None

    def to_dict(self) -> dict[str, Any]:
        x, y, z = self.cell.coords
        return {"cell": {"x": x, "y": y, "z": z}, "label": self.cell.label(),
                "values": dict(self.cell.values), "batch_group": self.batch_group,
                "params": self.params.to_dict()}


def _axis_errors(exc: AxisError) -> ValidationFailed:
    return ValidationFailed([FieldError(f"axis.{exc.axis}" if exc.axis else "axes",
                                        exc.message)])


class SweepOps:
    """A mixin of Operations (settings, store, launch, validate)."""

    # -- axes ---------------------------------------------------------------------------------
    def sweep_axes(self, pairs: Sequence[tuple[str, str]], base_model: str) -> list[Axis]:
        """Axes from (name, values as written) pairs; ValidationFailed naming the axis.

        A weight axis may name a control of the base model or of any model on the model axis
        (a cell of a model without it is then refused by that model, naming the cell)."""
        models = list(profile_ids())
        try:
            model_axes = [make_axis(n, v, (), models) for n, v in pairs
                          if n.strip() == MODEL_AXIS]
            names = {base_model} | {m for a in model_axes for m in a.values}
            controls = [c for m in profile_ids() if m in names
                        for c in get_profile(m).control_names]
            controls = list(dict.fromkeys(controls))
            axes = [make_axis(n, v, controls, models) for n, v in pairs]
            check_axes(axes)
        except AxisError as exc:
            raise _axis_errors(exc) from None
        return axes

    # -- planning -----------------------------------------------------------------------------
    def plan_sweep(self, base: GenerationParams, axes: Sequence[Axis], *,
                   host: str | None = None, confirmed: bool = False) -> list[PlannedRun]:
        """Every run the sweep would queue, each validated like a launch; ValidationFailed
        with every refusal (the count over the limit, or a cell the model refuses)."""
        try:
            check_axes(axes)
        except AxisError as exc:
            raise _axis_errors(exc) from None
        refusal = count_refusal(run_count(axes), confirmed)  # before any cell is made
        if refusal:
            raise ValidationFailed([FieldError("sweep", refusal)])
        cells = expand(axes)
        base.prompt = (base.prompt or "").strip()
        base.negative_prompt = (base.negative_prompt or "").strip()
        planned = [PlannedRun(c, cell_params(base, c, self.default_params,
                                             lambda m: self.profile(m).control_names), None)
                   for c in cells]
        errors = self._cell_errors(planned, axes, host)
        if errors:
            raise ValidationFailed(errors)
        return self._batch_groups(planned)

    def _cell_errors(self, planned: Sequence[PlannedRun], axes: Sequence[Axis],
                     host: str | None) -> list[FieldError]:
        """Each cell's refusals; one message shared by several cells is given once, naming
        them (or none when every cell has it: then it is the base request's)."""
        grouped: dict[tuple[str, str], list[str]] = {}
        for run in planned:
            for error in self.validate(run.params, host):
                field = error.field
                for axis in axes:
                    if error.field == axis.field or (axis.kind == "weight"
                                                     and error.field == "weights"):
                        field = f"axis.{axis.name}"
                grouped.setdefault((field, error.message), []).append(run.cell.label())
        errors = []
        for (field, message), labels in grouped.items():
            if len(labels) < len(planned):
                named = "; ".join(labels[:_NAMED_CELLS])
                more = len(labels) - _NAMED_CELLS
                message = (f"in the cell{'s' if len(labels) > 1 else ''} {named}"
                           f"{f' and {more} more' if more > 0 else ''}: {message}")
            errors.append(FieldError(field, message))
        return errors

    def _batch_groups(self, planned: Sequence[PlannedRun]) -> list[PlannedRun]:
        """Number the jobs the scheduler would make of these runs with batching on."""
        if not self.settings.batching:
            return list(planned)
        fps: dict[str, float | None] = {}
        keys: dict[Any, int] = {}
        out = []
        for run in planned:
            video = run.params.input_video
            if video and video not in fps:
                try:
                    fps[video] = media.probe_video(video).fps
                except media.MediaError:
                    fps[video] = None
            key = get_profile(run.params.model).batch_key(run.params,
                                                          fps.get(video) if video else None)
            group = None if key is None else keys.setdefault((run.params.model, key),
                                                             len(keys))
            out.append(PlannedRun(run.cell, run.params, group))
        return out

    # -- launching ----------------------------------------------------------------------------
    def launch_sweep(self, base: GenerationParams, axes: Sequence[Axis], *, name: str = "",
                     host: str | None = None, owner: str | None = None,
                     confirmed: bool = False, priority: int = 0, shot: str = "",
                     with_upscale: bool = False,
                     prompt_id: str | None = None) -> dict[str, Any]:
        """Validate every cell, then queue them all, linked to one new sweep, in one
        transaction. Returns the sweep as `sweep()` shows it."""
        owner = owner or self.local_user
        self.plan_sweep(base, axes, host=host, confirmed=confirmed)  # refuse before copying
        self._import_files(base)  # once: every cell points at the same imported files
        name = " ".join((name or "").split())
        runs = []
        with self.store.writing():
            for cell in expand(axes):
                params = cell_params(base, cell, self.default_params,
                                     lambda m: self.profile(m).control_names)
                summary = self.launch(params, name=f"{name or 'sweep'} [{cell.label()}]",
                                      host=host, prompt_id=prompt_id, priority=priority,
                                      owner=owner, shot=shot, with_upscale=with_upscale)
                if prompt_id is None:  # the first cell stored the prompt; the rest share it
                    prompt_id = self.store.get_run(summary.id).prompt_id
                runs.append((summary.id, cell.coords))
            sweep_id = self.store.create_sweep(name=name, prompt=base.prompt,
                                               axes=[a.to_dict() for a in axes], owner=owner,
                                               cells=runs)
        log.info("queued sweep %s: %d runs over %s for %s", sweep_id, len(runs),
                 ", ".join(a.name for a in axes), owner)
        return self.sweep(sweep_id)

    # -- reading ------------------------------------------------------------------------------
    def resolve_sweep(self, text: str) -> str:
        """A sweep id, or a unique start of 6+ characters of one; NotFound / Refused."""
        return self.resolve_id(text, ("sweep",))[1]

    def sweeps(self, *, limit: int = 50, offset: int = 0,
               owner: str | None = None) -> list[dict[str, Any]]:
        """Sweeps, newest first, with their run counts by status (`cosmos sweeps`)."""
        return [row.to_dict() for row in self.store.list_sweeps(limit=limit, offset=offset,
                                                                owner=owner)]

    def sweep(self, sweep_id: str) -> dict[str, Any]:
        """A sweep with its axes and every cell's run (the grid view, `cosmos sweeps ID`)."""
        row = self.store.get_sweep(sweep_id)
        if row is None:
            raise NotFound(sweep_id)
        axes = [Axis.from_dict(a) for a in row.axes]
        cells = []
        for (x, y, z), run in self.store.sweep_cells(sweep_id):
            coords = (x, y, z)
            values = {a.name: a.values[i] for a, i in zip(axes, coords)}
            video = run.output_path if run.output_path and Path(run.output_path).is_file() \
                else None
            cells.append({"x": x, "y": y, "z": z, "values": values,
                          "label": ", ".join(f"{k}={show(v)}" for k, v in values.items()),
                          "run_id": run.id, "status": run.status,
                          "failure_cause": run.failure_cause, "video": video,
                          "thumbnail": run.thumbnail_path})
        return dict(row.to_dict(), cells=cells)

    def sweep_of_run(self, run_id: str) -> dict[str, Any] | None:
        """The sweep a run is a cell of ({"sweep_id", "name", "x", "y", "z", "label"}), or
        None: what the run view says about where the run belongs."""
        found = self.store.sweep_of(run_id)
        row = self.store.get_sweep(found[0]) if found else None
        if row is None:
            return None
        x, y, z = found[1]
        axes = [Axis.from_dict(a) for a in row.axes]
        label = ", ".join(a.label(i) for a, i in zip(axes, (x, y, z)))
        return {"sweep_id": row.id, "name": row.name, "x": x, "y": y, "z": z, "label": label}

    # -- exporting ----------------------------------------------------------------------------
    def export_grid(self, sweep_id: str, out: str | Path | None = None) -> Path:
        """The sweep's grid as one labelled MP4 (default: data_dir/exports/sweep-<id>-<key>.mp4,
        the key naming its cells' runs, statuses and videos: an unchanged grid is not rendered
        twice).

        Refused while any of its runs has not ended; a cell whose run failed, was blocked or
        cancelled, or was deleted, is a placeholder tile saying so."""
        sweep = self.sweep(sweep_id)
        waiting = [c for c in sweep["cells"] if c["status"] not in TERMINAL]
        if waiting:
            raise Refused(f"{len(waiting)} of the sweep's {len(sweep['cells'])} runs have not "
                          "ended yet; export the grid when they have (`cosmos sweeps "
                          f"{sweep_id}` shows them).")
        axes = [Axis.from_dict(a) for a in sweep["axes"]]
        tiles = []
        for cell in sweep["cells"]:
            coords = (cell["x"], cell["y"], cell["z"])
            if cell["status"] == COMPLETED and cell["video"]:
                tiles.append(Tile(coords, Path(cell["video"])))
            else:
                cause = cell["failure_cause"] or ("no video" if cell["status"] == COMPLETED
                                                  else "")
                words = f"{cell['status'].upper()}\n{cell['label']}" + (f"\n{cause}" if cause
                                                                       else "")
                tiles.append(Tile(coords, None, words))
        if out:
            return render_grid(axes, tiles, Path(out))
        # named by what it shows, so a second export of an unchanged grid is the same file
        key = hashlib.sha1(json.dumps([[c["run_id"], c["status"], c["video"],
                                        c["failure_cause"]] for c in sweep["cells"]]
                                      ).encode()).hexdigest()[:10]
        target = self.exports_dir / f"sweep-{sweep_id}-{key}.mp4"
        if target.is_file():
            return target
        return render_grid(axes, tiles, target)
