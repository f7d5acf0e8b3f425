"""The Usage tab: GPU-hours, run counts and failure rate per person, host or model.

The same numbers as `cosmos usage` (operations.usage: one GROUP BY in the store). GPU time
counts only while a run really ran; time waiting in Slurm's queue is its own column. It
renders when the tab shows and when a run ends while it shows.
"""

from __future__ import annotations

from typing import Any

import gradio as gr

from backend.operations import Operations, ValidationFailed
from components import lenient
from components.common import TAB_USAGE, e, fmt_time
from components.gallery import wants_ended_on
from components.nav import Nav

GROUPS = [("Person", "user"), ("Host", "host"), ("Model", "model")]


def usage_html(report: dict[str, Any]) -> str:
    """The usage table, busiest first, with a total row."""
    rows = report["rows"]
    if not rows:
        return "<div class='muted' id='usage-table'>No runs in this period.</div>"

    def cells(r: dict[str, Any], tag: str = "td") -> str:
        rate = "-" if r["failure_rate"] is None else f"{100 * r['failure_rate']:.0f}%"
        values = [e(str(r["key"])), f"{r['gpu_hours']:.2f}", str(r["runs"]),
                  str(r["completed"]), str(r["failed"]), rate, f"{r['run_hours']:.2f}",
                  f"{r['slurm_queue_hours']:.2f}"]
        return "".join(f"<{tag}>{v}</{tag}>" for v in values)

    label = {"user": "Person", "host": "Host", "model": "Model"}[report["by"]]
    head = "".join(f"<th>{h}</th>" for h in (label, "GPU-hours", "Runs", "Completed", "Failed",
                                               "Failure rate", "Hours on GPUs",
                                               "Hours in Slurm's queue"))
    body = "".join(f"<tr data-key='{e(str(r['key']))}'>{cells(r)}</tr>" for r in rows)
    total = f"<tr class='usage-total'>{cells(report['total'], 'th')}</tr>"
    since = f" since {fmt_time(report['since'])}" if report.get("since") else ""
    return (f"<div class='table-scroll'><table class='runs' id='usage-table'><tr>{head}</tr>"
            f"{body}{total}</table></div><div class='muted'>Runs created{since or ' ever'}. "
            "GPU-hours: each run's GPUs x the time it really ran (a running run counts so far; "
            "batch mates share their container's). Failure rate: failed of completed + failed."
            "</div>")


class UsageView:
    def __init__(self, ops: Operations, nav: Nav, live: Any) -> None:
        self.ops = ops
        with gr.Column(elem_id="usage"):
            with gr.Row():
                self.by = lenient.CheckedRadio(GROUPS, value="user", label="Group by",
                                               elem_id="usage-by")
                self.since = lenient.CheckedDateTime(label="Since (date, or e.g. now - 30d)",
                                                     include_time=False, elem_id="usage-since")
            self.table = gr.HTML(js_on_load=None, elem_id="usage-box")
        changed = live.signal("usage", wants_ended_on(TAB_USAGE))
        quiet = dict(api_visibility="private", show_progress="hidden")
        for trigger in (changed, self.by, self.since):
            trigger.change(self.render, [self.by, self.since], self.table, **quiet)
        nav.on_show(TAB_USAGE, self.render, [self.by, self.since], [self.table])

    def render(self, by: str | None, since: float | None) -> str:
        try:
            report = self.ops.usage(by=by or "user", since=since or None)
        except ValidationFailed as failed:
            return f"<div class='field-error-text' role='alert'>{e(str(failed))}</div>"
        return usage_html(report)
