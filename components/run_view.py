"""The run view: pick a run, watch its status, progress and live log, play its video, kill it.

It only reads the store (through `operations`) on a short timer, so any tab, a reloaded page
or a second browser sees the same live truth; nothing about the run lives in the page.
"""

from __future__ import annotations

import html
import time
from typing import Any

import gradio as gr

from backend.operations import NotFound, Operations, RunSummary

LOG_TAIL_LINES = 600
TICK_SECONDS = 0.3


def run_label(run: RunSummary) -> str:
    title = run.name or run.prompt[:48] or "(no prompt)"
    return f"{title} · {run.status} · {run.id[-6:]}"


def status_html(run: RunSummary) -> str:
    """The run's header: status badge, where it runs, how long, and why it failed."""
    e = html.escape
    lines = [f"<div class='run-head'><span class='run-title'>{e(run.name or run.prompt[:60] or 'Run')}"
             f"</span> <span id='run-status' class='badge badge-{e(run.status)}' "
             f"data-status='{e(run.status)}'>{e(run.status)}</span></div>",
             f"<div class='run-meta'><code>{e(run.id)}</code> on <b>{e(run.host)}</b>"
             + (" · <i>simulated</i>" if run.simulated else "")]
    if run.started_at:
        end = run.finished_at or time.time()
        lines[-1] += f" · elapsed {end - run.started_at:.1f} s"
    lines[-1] += "</div>"
    if run.cancel_requested and not run.is_terminal:
        lines.append(f"<div class='run-stopping'>Stopping ({e(run.cancel_requested)})…</div>")
    if run.failure_cause:
        lines.append(f"<div id='run-cause' class='run-cause'><b>Cause:</b> "
                     f"{e(run.failure_cause)}</div>")
        if run.failure_evidence:
            lines.append(f"<pre class='run-evidence'>{e(run.failure_evidence[:400])}</pre>")
    return "\n".join(lines)


def progress_html(run: RunSummary) -> str:
    progress = run.progress or {}
    fraction = 1.0 if run.status == "completed" else float(progress.get("fraction") or 0.0)
    phase = progress.get("phase") or run.status
    detail = []
    if progress.get("n_clips"):
        detail.append(f"clip {progress.get('clip') or 0}/{progress['n_clips']}")
    if progress.get("total_frames"):
        detail.append(f"{progress['total_frames']} frames")
    eta = progress.get("eta_seconds")
    if eta is not None and not run.is_terminal:
        detail.append(f"ETA {eta:.0f} s")
    pct = max(0.0, min(1.0, fraction)) * 100
    return (f"<div id='run-progress' data-fraction='{fraction:.3f}'>"
            f"<progress max='100' value='{pct:.1f}' style='width:100%'></progress>"
            f"<div>{html.escape(str(phase))} · {pct:.0f}%"
            f"{' · ' + html.escape(' · '.join(detail)) if detail else ''}</div></div>")


class RunView:
    def __init__(self, ops: Operations, selected_run: gr.State) -> None:
        self.ops = ops
        self.selected_run = selected_run
        with gr.Column(elem_id="run-view"):
            with gr.Row():
                self.picker = gr.Dropdown(label="Run", choices=[], value=None, scale=4,
                                          elem_id="run-picker", allow_custom_value=False)
            self.status = gr.HTML("<div class='run-meta'>No run selected yet: launch one from "
                                  "<b>Create</b>.</div>", elem_id="run-status-box")
            self.progress = gr.HTML(elem_id="run-progress-box")
            self.log = gr.Textbox(label="Log", lines=16, max_lines=16, autoscroll=True,
                                  interactive=False, elem_id="run-log")
            self.video = gr.Video(label="Output", interactive=False, elem_id="run-video",
                                  autoplay=True, loop=True)
            with gr.Row():
                self.force = gr.Checkbox(label="Force (SIGKILL now, no grace period)",
                                         value=False, elem_id="kill-force")
                self.kill = gr.Button("Kill", variant="stop", elem_id="kill-button",
                                      interactive=False)
            self.kill_message = gr.Markdown(elem_id="kill-message")
            self.shown_video = gr.State(None)
            self.timer = gr.Timer(TICK_SECONDS)
        self._wire()

    def _choices(self) -> list[tuple[str, str]]:
        return [(run_label(r), r.id) for r in self.ops.list_runs(limit=100)]

    def refresh(self, selected: str | None, shown_video: str | None):
        """One timer tick: everything the view shows, read fresh from the store."""
        choices = self._choices()
        if not selected and choices:
            selected = choices[0][1]
        picker = gr.update(choices=choices, value=selected)
        if not selected:
            return (selected, picker, gr.skip(), "", "", gr.skip(), shown_video,
                    gr.update(interactive=False))
        try:
            run = self.ops.get_run(selected)
        except NotFound:
            return (None, picker, "That run no longer exists.", "", "", None, None,
                    gr.update(interactive=False))
        lines = self.ops.log_since(run.id, max(-1, run.log_lines - LOG_TAIL_LINES - 1))
        log_text = "\n".join(text for _, text in lines)
        video: Any = gr.skip()
        if run.output_path != shown_video:
            video = run.output_path
            shown_video = run.output_path
        return (selected, picker, status_html(run), progress_html(run), log_text, video,
                shown_video, gr.update(interactive=not run.is_terminal))

    def _on_kill(self, selected: str | None, force: bool):
        if not selected:
            return "No run selected."
        try:
            run = self.ops.kill(selected, force=bool(force))
        except NotFound:
            return "That run no longer exists."
        if run.status == "cancelled":
            return "Run cancelled before it started."
        if run.is_terminal:
            return f"Run already ended ({run.status})."
        return ("Force-killing the container…" if force else
                "Stopping the container (graceful: SIGTERM, then SIGKILL after the grace "
                "period)…")

    def _wire(self) -> None:
        outputs = [self.selected_run, self.picker, self.status, self.progress, self.log,
                   self.video, self.shown_video, self.kill]
        self.timer.tick(self.refresh, [self.selected_run, self.shown_video], outputs,
                        show_progress="hidden", api_visibility="private")
        self.picker.input(lambda value: value, self.picker, self.selected_run,
                          show_progress="hidden", api_visibility="private")
        self.kill.click(self._on_kill, [self.selected_run, self.force], self.kill_message,
                        api_visibility="private")
