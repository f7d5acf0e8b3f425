"""What a sweep axis is, how its values are written, and how axes expand into cells.

An axis names one setting and lists its values:

- a control's weight, by the control's name (`edge=0.2,0.5,0.8`);
- `guidance`, `sigma_max` (numbers), `seed`, `steps` (whole numbers);
- `model` (model profile ids: `model=transfer1,transfer2.5`).

Values are a comma-separated list whose items are single values or inclusive ranges
`start:stop:step` (`0.2:0.8:0.3` is 0.2, 0.5, 0.8; `1:4:1` is 1, 2, 3, 4; stop is included
only when a step lands on it). Ranges are counted in decimal arithmetic from the text as
written, so `0.1:0.3:0.1` is exactly 0.1, 0.2, 0.3 (adding floats would drift to
0.30000000000000004 and lose the last value). Why pure and strict: the CLI, the Create form
and the dry run show the same count and the same cells before anything is queued, and a
value that is not what the person meant is refused with what is allowed, never rounded.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Iterable, Sequence

#: Settings an axis may sweep besides control weights: axis name -> (params field, kind).
SETTING_AXES: dict[str, tuple[str, str]] = {
    "guidance": ("guidance", "number"),
    "sigma_max": ("sigma_max", "number"),
    "seed": ("seed", "whole"),
    "steps": ("num_steps", "whole"),
}
MODEL_AXIS = "model"
MAX_AXES = 3
#: A sweep of more runs than this is refused unless the person confirms (`--yes`).
CONFIRM_ABOVE = 64
#: Never more runs than this, even confirmed: a typo in a range must not queue a farm's week.
HARD_MAX = 1024
#: Where each axis goes in the grid, in the order they are given.
POSITIONS = ("x", "y", "z")


class AxisError(ValueError):
    """An axis the person wrote cannot be used; `axis` names it ("" for the sweep as a whole)
    and the message says what is wrong and what is allowed."""

    def __init__(self, axis: str, message: str) -> None:
        super().__init__(f"axis {axis}: {message}" if axis else message)
        self.axis = axis
        self.message = message


@dataclass(frozen=True)
class Axis:
    """One swept setting and its values, in the order they are shown."""

    name: str
    values: tuple[Any, ...]

    @property
    def kind(self) -> str:
        """"weight", "model" or the setting's kind ("number", "whole")."""
        if self.name == MODEL_AXIS:
            return "model"
        return SETTING_AXES[self.name][1] if self.name in SETTING_AXES else "weight"

    @property
    def field(self) -> str:
        """The GenerationParams field it sets ("weights.edge", "num_steps", "model")."""
        if self.name == MODEL_AXIS:
            return "model"
        return SETTING_AXES[self.name][0] if self.name in SETTING_AXES else \
            f"weights.{self.name}"

    @property
    def title(self) -> str:
        """How the grid labels the axis ("edge weight", "steps")."""
        return f"{self.name} weight" if self.kind == "weight" else self.name

    def label(self, index: int) -> str:
        """One value as the grid and the dry run show it: `edge=0.2`."""
        return f"{self.name}={show(self.values[index])}"

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "field": self.field, "values": list(self.values)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Axis":
        return cls(str(data["name"]), tuple(data["values"]))


@dataclass(frozen=True)
class Cell:
    """One run of the sweep: its place (x, y, z indexes; 0 where an axis is absent) and the
    value each axis gives it."""

    coords: tuple[int, int, int]
    values: dict[str, Any]

    def label(self) -> str:
        return ", ".join(f"{k}={show(v)}" for k, v in self.values.items())


def show(value: Any) -> str:
    """A value as written by a person: 5.0 -> '5', 0.1 -> '0.1', 'transfer1' as it is."""
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    return str(value)


def allowed_names(controls: Iterable[str]) -> list[str]:
    """Every axis name a request with these controls may sweep, as the messages list them."""
    return [*controls, *SETTING_AXES, MODEL_AXIS]


def parse_axis(text: str, controls: Sequence[str], models: Sequence[str]) -> Axis:
    """`edge=0.2,0.5,0.8` -> Axis; AxisError naming the axis and what is allowed."""
    name, sep, values = (text or "").partition("=")
    name = name.strip()
    if not sep or not name:
        raise AxisError("", f"{text!r} is not an axis; write NAME=VALUES, e.g. edge=0.2,0.5,0.8 "
                        f"or seed=1:4:1 (names: {', '.join(allowed_names(controls))})")
    return make_axis(name, values, controls, models)


def make_axis(name: str, values: str, controls: Sequence[str], models: Sequence[str]) -> Axis:
    """An axis from its name and its values as written (the form's two boxes)."""
    name = (name or "").strip()
    if name.startswith("weights."):
        name = name.removeprefix("weights.")
    if name not in allowed_names(controls):
        raise AxisError(name or "''", f"there is no such axis; use a control's weight ("
                        f"{', '.join(controls) or 'this model has no controls'}), "
                        f"{', '.join(SETTING_AXES)} or {MODEL_AXIS}")
    kind = Axis(name, ()).kind
    items = [item.strip() for item in (values or "").split(",")]
    if not any(items):
        raise AxisError(name, "no values; give a list such as 0.2,0.5,0.8 or a range "
                        "start:stop:step such as 0.2:0.8:0.3")
    out: list[Any] = []
    for item in items:
        if not item:
            raise AxisError(name, f"an empty value in {values!r}; separate values with single "
                            "commas")
        if kind == "model":
            out.append(_model(name, item, models))
        elif ":" in item:
            out.extend(_range(name, item, kind, limit=HARD_MAX - len(out)))
        else:
            out.append(_number(name, item, kind))
        if len(out) > HARD_MAX:
            raise AxisError(name, f"more than {HARD_MAX} values; a sweep has at most "
                            f"{HARD_MAX} runs")
    seen: set = set()
    for value in out:
        if value in seen:
            raise AxisError(name, f"{show(value)} is given twice; each value once")
        seen.add(value)
    return Axis(name, tuple(out))


def _model(name: str, item: str, models: Sequence[str]) -> str:
    if ":" in item:
        raise AxisError(name, f"{item!r}: models are listed, not ranged; use "
                        f"model={','.join(models)}")
    if item not in models:
        raise AxisError(name, f"no model {item!r}; use one of {', '.join(models)}")
    return item


def _decimal(name: str, text: str, kind: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        value = None
    if value is None or not value.is_finite():
        what = "a whole number" if kind == "whole" else "a number"
        raise AxisError(name, f"{text!r} is not {what}; {_allowed(kind)}")
    if kind == "whole" and value != value.to_integral_value():
        raise AxisError(name, f"{text} is not a whole number; {name} takes whole numbers "
                        "(e.g. 1,2,3 or 1:9:2)")
    return value


def _number(name: str, text: str, kind: str) -> int | float:
    value = _decimal(name, text, kind)
    return int(value) if kind == "whole" else float(value)


def _range(name: str, text: str, kind: str, *, limit: int) -> list[int | float]:
    """`start:stop:step`, stop included when a step lands on it, counted in decimals."""
    parts = text.split(":")
    if len(parts) != 3 or not all(p.strip() for p in parts):
        raise AxisError(name, f"{text!r} is not a range; write start:stop:step, e.g. "
                        "0.2:0.8:0.3 (0.2, 0.5, 0.8)")
    start, stop, step = (_decimal(name, p.strip(), kind) for p in parts)
    if step <= 0:
        raise AxisError(name, f"the step of {text} is {step}; use a step above 0")
    if stop < start:
        raise AxisError(name, f"{text} ends below its start; write it from the lower value up "
                        f"({stop}:{start}:{step})")
    count = int((stop - start) // step) + 1
    if count > limit:
        raise AxisError(name, f"{text} has {count} values; a sweep has at most {HARD_MAX} runs")
    values = [start + step * i for i in range(count)]
    return [int(v) if kind == "whole" else float(v) for v in values]


def _allowed(kind: str) -> str:
    if kind == "whole":
        return "give whole numbers such as 1,2,3 or a range such as 1:9:2"
    return "give numbers such as 0.2,0.5,0.8 or a range such as 0.2:0.8:0.3"


def check_axes(axes: Sequence[Axis]) -> None:
    """One to three axes, each setting swept once."""
    if not axes:
        raise AxisError("", "a sweep needs at least one axis (e.g. edge=0.2,0.5,0.8)")
    if len(axes) > MAX_AXES:
        raise AxisError("", f"{len(axes)} axes given; a sweep has one to {MAX_AXES} "
                        "(x, y and a third shown as separate grids)")
    names = [a.name for a in axes]
    for name in names:
        if names.count(name) > 1:
            raise AxisError(name, "given twice; sweep each setting on one axis (list all its "
                            "values there)")


def run_count(axes: Sequence[Axis]) -> int:
    count = 1
    for axis in axes:
        count *= len(axis.values)
    return count


def count_refusal(count: int, confirmed: bool) -> str | None:
    """Why a sweep of `count` runs may not be queued (None: it may)."""
    if count > HARD_MAX:
        return f"This sweep is {count} runs; the most a sweep may have is {HARD_MAX}."
    if count > CONFIRM_ABOVE and not confirmed:
        return (f"This sweep is {count} runs, over the limit of {CONFIRM_ABOVE} without "
                "confirmation; confirm it (--yes) or use fewer values.")
    return None


def expand(axes: Sequence[Axis]) -> list[Cell]:
    """Every cell, x fastest, then y, then z: the order the runs are queued and shown."""
    check_axes(axes)
    cells = []
    ranges = [range(len(a.values)) for a in axes]
    for reversed_index in itertools.product(*reversed(ranges)):
        index = tuple(reversed(reversed_index))
        coords = tuple(index) + (0,) * (3 - len(index))
        values = {a.name: a.values[i] for a, i in zip(axes, index)}
        cells.append(Cell((coords[0], coords[1], coords[2]), values))
    return cells
