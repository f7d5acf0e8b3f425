"""Pure statistics and formatting helpers for the benchmark table (no I/O, no clock).

Everything in `bench/` reports a figure of ours next to a baseline measured in the same run,
summarised the same way: min / median / max over repeats, and p50 / p95 for latencies.
Percentiles use linear interpolation between closest ranks (numpy's default, "type 7"), so a
p95 over 20 samples is not simply the largest value.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Iterable, Sequence

MEETS, MISSES, NOT_BUILT, ERROR = "meets", "misses", "not built", "error"


def percentile(values: Iterable[float], q: float) -> float:
    """The q-th percentile (0..100) with linear interpolation; ValueError when empty."""
    data = sorted(float(v) for v in values)
    if not data:
        raise ValueError("percentile of no values")
    if not 0 <= q <= 100:
        raise ValueError(f"percentile q must be within 0..100, got {q}")
    if len(data) == 1:
        return data[0]
    pos = (len(data) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(data) - 1)
    frac = pos - lo
    return data[lo] + (data[hi] - data[lo]) * frac


def median(values: Iterable[float]) -> float:
    return percentile(values, 50)


@dataclass(frozen=True)
class Summary:
    """min / median / max and p50 / p95 of one measured series."""

    n: int
    min: float
    median: float
    max: float
    p50: float
    p95: float
    mean: float

    def get(self, stat: str) -> float:
        """A statistic by name: min, median, max, p50, p95 or mean."""
        if stat not in ("min", "median", "max", "p50", "p95", "mean"):
            raise ValueError(f"unknown statistic {stat!r}")
        return getattr(self, stat)

    def to_dict(self) -> dict:
        return asdict(self)


def summarize(values: Sequence[float]) -> Summary:
    data = [float(v) for v in values]
    if not data:
        raise ValueError("summary of no values")
    return Summary(n=len(data), min=min(data), median=median(data), max=max(data),
                   p50=percentile(data, 50), p95=percentile(data, 95),
                   mean=sum(data) / len(data))


def ratio(ours: float | None, baseline: float | None) -> float | None:
    """ours / baseline; None when either is missing or the baseline is zero."""
    if ours is None or baseline is None or baseline == 0:
        return None
    return ours / baseline


def paired_ratio(ours: Sequence[float], baseline: Sequence[float]) -> float | None:
    """Median of ours[i] / baseline[i] over pairs measured back to back.

    With interleaved runs (ours, baseline, ours, ...) on a machine whose speed drifts, the
    ratio within each pair cancels the drift; the median of those ratios is steadier than the
    ratio of the two medians. None when the series are not pairs or a baseline is zero.
    """
    if not ours or len(ours) != len(baseline) or any(b == 0 for b in baseline):
        return None
    return median([o / b for o, b in zip(ours, baseline)])


def format_ratio(value: float | None) -> str:
    """`0.93x`, `12.4x`, `0.012x`: three significant figures, '-' when there is none."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if value == 0:
        return "0x"
    if math.isinf(value):
        return "inf"
    return f"{_sig(value, 3)}x"


def _sig(value: float, digits: int) -> str:
    """`value` with `digits` significant figures, without scientific notation."""
    if value == 0:
        return "0"
    magnitude = math.floor(math.log10(abs(value)))
    decimals = max(0, digits - 1 - magnitude)
    text = f"{round(value, decimals):.{decimals}f}"
    return text


def format_value(value: float | None, unit: str) -> str:
    """A figure in a readable unit.

    Units: "s" (shown as us, ms or s), "B/s" (MB/s, 10^6 bytes), "B" (B, KiB, MiB, GiB),
    "/min" (per minute), "x", or any other suffix printed as is.
    """
    if value is None:
        return "-"
    if unit == "s":
        if abs(value) < 1e-3:
            return f"{_sig(value * 1e6, 3)} us"
        if abs(value) < 1:
            return f"{_sig(value * 1e3, 3)} ms"
        return f"{_sig(value, 3)} s"
    if unit == "B/s":
        return f"{_sig(value / 1e6, 3)} MB/s"
    if unit == "B":
        size = float(value)
        for name, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
            if abs(size) >= scale:
                return f"{_sig(size / scale, 3)} {name}"
        return f"{int(round(size))} B"
    if unit == "x":
        return format_ratio(value)
    return f"{_sig(value, 3)} {unit}".rstrip()


def format_summary(summary: Summary | None, unit: str, stat: str = "median") -> str:
    """How a series appears in the table.

    stat "median": `105 MB/s [98.1-120]` (median, then the min-max range over repeats);
    stat "p95": `p50 4.1 ms / p95 6.3 ms` (latency distributions).
    """
    if summary is None:
        return "-"
    if stat in ("p95", "p50"):
        return (f"p50 {format_value(summary.p50, unit)} / "
                f"p95 {format_value(summary.p95, unit)}")
    value = format_value(summary.get(stat), unit)
    if summary.n < 2:
        return value
    low = format_value(summary.min, unit).split(" ")[0]
    high = format_value(summary.max, unit).split(" ")[0]
    return f"{value} [{low}-{high}]"


@dataclass(frozen=True)
class Goal:
    """What a line must reach: `target` (ours|ratio) `op` (>=|<=) `value` (base units)."""

    target: str
    op: str
    value: float
    unit: str = ""

    def __post_init__(self) -> None:
        if self.target not in ("ours", "ratio"):
            raise ValueError(f"goal target must be 'ours' or 'ratio', got {self.target!r}")
        if self.op not in (">=", "<="):
            raise ValueError(f"goal op must be '>=' or '<=', got {self.op!r}")

    def text(self, stat: str = "median") -> str:
        if self.target == "ratio":
            return f"{self.op} {format_ratio(self.value)}"
        shown = format_value(self.value, self.unit) if self.unit else _sig(self.value, 3)
        label = "" if stat == "median" else f"{stat} "
        return f"{label}{self.op} {shown}"

    def met_by(self, figure: float) -> bool:
        return figure >= self.value if self.op == ">=" else figure <= self.value


def verdict(goal: Goal, ours: float | None, ratio_value: float | None) -> str:
    """meets / misses for the figure the goal is about; error when that figure is missing."""
    figure = ours if goal.target == "ours" else ratio_value
    if figure is None or (isinstance(figure, float) and math.isnan(figure)):
        return ERROR
    return MEETS if goal.met_by(figure) else MISSES


def render_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A plain-text table with a rule under the header; columns padded to their widest cell."""
    widths = [len(h) for h in header]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))

    def line(cells: Sequence[str]) -> str:
        return "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(cells)).rstrip()

    out = [line(header), "  ".join("-" * w for w in widths)]
    out.extend(line(row) for row in rows)
    return "\n".join(out)
