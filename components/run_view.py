"""One run's details: live log, progress, GPU plot, parameters, command, video, the control
videos its model wrote, and actions.

It is pushed by the page's stream (components/live.py) whenever an event concerns the run
shown: a log line, progress, a status change (from any process). Each update reads the store
(through `operations`), so any tab, a reloaded page or a second browser sees the same live
truth; nothing about the run lives in the page. An update costs two indexed reads (the run
row, then only the log lines after the last one sent), plus the GPU samples every couple of
seconds while the run is active.
"""

from __future__ import annotations

import re
import time
from typing import Any

import gradio as gr

from backend.operations import NotFound, Operations
from backend.store.history import RunFilter
from components.common import TAB_RUNS
from components.live import HEARTBEAT, DirectView, LivePage, PageState
from components.gpu_chart import gpu_chart_html
from components.log_panel import LogPanel, log_payload
from components.nav import Nav
from components.review_room import ReviewRoom
from components.reviews import Reviews
from components.webhooks_panel import DeliveryLog
from components.run_actions import RunActions
from components.run_details import (model_files_html, params_html,
                                    progress_html, recipe_html, status_html)
from components.sweeps import sweep_line

LOG_TAIL_LINES = 1000
#: While the shown run is active the view looks again this often even without an event (a
#: safety net: events carry every change; the elapsed time moves in the page by itself).
ACTIVE_REFRESH = 5.0
_CLOCK = re.compile(r"<span class='live-clock' data-seconds='[0-9.]+'>[^<]*</span>")
#: Events about the run shown that change what the view shows.
RUN_EVENTS = ("status", "log", "progress", "transfer")
EMPTY = ("<div class='run-meta' id='run-empty'>No run selected yet: launch one from "
         "<b>Create</b> or pick one in the table above.</div>")
#: Shown until the page's stream has said which run is shown (never "no run" in between).
LOADING = "<div class='run-meta' id='run-loading'>Loading the run...</div>"


def log_note(run: Any) -> str:
    """What the log panel says while it has no line (never a blank box)."""
    if run.status == "queued":
        return f"Queued on {run.host}: the log starts when the run does."
    if run.status in ("pending", "preparing", "staging"):
        return f"{run.status.capitalize()} on {run.host}: the log starts with the container."
    return "No log lines."


class RunView(RunActions, DirectView):
    def __init__(self, ops: Operations, nav: Nav, create: Any, live: LivePage) -> None:
        self.ops = ops
        self.nav = nav
        self.create = create
        self.live = live
        with gr.Column(elem_id="run-view"):
            self.status = gr.HTML(LOADING, elem_id="run-status-box", js_on_load=None)
            self.progress = gr.HTML(elem_id="run-progress-box", js_on_load=None)
            with gr.Row(elem_id="run-actions"):
                self.rerun = gr.Button("Re-run", size="sm", elem_id="rerun-button",
                                       interactive=False)
                self.load = gr.Button("Load settings into Create", size="sm",
                                      elem_id="load-settings-button", interactive=False)
                self.upscale = gr.Button("Upscale to 4K", size="sm", elem_id="upscale-button",
                                         interactive=False)
                self.kill = gr.Button("Kill", size="sm", variant="stop", elem_id="kill-button",
                                      interactive=False)
                self.delete = gr.Button("Delete", size="sm", elem_id="delete-button",
                                        interactive=False)
            with gr.Group(visible=False, elem_id="kill-confirm-box") as self.kill_box:
                self.kill_text = gr.Markdown()
                self.force = gr.Checkbox(label="Force (SIGKILL now, no grace period)",
                                         value=False, elem_id="kill-force")
                with gr.Row():
                    self.kill_confirm = gr.Button("Yes, stop it", variant="stop", size="sm",
                                                  elem_id="kill-confirm")
                    self.kill_cancel = gr.Button("Cancel", size="sm", elem_id="kill-cancel")
            with gr.Group(visible=False, elem_id="delete-confirm-box") as self.delete_box:
                self.delete_text = gr.HTML(js_on_load=None, elem_id="delete-preview",
                                           padding=True)
                with gr.Row():
                    self.delete_confirm = gr.Button("Delete for good", variant="stop",
                                                    size="sm", elem_id="delete-confirm")
                    self.delete_cancel = gr.Button("Cancel", size="sm", elem_id="delete-cancel")
            self.message = gr.Markdown(elem_id="kill-message")
            self.log = LogPanel("run-log")
            # the review room: versions, status, the player with notes and drawings (issue 17)
            self.room = ReviewRoom(ops, nav, live, create)
            self.video = self.room.player
            # plain SVG (components/gpu_chart.py): redrawn by the run's channel while it runs
            self.plot = gr.HTML(gpu_chart_html(None, []), elem_id="gpu-plot", js_on_load=None)
            # plain HTML (video tags), pushed by the page's stream like the status
            self.model_files = gr.HTML("", elem_id="run-model-files-box", js_on_load=None)
            with gr.Accordion("Parameters", open=True):
                self.params = gr.HTML(elem_id="run-params-box", js_on_load=None)
            with gr.Accordion("Command and spec", open=False, elem_id="run-command-box"):
                self.command = gr.Code(label="Exact docker command", language="shell",
                                       interactive=False, elem_id="run-command", wrap_lines=True)
                self.spec = gr.Code(label="Spec JSON as sent", language="json",
                                    interactive=False, elem_id="run-spec", wrap_lines=True)
                self.recipe = gr.HTML("", elem_id="run-recipe-box", js_on_load=None)
            DeliveryLog(ops, nav.selected_run)
            self.reviews = Reviews(ops, nav)
        selected = nav.selected_run
        # The GPU chart follows the run on its channel (cosmos_ui/log_channel.py); without
        # one (the page's channel closed) it re-renders by ordinary events: when the shown
        # run changes, and on the host's telemetry.
        self.plot_signal = live.signal("gpu-plot", self._wants_plot)
        self.outputs = [selected, self.status, self.progress, self.log.html, self.video,
                        self.params, self.command, self.spec,
                        self.model_files, self.recipe, self.rerun, self.load, self.upscale, self.kill,
                        self.delete, self.message, nav.shown_status, self.kill_box,
                        self.delete_box]
        live.direct(self)
        nav.show_run = lambda run_id, request: self.shown_now(run_id, request)
        self._wire()

    # -- what the page's stream asks ------------------------------------------------------------
    def live_update(self, page: PageState, events, first: bool) -> list[Any] | None:
        """The view's outputs when something it shows changed (None: nothing to send)."""
        data = page.data.setdefault("run_view", {"cursor": {}, "resets": 0})
        if not data.get("loaded"):
            return None  # the page has not said which run it shows yet (?run= in the URL)
        if page.tab != TAB_RUNS:
            # Not while the Runs tab is hidden: its content mounts with the last value sent,
            # so a hidden push of "no run" showed for a moment after a launch switched to
            # Runs, before the new run arrived. _on_runs_shown pushes when it shows.
            return None
        cursor = data["cursor"]
        shown = cursor.get("run")
        relevant = (first or data.pop("dirty", False) or shown != page.selected
                    or any(e.run_id == shown and e.kind in RUN_EVENTS for e in events)
                    or (page.selected is None and any(e.kind == "status" for e in events)))
        active = cursor.get("status") not in (None, "completed", "failed", "cancelled",
                                              "blocked")
        now = time.time()
        if not relevant and active and now - data.get("sent_at", 0) >= ACTIVE_REFRESH * 0.9:
            relevant = True  # the elapsed time and GPU plot move on their own
        if not relevant:
            return None
        scope = self.nav.scope_of_page(page)
        if page.selected and not scope.allows(page.selected):
            page.selected = None  # not part of the review link this page shows
        elsewhere = (page.data.get("log_channel") or {}).get("seq", -1) \
            if page.log_channel_open(cursor.get("run")) else None
        values = self.refresh(page.selected, cursor, data["resets"], scope.filter_ids(),
                              channel=page.channel, sent_elsewhere=elsewhere)
        data["cursor"] = values.pop()
        data["sent_at"] = now
        if isinstance(values[0], str):
            page.selected = values[0]  # the newest run, shown when none was picked
        return values

    def wait_for(self, page: PageState) -> float:
        cursor = page.data.get("run_view", {}).get("cursor", {})
        done = cursor.get("status") in (None, "completed", "failed", "cancelled", "blocked")
        return HEARTBEAT if done else ACTIVE_REFRESH

    def shown_now(self, selected: str | None, request: gr.Request) -> None:
        """The page changed which run it shows (a click, a launch, the URL): push it now."""
        page = self.live.page(request)
        page.selected = selected or None
        data = page.data.setdefault("run_view", {"cursor": {}, "resets": 0})
        data.update(loaded=True, dirty=True)
        page.nudge()

    def answer_open(self, run_id: str, request: gr.Request) -> list[Any]:
        """What the view shows for `run_id`, for the answer of the click that opened it
        (`answer_outputs`: the view's outputs but the selection, which the click sets)."""
        def prepare(page: PageState) -> None:
            page.selected = run_id or None
            page.data.setdefault("run_view", {"cursor": {}, "resets": 0}).update(loaded=True)

        return self.live.answer(self, request, prepare)[1:]

    @property
    def answer_outputs(self) -> list[Any]:
        return list(self.outputs[1:])

    def _on_runs_shown(self, request: gr.Request) -> None:
        """The Runs tab shows: push the view now (nothing was pushed while it was hidden)."""
        page = self.live.page(request)
        page.data.setdefault("run_view", {"cursor": {}, "resets": 0})["dirty"] = True
        page.nudge()

    def log_reset(self, request: gr.Request) -> None:
        """The log panel asks for the whole tail again (it reappeared, or saw a gap)."""
        page = self.live.page(request)
        data = page.data.setdefault("run_view", {"cursor": {}, "resets": 0})
        data["resets"] += 1
        data["dirty"] = True
        page.nudge()

    # -- the live tick ------------------------------------------------------------------------
    def _buttons(self, run: Any) -> list[Any]:
        done = run.is_terminal
        return [gr.update(interactive=True),
                gr.update(interactive=run.run_type != "upscale"),
                gr.update(interactive=run.status == "completed" and run.run_type == "inference"
                          and self.ops.can_upscale(run.host)),
                gr.update(interactive=not done,
                          value="Remove from queue" if run.status == "queued" else "Kill"),
                gr.update(interactive=done)]

    def refresh(self, selected: str | None, cursor: dict | None, resets: int,
                allowed: tuple[str, ...] | None = (), *, channel: str = "",
                sent_elsewhere: int | None = None):
        """Everything the view shows, read fresh; unchanged parts are skipped. `allowed`:
        the runs a review link shows (() any, None none). `channel`: the page's log channel
        token, given to its log panel; `sent_elsewhere`: the last log line that channel sent
        while it is open (no new lines go this way then)."""
        cursor = dict(cursor or {})
        skip = gr.skip()
        auto = not selected  # nothing picked yet: show the newest run
        if auto:
            if allowed:
                newest, _ = self.ops.find_runs(RunFilter(ids=allowed), limit=1)
            else:
                newest = self.ops.list_runs(limit=1) if allowed is not None else []
            selected = newest[0].id if newest else None
        hidden = ["", ""]  # the model's files and recipe
        if not selected:  # nothing to show (or nothing this page's review link allows)
            shown_before = bool(cursor.get("run"))
            return [None if shown_before else skip, EMPTY, "",
                    log_payload(None, [], reset=True, total=0) if shown_before else skip, "",
                    "", "", "", *hidden,
                    *[gr.update(interactive=False)] * 5, skip, skip,
                    *(_closed() if shown_before else [skip, skip]), {}]
        try:
            run = self.ops.get_run(selected)
        except NotFound:
            return [None, "<div class='run-meta'>That run no longer exists.</div>", "",
                    log_payload(None, [], reset=True, total=0), "", "", "", "", *hidden,
                    *[gr.update(interactive=False)] * 5, skip, skip, *_closed(), {}]
        new_run = cursor.get("run") != run.id
        reset = new_run or cursor.get("resets") != resets
        log_out: Any = skip
        if reset:
            lines = self.ops.log_since(run.id, max(-1, run.log_lines - LOG_TAIL_LINES - 1),
                                       limit=LOG_TAIL_LINES)
            log_out = log_payload(run.id, lines, reset=True, total=run.log_lines,
                                  note=log_note(run), channel=channel,
                                  live=not run.is_terminal)
            cursor.update(run=run.id, resets=resets, seq=lines[-1][0] if lines else -1)
        elif sent_elsewhere is not None:  # the log channel sends the new lines
            cursor["seq"] = max(cursor.get("seq", -1), sent_elsewhere)
        elif run.log_lines - 1 > cursor.get("seq", -1):
            lines = self.ops.log_since(run.id, cursor.get("seq", -1), limit=2000)
            if lines:
                log_out = log_payload(run.id, lines, reset=False, total=run.log_lines)
                cursor["seq"] = lines[-1][0]
        changed = new_run or cursor.get("status") != run.status
        video: Any = skip
        if new_run or run.output_path != cursor.get("video"):
            video = self.room.player_value(run)
            cursor["video"] = run.output_path
        now = time.time()
        cursor["host"] = run.host
        static = [params_html(run), run.command or "(set when the run starts: GPUs and port "
                  "are picked then)", run.spec or "", model_files_html(run),
                  recipe_html(run)] if changed else [skip] * 5
        buttons = self._buttons(run) if changed else [skip] * 5
        # a status change of the same run makes "Stopping..." messages stale
        message = "" if changed and not new_run else skip
        shown = f"{run.id}:{run.status}" if changed else skip
        cursor["status"] = run.status
        if new_run:  # where the run sits in a sweep, read once per run shown
            cursor["sweep"] = sweep_line(self.ops.sweep_of_run(run.id))
        status = status_html(run, now) + cursor.get("sweep", "")
        return [run.id if auto else skip, self._unless_sent(cursor, "status_html", status,
                                                            new_run),
                self._unless_sent(cursor, "progress_html", progress_html(run), new_run),
                log_out, video, *static, *buttons, message, shown,
                *(_closed() if new_run else [skip, skip]), cursor]

    @staticmethod
    def _unless_sent(cursor: dict, key: str, html: str, new_run: bool) -> Any:
        """`html`, or gr.skip() if the page already shows it (its live clocks aside: they
        move in the page), so a look that finds nothing new sends nothing."""
        same = _CLOCK.sub("", html)
        if not new_run and cursor.get(key) == same:
            return gr.skip()
        cursor[key] = same
        return html

    def _wants_plot(self, page: PageState, events) -> bool:
        """Re-render the plot on the shown run's host telemetry while it is active (samples
        arrive with it), and when the shown run's status changes."""
        cursor = page.data.get("run_view", {}).get("cursor", {})
        shown = cursor.get("run")
        if not shown or page.log_channel_open(shown):
            return False  # the channel redraws it
        active = cursor.get("status") not in (None, "completed", "failed", "cancelled",
                                              "blocked")
        return any((e.kind == "status" and e.run_id == shown) or (
            active and e.kind == "telemetry" and getattr(e, "host", None) == cursor.get("host"))
            for e in events)

    def plot_now(self, selected: str | None) -> str:
        """The chart of the run shown (an ordinary event, see __init__)."""
        return gpu_chart_html(selected, self._metrics(selected) if selected else [])

    def _metrics(self, run_id: str) -> list[dict]:
        if not hasattr(self.ops, "gpu_metrics"):
            return []
        try:
            return self.ops.gpu_metrics(run_id)
        except Exception:  # telemetry is a nice-to-have; never break the view over it
            return []

    def _wire(self) -> None:
        self.nav.on_show(TAB_RUNS, self._on_runs_shown, [], [])
        private = dict(api_visibility="private")
        selected = self.nav.selected_run
        self.nav.on_selected(self.shown_now, [selected], [])
        self.nav.on_selected(self.plot_now, [selected], [self.plot])
        self.plot_signal.change(self.plot_now, selected, self.plot, show_progress="hidden",
                                **private)
        self.log.html.focus(self.log_reset, None, None, show_progress="hidden", queue=False,
                            **private)
        self.rerun.click(self._rerun, selected,
                         [self.message, selected, self.nav.launched], **private)
        self.upscale.click(self._upscale, selected, [self.message, selected, self.nav.launched], **private)
        self.load.click(self.create.load_run_settings, [selected, *self.create.components],
                        [*self.create.components, self.create.message, self.nav.switch],
                        show_progress="hidden", **private)
        self.kill.click(self._ask_kill, selected, [self.kill_box, self.kill_text], **private)
        self.kill_confirm.click(self._do_kill, [selected, self.force],
                                [self.kill_box, self.message], **private)
        self.kill_cancel.click(lambda: gr.Group(visible=False), None, self.kill_box, **private)
        self.delete.click(self._ask_delete, selected,
                          [self.delete_box, self.delete_text, self.message], **private)
        self.delete_confirm.click(self._do_delete, selected,
                                  [self.delete_box, self.message, selected], **private)
        self.delete_cancel.click(lambda: gr.Group(visible=False), None, self.delete_box,
                                 **private)
        # the Kill and Delete confirmations close when another run shows: in the message
        # that shows it (`refresh`), so a confirmation opened for the new run stays open


def _closed() -> list[Any]:
    """The Kill and Delete confirmations, closed (another run shows: they were for the last)."""
    return [gr.Group(visible=False), gr.Group(visible=False)]
