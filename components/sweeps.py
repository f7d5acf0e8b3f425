"""The Sweeps tab: a sweep's runs as a grid with labelled axes (x columns, y rows, one grid
per z value), every finished cell's video playing in sync, a click on a cell opening its run
in the Runs tab, and "Export grid MP4" (the same file as `cosmos export grid`).

The grid is plain HTML rendered from operations.sweep(); its script (SYNC_JS) keeps the
videos on one clock: the first video leads, the others follow it when they drift, and Pause
or a seek puts every video on the leader's frame. It re-renders when one of the sweep's runs
ends while the tab shows (the page's live signal).
"""

from __future__ import annotations

import hashlib
from typing import Any

import gradio as gr

from backend import accounts
from backend.media import MediaError
from backend.operations import NotFound, Operations, Refused
from backend.sweeps.axes import Axis
from backend.sweeps.grid import title_text
from components.common import TAB_RUNS, TAB_SWEEPS, badge, e, event_data, file_url, fmt_time
from components.gallery import wants_ended_on
from components.nav import Nav
from cosmos_ui import auth

SYNC_JS = """
const all = () => Array.from(element.querySelectorAll('video.sw-video'));
const isLead = (v) => { const vs = all(); return vs.length && vs[0] === v; };
const follow = (lead) => {
  for (const v of all().slice(1)) {
    if (Math.abs(v.currentTime - lead.currentTime) > 0.08) v.currentTime = lead.currentTime;
    if (!lead.paused && v.paused) v.play().catch(() => {});
  }
};
// media events do not bubble: listen in the capture phase, so videos of a re-rendered grid
// are followed without listeners of their own
element.addEventListener('timeupdate', (ev) => { if (isLead(ev.target)) follow(ev.target); }, true);
element.addEventListener('seeked', (ev) => { if (isLead(ev.target)) follow(ev.target); }, true);
element.addEventListener('play', (ev) => {
  if (!isLead(ev.target)) return;
  for (const v of all().slice(1)) v.play().catch(() => {});
  element.dataset.state = 'playing';
}, true);
element.addEventListener('pause', (ev) => {
  if (!isLead(ev.target)) return;
  const lead = ev.target;
  for (const v of all()) { v.pause(); v.currentTime = lead.currentTime; }
  element.dataset.state = 'paused';
}, true);
element.addEventListener('click', (ev) => {
  const ctl = ev.target.closest('[data-sw]');
  if (ctl) {
    const lead = all()[0];
    if (!lead) return;
    if (ctl.dataset.sw === 'pause') lead.pause();
    else if (ctl.dataset.sw === 'play') lead.play().catch(() => {});
    else if (ctl.dataset.sw === 'restart') { lead.currentTime = 0; lead.play().catch(() => {}); }
    return;
  }
  const cell = ev.target.closest('[data-run]');
  if (cell) trigger('select', {run: cell.dataset.run});
});
"""


def _cell_html(cell: dict[str, Any] | None, allowed: bool) -> str:
    if cell is None:
        return "<td class='sw-cell sw-empty' data-status='none'><div class='sw-ph'>no run" \
               "</div></td>"
    run_id, status = cell["run_id"], cell["status"]
    if not allowed:
        return "<td class='sw-cell sw-empty' data-status='hidden'><div class='sw-ph'>not " \
               "shared with you</div></td>"
    label = e(cell["label"])
    if status == "completed" and cell["video"]:
        poster = f" poster='{e(file_url(cell['thumbnail']))}'" if cell["thumbnail"] else ""
        body = (f"<video class='sw-video' src='{e(file_url(cell['video']))}'{poster} muted loop "
                "playsinline autoplay preload='auto'></video>")
    else:
        text = cell["failure_cause"] or ""
        cause = f"<div class='sw-cause'>{e(text[:160] + ('...' if len(text) > 160 else ''))}" \
            "</div>" if text else ""
        body = f"<div class='sw-ph'>{badge(status)}{cause}</div>"
    return (f"<td class='sw-cell' data-run='{e(run_id)}' data-status='{e(status)}' "
            f"data-x='{cell['x']}' data-y='{cell['y']}' data-z='{cell['z']}' "
            f"title='{label}: open the run'>{body}</td>")


def grid_html(sweep: dict[str, Any] | None, allows: Any = lambda run_id: True) -> str:
    """Every page of the sweep as a table: header row of x values, a y value per row."""
    if sweep is None:
        return ("<div id='sweep-grid' class='muted' data-sweep=''>No sweep picked: make one "
                "in Create (Sweep), or pick one above.</div>")
    axes = [Axis.from_dict(a) for a in sweep["axes"]]
    x_axis, y_axis = axes[0], axes[1] if len(axes) > 1 else None
    pages = len(axes[2].values) if len(axes) > 2 else 1
    cells = {(c["x"], c["y"], c["z"]): c for c in sweep["cells"]}
    counts = ", ".join(f"{n} {s}" for s, n in sorted(sweep["statuses"].items()))
    parts = [f"<div id='sweep-grid' data-sweep='{e(sweep['id'])}' data-cells='{len(cells)}'>",
             f"<div class='sw-head'><b>{e(sweep['name'] or sweep['prompt'][:80])}</b> "
             f"<code>{e(sweep['id'])}</code> <span class='muted'>{e(sweep['owner'])} · "
             f"{fmt_time(sweep['created_at'])} · {sweep['runs']} runs: {e(counts)}</span></div>",
             "<div class='sw-controls'><button type='button' data-sw='play'>Play all</button>"
             "<button type='button' data-sw='pause' id='sweep-pause'>Pause all</button>"
             "<button type='button' data-sw='restart'>From the start</button>"
             "<span class='muted'> Click a cell to open its run.</span></div>"]
    for z in range(pages):
        parts.append(f"<div class='sw-page' data-z='{z}'><div class='sw-title'>"
                     f"{e(title_text(axes, z, sep=' · '))}</div><table class='sw-table'><tr>")
        corner = f"{y_axis.name} \\ {x_axis.name}" if y_axis else ""
        parts.append(f"<th class='sw-corner'>{e(corner)}</th>" + "".join(
            f"<th class='sw-col'>{e(x_axis.label(i))}</th>" for i in range(len(x_axis.values))))
        parts.append("</tr>")
        for y in range(len(y_axis.values) if y_axis else 1):
            parts.append("<tr>" + f"<th class='sw-row'>{e(y_axis.label(y)) if y_axis else ''}"
                         "</th>")
            for x in range(len(x_axis.values)):
                cell = cells.get((x, y, z))
                parts.append(_cell_html(cell, cell is None or allows(cell["run_id"])))
            parts.append("</tr>")
        parts.append("</table></div>")
    parts.append("</div>")
    return "".join(parts)


def sweep_line(cell: dict[str, Any] | None) -> str:
    """The run view's note that a run is a cell of a sweep (empty when it is not)."""
    if not cell:
        return ""
    name = f" {e(cell['name'])}" if cell["name"] else ""
    return (f"<div class='run-meta' id='run-sweep' data-sweep='{e(cell['sweep_id'])}'>Cell "
            f"<b>{e(cell['label'])}</b> of sweep{name} <code>{e(cell['sweep_id'])}</code> "
            "(its grid is in <b>Sweeps</b>)</div>")


def sweep_choices(ops: Operations) -> list[tuple[str, str]]:
    out = []
    for s in ops.sweeps(limit=50):
        axes = " x ".join(f"{a['name']}({len(a['values'])})" for a in s["axes"])
        out.append((f"{(s['name'] or s['prompt'])[:40]} · {axes} · {s['id'][-6:]}", s["id"]))
    return out


_ENDED = wants_ended_on(TAB_SWEEPS)


def wants_sweeps_changed(page: Any, events: Any) -> bool:
    """A live-signal rule: while Sweeps shows, a run ended or a sweep was queued."""
    return _ENDED(page, events) or (page.tab == TAB_SWEEPS and
                                    any(e.kind == "sweep" for e in events))


SWEEP_CSS = """
#sweep-grid .sw-table { border-collapse: collapse; margin: 6px 0 14px; }
#sweep-grid th { font-weight: 600; padding: 4px 8px; white-space: nowrap; }
#sweep-grid .sw-cell { padding: 2px; cursor: pointer; vertical-align: middle; }
#sweep-grid .sw-cell video { width: 240px; display: block; border-radius: 4px; }
#sweep-grid .sw-ph { width: 240px; height: 135px; display: flex; flex-direction: column;
                     align-items: center; justify-content: center; background: #3a1e1e;
                     color: #eee; border-radius: 4px; font-size: 12px; text-align: center; }
#sweep-grid .sw-cause { color: #f3dede !important; padding: 4px 8px; max-height: 96px;
                        overflow: hidden; }
#sweep-grid .sw-cell:hover { outline: 2px solid var(--color-accent); }
#sweep-grid .sw-title { font-weight: 600; margin-top: 8px; }
#sweep-grid .sw-controls button { margin-right: 6px; padding: 2px 10px;
                                  border: 1px solid var(--border-color-primary);
                                  border-radius: 4px; }
"""


class SweepsView:
    def __init__(self, ops: Operations, nav: Nav, live: Any) -> None:
        self.ops = ops
        self.nav = nav
        self.selected = gr.State(None)
        with gr.Column(elem_id="sweeps"):
            with gr.Row():
                self.pick = gr.Dropdown(label="Sweep", choices=[], allow_custom_value=True,
                                        elem_id="sweep-pick", scale=4)
                self.refresh = gr.Button("Refresh", size="sm", scale=0, elem_id="sweep-refresh",
                                         min_width=90)
            self.grid = gr.HTML(grid_html(None), js_on_load=SYNC_JS, elem_id="sweep-grid-box")
            with gr.Row():
                self.export = gr.Button("Export grid MP4", size="sm", elem_id="sweep-export",
                                        scale=0, min_width=160)
                self.export_message = gr.Markdown(elem_id="sweep-export-message")
            self.export_file = gr.File(label="Grid MP4", interactive=False, visible=False,
                                       elem_id="sweep-export-file")
        self.shown = gr.State("")
        self.changed = live.signal("sweeps", wants_sweeps_changed)

    def render(self, sweep_id: str | None, shown: str, request: gr.Request = None):
        """Outputs: pick (choices, value), grid, shown-hash. A page opened from a review
        link sees no sweeps (their names and prompts are not the link's to share); its runs
        are in Runs and Gallery."""
        scope = self.nav.scope(request)
        if not scope.everything:
            html = ("<div id='sweep-grid' class='muted' data-sweep=''>Sweeps are not part of "
                    "a review link; its versions are in Runs and Gallery.</div>")
            digest = hashlib.sha1(html.encode()).hexdigest()
            return (gr.update(choices=[], value=None), html if digest != shown else gr.skip(),
                    digest)
        choices = sweep_choices(self.ops)
        if not sweep_id and choices:
            sweep_id = choices[0][1]
        try:
            sweep = self.ops.sweep(sweep_id) if sweep_id else None
        except NotFound:
            sweep = None
        html = grid_html(sweep, scope.allows)
        digest = hashlib.sha1(html.encode()).hexdigest()
        return (gr.update(choices=choices, value=sweep["id"] if sweep else None),
                html if digest != shown else gr.skip(), digest)

    def _open(self, evt: gr.EventData, request: gr.Request):
        """A cell was clicked: its run in the Runs tab. Outputs: selected run, tabs."""
        run_id = str(event_data(evt).get("run") or "")
        if not run_id or not self.nav.scope(request).allows(run_id):
            return gr.skip(), gr.skip()
        return run_id, self.nav.goto(TAB_RUNS)

    def _export(self, sweep_id: str | None, request: gr.Request):
        """Outputs: message, file."""
        auth.check(self.ops, request, accounts.LAUNCH)
        if not sweep_id:
            return "Pick a sweep first.", gr.update(visible=False)
        try:
            path = self.ops.export_grid(sweep_id)
        except (NotFound, Refused, MediaError) as exc:
            return f"**Not exported.** {e(str(exc))}", gr.update(visible=False)
        return (f"Exported <a href='{e(file_url(path))}' id='sweep-export-link' download>"
                f"{e(path.name)}</a>.", gr.update(value=str(path), visible=True))

    def wire(self) -> None:
        quiet = dict(api_visibility="private", show_progress="hidden")
        inputs, outputs = [self.selected, self.shown], [self.pick, self.grid, self.shown]
        self.nav.on_show(TAB_SWEEPS, self.render, inputs, outputs)
        self.changed.change(self.render, inputs, outputs, **quiet)
        self.selected.change(self.render, inputs, outputs, **quiet)
        self.refresh.click(self.render, inputs, outputs, **quiet)
        self.pick.input(lambda v: v, self.pick, self.selected, **quiet)
        self.grid.select(self._open, None, [self.nav.selected_run, self.nav.switch], **quiet)
        self.export.click(self._export, self.pick, [self.export_message, self.export_file],
                          api_visibility="private")
