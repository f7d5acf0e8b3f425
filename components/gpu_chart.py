"""The run view's GPU chart: utilisation and memory of the run's GPUs, as plain inline SVG.

Why not gr.LinePlot: every redraw of a Vega chart took the page's main thread 0.3-0.7 s on
a loaded 2-core machine, and the chart redrew on every telemetry sample (every 2 s), so log
lines stalled behind it (bench row 3: p95 0.8 s with it, 20 ms without). An SVG of a few
polylines is drawn by the browser's parser in well under a millisecond, and it can travel on
the run's own channel (cosmos_ui/log_channel.py) instead of a Gradio message.

One 0-100 % axis carries both utilisation (solid) and memory (dashed), one colour per GPU.
"""

from __future__ import annotations

from html import escape
from typing import Iterable

from components.run_details import metrics_frame

WIDTH, HEIGHT = 640, 200
LEFT, RIGHT, TOP, BOTTOM = 40, 10, 12, 28
COLOURS = ("#2563eb", "#db2777", "#059669", "#d97706", "#7c3aed", "#0891b2", "#dc2626",
           "#4b5563")
TITLE = "GPU utilisation and memory"


def _ticks(end: float) -> list[float]:
    """About five round time ticks from 0 to `end` seconds."""
    if end <= 0:
        return [0.0]
    raw = end / 5
    step = next(s for s in (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200,
                            float("inf")) if s >= raw)
    if step == float("inf"):
        step = raw
    ticks, t = [], 0.0
    while t <= end + 1e-9:
        ticks.append(t)
        t += step
    return ticks


def gpu_chart_html(run_id: str | None, samples: Iterable[dict]) -> str:
    """The chart's HTML for `run_id`'s samples (an empty-state line when there are none)."""
    frame = metrics_frame(samples)
    head = (f"<div class='gpu-chart' data-run='{escape(run_id or '')}' "
            f"data-points='{len(frame)}'>")
    if frame.empty:
        return head + "<div class='gpu-chart-empty muted'>No GPU samples for this run yet.</div>" \
            "</div>"
    end = max(float(frame["t"].max()), 1.0)
    inner_w, inner_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(t: float) -> float:
        return LEFT + inner_w * t / end

    def y(percent: float) -> float:
        return TOP + inner_h * (1 - max(0.0, min(100.0, percent)) / 100)

    parts = [f"<svg viewBox='0 0 {WIDTH} {HEIGHT}' role='img' class='gpu-chart-svg' "
             f"aria-label='{TITLE}' preserveAspectRatio='xMinYMid meet'>"]
    for p in (0, 25, 50, 75, 100):
        parts.append(f"<line x1='{LEFT}' x2='{WIDTH - RIGHT}' y1='{y(p):.1f}' y2='{y(p):.1f}' "
                     f"class='gc-grid'/><text x='{LEFT - 6}' y='{y(p) + 4:.1f}' "
                     f"class='gc-label' text-anchor='end'>{p}%</text>")
    for t in _ticks(end):
        parts.append(f"<text x='{x(t):.1f}' y='{HEIGHT - 10}' class='gc-label' "
                     f"text-anchor='middle'>{t:g} s</text>")
    series = sorted(set(frame["series"]))
    gpus = sorted({name.split()[1] for name in series})
    legend = []
    for name in series:
        rows = frame[frame["series"] == name].sort_values("t")
        gpu = name.split()[1]
        colour = COLOURS[gpus.index(gpu) % len(COLOURS)]
        dash = " stroke-dasharray='5 3'" if name.endswith("memory") else ""
        points = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in zip(rows["t"], rows["percent"]))
        last = float(rows["percent"].iloc[-1])
        parts.append(f"<polyline points='{points}' fill='none' stroke='{colour}' "
                     f"stroke-width='2'{dash} data-series='{escape(name)}'>"
                     f"<title>{escape(name)}: {last:.0f}% now</title></polyline>")
        legend.append(f"<span class='gc-key'><svg width='18' height='8'><line x1='0' x2='18' "
                      f"y1='4' y2='4' stroke='{colour}' stroke-width='2'{dash}/></svg>"
                      f"{escape(name)} <b>{last:.0f}%</b></span>")
    parts.append("</svg>")
    return (head + f"<div class='gpu-chart-title'>{TITLE}</div>" + "".join(parts)
            + "<div class='gpu-chart-legend'>" + "".join(legend) + "</div></div>")


CSS = """
.gpu-chart { padding: 4px 8px; }
.gpu-chart-title { font-weight: 600; font-size: 0.9em; margin-bottom: 2px; }
.gpu-chart-svg { width: 100%; height: auto; max-height: 240px; display: block; }
.gpu-chart .gc-grid { stroke: var(--border-color-primary, #d1d5db); stroke-width: 1; }
.gpu-chart .gc-label { font-size: 11px; fill: var(--body-text-color-subdued, #6b7280); }
.gpu-chart-legend { display: flex; flex-wrap: wrap; gap: 4px 14px; font-size: 0.85em; }
.gpu-chart .gc-key { display: inline-flex; align-items: center; gap: 4px; }
"""


__all__ = ["gpu_chart_html", "CSS", "TITLE"]
