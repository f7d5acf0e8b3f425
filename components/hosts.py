"""The Hosts tab: each GPU box's reachability, GPUs, running containers with their runs, orphan
containers (with a remove action) and the queue.

Everything comes from `operations.hosts_overview()`, which answers from the latest telemetry
event of each host and the store, never from a live SSH call, so a render is cheap and never
blocks. The page's live stream asks for one on every telemetry or status event while the tab
shows.
"""

from __future__ import annotations

from typing import Any, Sequence

import gradio as gr

from backend import accounts
from cosmos_ui import auth

from backend import store as st
from backend.store.history import RunFilter
from backend.operations import NotFound, Operations, Refused, ValidationFailed
from components.common import (TAB_HOSTS, TAB_RUNS, badge, e, event_data, fmt_ago,
                               run_title, sim_badge)
from components.nav import Nav
from components.webhooks_panel import WebhooksPanel


HOSTS_JS = """
element.addEventListener('click', (ev) => {
  const orphan = ev.target.closest('[data-orphan]');
  if (orphan) {
    if (window.confirm('Remove container ' + orphan.dataset.orphan + ' on ' + orphan.dataset.host + '? No run owns it.'))
      trigger('select', {action: 'remove', host: orphan.dataset.host, name: orphan.dataset.orphan});
    return;
  }
  const act = ev.target.closest('[data-host-action]');
  if (act) {
    trigger('select', {action: act.dataset.hostAction, host: act.dataset.host});
    return;
  }
  const run = ev.target.closest('[data-run]');
  if (run) trigger('select', {action: 'open', id: run.dataset.run});
});
"""


def _bar(percent: float | None) -> str:
    if percent is None:
        return "<span class='muted'>-</span>"
    p = max(0.0, min(100.0, float(percent)))
    return f"<span class='bar-mini'><span style='width:{p:.0f}%'></span></span> {p:.0f}%"


def _gpu_rows(gpus: Sequence[dict], error: str | None = None) -> str:
    if not gpus and error:  # a reachable box whose nvidia-smi fails: say how
        return f"<div class='run-cause' id='gpu-error'>{e(error)}</div>"
    if not gpus:
        return "<div class='muted'>No GPU readings (yet).</div>"
    rows = []
    for g in gpus:
        total, used = g.get("memory_total"), g.get("memory_used")
        mem = (f"{_bar(100.0 * used / total)} <span class='muted'>{used:.0f} / {total:.0f} "
               "MiB</span>") if total and used is not None else "-"
        temp = g.get("temperature")
        rows.append(f"<tr><td>{e(str(g.get('index', '?')))}</td><td>{e(str(g.get('name', '')))}"
                    f"</td><td>{_bar(g.get('utilization'))}</td><td>{mem}</td>"
                    f"<td>{'-' if temp is None else f'{temp:.0f} C'}</td></tr>")
    return ("<div class='table-scroll'><table class='runs'><tr><th>GPU</th><th>Name</th>"
            "<th>Utilisation</th><th>Memory</th><th>Temp</th></tr>" + "".join(rows) +
            "</table></div>")


def _run_list(runs: Sequence[Any], empty: str, waits: dict | None = None) -> str:
    if not runs:
        return f"<div class='muted'>{e(empty)}</div>"
    items = []
    for run in runs:
        gpus = f" · GPU {', '.join(str(g) for g in run.gpus)}" if run.gpus else (
            f" · {run.gpu_count} GPU(s)" if getattr(run, "gpu_count", 0) else "")
        owner = f" · <b>{e(run.owner)}</b>" if getattr(run, "owner", "") else ""
        why = (waits or {}).get(run.id)
        items.append(f"<li><a href='javascript:void(0)' data-run='{e(run.id)}'>"
                     f"{e(run_title(run, 50))}</a> {badge(run.status)} "
                     f"<code>{e(run.id[-8:])}</code>{owner}{gpus} "
                     f"<span class='muted'>{fmt_ago(run.started_at or run.created_at)}</span>"
                     + (f"<div class='wait-reason' data-run='{e(run.id)}'>waits: {e(why)}</div>"
                        if why else "") + "</li>")
    return "<ul>" + "".join(items) + "</ul>"


def _box_containers(containers: Sequence[dict]) -> str:
    """Every container on the box, ours or not, with its owner where its labels say."""
    if not containers:
        return "<div class='muted'>No containers on this box.</div>"
    rows = []
    for c in containers:
        whose = c.get("whose", "")
        who = e(c.get("owner") or "")
        run = c.get("run_id") or ""
        detail = {"ours": f"this installation{', ' + who if who else ''}",
                  "another installation": f"another installation{', ' + who if who else ''}",
                  }.get(whose, "not started by Cosmos (owner unknown)")
        gpus = ", ".join(str(g) for g in c.get("gpus") or []) or "-"
        rows.append(f"<tr data-whose='{e(whose)}'><td><code>{e(c.get('name', ''))}</code></td>"
                    f"<td>{e(detail)}</td><td>{e(run[-8:]) if run else '-'}</td><td>{gpus}</td>"
                    f"<td class='muted'>{e(c.get('status', ''))}</td></tr>")
    return ("<div class='table-scroll'><table class='runs box-containers'><tr><th>Container"
            "</th><th>Whose</th><th>Run</th><th>GPUs</th><th>Status</th></tr>" + "".join(rows)
            + "</table></div>")


def _taken(taken: dict) -> str:
    if not taken:
        return ""
    items = "".join(f"<li>GPU {e(str(g))}: {e(why)}</li>" for g, why in sorted(
        taken.items(), key=lambda kv: int(kv[0]) if str(kv[0]).isdigit() else 0))
    return f"<h4>GPUs used by others</h4><ul class='gpus-taken'>{items}</ul>"


def _containers(containers: Sequence[dict], runs: Sequence[Any]) -> str:
    """Our containers on the box, each with the run it belongs to (the full run id is in its
    name and label)."""
    if not containers:
        return "<div class='muted'>No containers of ours on this box.</div>"
    items = []
    for c in containers:
        name, labels = str(c.get("Names", "")), str(c.get("Labels", ""))
        owner = next((r for r in runs if r.id in name or f"={r.id}" in labels), None)
        link = (f" for <a href='javascript:void(0)' data-run='{e(owner.id)}'>"
                f"{e(run_title(owner, 40))}</a>") if owner else ""
        items.append(f"<li><code>{e(name)}</code> <span class='muted'>"
                     f"{e(str(c.get('Status', '')))}</span>{link}</li>")
    return "<ul class='containers'>" + "".join(items) + "</ul>"


def _doctor(h: dict) -> str:
    """Doctor's findings for the host: every miss with its fix, or how many checks pass."""
    report = h.get("doctor")
    name = e(h["name"])
    buttons = (f"<button type='button' class='pick-btn' data-host-action='recheck' "
               f"data-host='{name}'>Re-check</button> "
               f"<button type='button' class='pick-btn' data-host-action='setup' "
               f"data-host='{name}'>Set up</button>")
    setup = h.get("setup")
    if setup is not None:
        buttons += (f" <a href='javascript:void(0)' data-run='{e(setup.id)}' class='setup-run'>"
                    f"setup {badge(setup.status)}</a>")
    if not report:
        return f"<div class='doctor'><div class='muted'>Not checked yet.</div>{buttons}</div>"
    checks = report.get("checks") or []
    misses = [c for c in checks if c.get("status") != "ok"]
    when = f" <span class='muted'>checked {fmt_ago(report['checked_at'])}</span>" \
        if report.get("checked_at") else ""
    rows = "".join(
        f"<li class='doctor-{e(c.get('status', ''))}'><b>{e(c.get('status', '').upper())}"
        f"</b> {e(c.get('name', ''))}: {e(c.get('finding', ''))}"
        + (f"<div class='doctor-fix'>fix: <code>{e(c['fix'])}</code></div>" if c.get("fix")
           else "") + "</li>" for c in misses)
    summary = (f"all {len(checks)} checks pass" if not misses else
               f"{sum(c.get('status') == 'fail' for c in misses)} failing, "
               f"{sum(c.get('status') == 'warn' for c in misses)} warning")
    return (f"<div class='doctor'><div>{e(summary)}{when}</div>"
            + (f"<ul class='doctor-checks'>{rows}</ul>" if rows else "") + buttons + "</div>")


def _state(h: dict) -> str:
    reachable = h.get("reachable")
    failing = any(c.get("status") == "fail" for c in (h.get("doctor") or {}).get("checks", []))
    if reachable and failing:  # reachable is not ready: doctor says what fails runs
        return "<span class='host-down'>reachable, doctor fails</span>"
    return ("<span class='host-up'>reachable</span>" if reachable else
            "<span class='host-unknown'>not checked yet</span>" if reachable is None else
            "<span class='host-down'>unreachable</span>")


def host_card(h: dict) -> str:
    reachable = h.get("reachable")
    state = _state(h)
    error = f" <span class='run-cause'>{e(str(h['error']))}</span>" \
        if h.get("error") and not reachable else ""
    checked = f" <span class='muted'>checked {fmt_ago(h['checked_at'])}</span>" \
        if h.get("checked_at") else ""
    orphans = h.get("orphans") or []
    orphan_html = "".join(
        f"<li><code>{e(o.get('name', ''))}</code> {e(o.get('status', ''))} "
        f"<button type='button' class='pick-btn' data-orphan='{e(o.get('name', ''))}' "
        f"data-host='{e(h['name'])}'>remove</button></li>" for o in orphans)
    return (f"<div class='host-card' data-host='{e(h['name'])}'><h3>{e(h['name'])} "
            f"{sim_badge(bool(h.get('simulated')))}</h3>"
            f"<div>{e(str(h.get('kind', '')))} · {state}{checked}{error} · "
            f"{len(h.get('running') or [])} running, {len(h.get('queued') or [])} queued"
            + (f" · up to {h['max_concurrent']} at once" if h.get("max_concurrent") else "")
            + (f" · <span class='gpus-busy'>GPUs {h['busy_gpus']}/{len(h.get('gpu_ids') or [])}"
               " busy</span>" if "busy_gpus" in h else "") +
            f"</div><h4>Doctor</h4>{_doctor(h)}"
            f"<h4>GPUs</h4>{_gpu_rows(h.get('gpus') or [], h.get('gpu_error'))}"
            f"{_taken(h.get('taken') or {})}"
            f"<h4>Running</h4>{_run_list(h.get('running') or [], 'Nothing running.')}"
            + (f"<h4>Containers on the box</h4>{_box_containers(h['box_containers'])}"
               if h.get("box_containers") else
               f"<h4>Containers</h4>{_containers(h['containers'], h.get('running') or [])}"
               if "containers" in h else "") +
            f"<h4>Queue</h4>{_run_list(h.get('queued') or [], 'Queue is empty.', h.get('waits'))}"
            f"<h4>Orphan containers</h4>"
            + (f"<ul class='orphans'>{orphan_html}</ul>" if orphans else
               "<div class='muted'>None: every container belongs to a run.</div>")
            + "</div>")


def hosts_html(overview: Sequence[dict]) -> str:
    if not overview:
        return "<div class='muted'>No hosts configured.</div>"
    return "<div id='hosts-list'>" + "".join(host_card(h) for h in overview) + "</div>"


class HostsView:
    def __init__(self, ops: Operations, nav: Nav, live: Any) -> None:
        self.ops = ops
        self.nav = nav
        with gr.Column(elem_id="hosts"):
            self.html = gr.HTML(hosts_html([]), js_on_load=HOSTS_JS, elem_id="hosts-box")
            self.message = gr.Markdown(elem_id="hosts-message")
            WebhooksPanel(ops)
        self.changed = live.signal("hosts", lambda page, events: page.tab == TAB_HOSTS and any(
            e.kind in ("telemetry", "status") for e in events))
        self.changed.change(self.render, None, self.html, show_progress="hidden",
                            api_visibility="private")
        nav.on_show(TAB_HOSTS, self.render, [], [self.html])
        self.html.select(self._on_click, None, [self.message, nav.selected_run, nav.switch],
                         show_progress="hidden", api_visibility="private")

    def overview(self) -> list[dict]:
        if hasattr(self.ops, "hosts_overview"):
            return self.ops.hosts_overview()
        return self._fallback()

    def _fallback(self) -> list[dict]:
        """Only what the store knows (older backends without telemetry)."""
        out = []
        for name, host in self.ops.settings.hosts.items():
            running, _ = self.ops.find_runs(RunFilter(statuses=st.ACTIVE, hosts=(name,)), limit=50)
            queued, _ = self.ops.find_runs(RunFilter(statuses=(st.QUEUED,), hosts=(name,)),
                                           limit=50)
            out.append({"name": name, "kind": host.kind, "simulated": host.simulated,
                        "reachable": None, "gpus": [], "running": running,
                        "queued": list(reversed(queued)), "orphans": []})
        return out

    def render(self, request: gr.Request | None = None):
        if not auth.allowed(self.ops, request, accounts.HOSTS):
            return hosts_html([])
        if hasattr(self.ops, "watch_hosts"):
            self.ops.watch_hosts()  # someone sees the boxes: their monitors look at full rate
        try:
            return hosts_html(self.overview())
        except Exception as exc:  # a broken host must not take the tab down
            return f"<div class='run-cause'>Could not read the hosts: {e(str(exc))}</div>"

    def _on_click(self, evt: gr.EventData, request: gr.Request):
        data = event_data(evt)
        if data.get("action") in ("remove", "recheck", "setup"):
            auth.check(self.ops, request, accounts.HOSTS)
        if data.get("action") == "setup":
            auth.check(self.ops, request, accounts.LAUNCH)
        if data.get("action") in ("recheck", "setup"):
            return self._host_action(str(data.get("action")), str(data.get("host")),
                                     auth.owner_of(self.ops, request))
        if data.get("action") == "open" and data.get("id"):
            return gr.skip(), data["id"], self.nav.goto(TAB_RUNS)
        if data.get("action") == "remove":
            try:
                self.ops.remove_orphan(str(data.get("host")), str(data.get("name")))
            except (Refused, NotFound, AttributeError) as exc:
                return f"Not removed: {exc}", gr.skip(), gr.skip()
            return (f"Removing container `{data.get('name')}` on {data.get('host')}...",
                    gr.skip(), gr.skip())
        return gr.skip(), gr.skip(), gr.skip()

    def _host_action(self, action: str, host: str, owner: str | None = None):
        try:
            if action == "recheck":
                self.ops.recheck(host)
                return f"Checking {host} again...", gr.skip(), gr.skip()
            run = self.ops.setup(host, owner=owner)
        except (Refused, NotFound, ValidationFailed) as exc:
            return f"Not done: {exc}", gr.skip(), gr.skip()
        return (f"Setting up {host}: run `{run.id}` (its live log is in the Runs tab).",
                run.id, self.nav.goto(TAB_RUNS))
