"""The history: every run as a table with filters, full-text search and paging.

A render reads one page (one indexed query plus a count) and re-sends the table only when that
page changed; the page's live stream asks for one whenever a run's status changes while the
Runs tab shows (components/live.py). Clicking a row shows the run below; the small "pick" toggles choose two runs to
compare (shared with the gallery).
"""

from __future__ import annotations

import hashlib
from typing import Any, Callable, Sequence

import gradio as gr

from backend import store as st
from backend.models.params import RUN_ENHANCE, RUN_INFERENCE, RUN_UPSCALE
from backend.store.history import RunFilter
from backend.operations import Operations
from components.common import (RUN_TYPE_LABELS, TAB_COMPARE, TAB_RUNS, badge, e, event_data,
                               fmt_ago, fmt_duration, rating_text, run_duration, run_title,
                               sim_badge)
from components import lenient
from components.nav import Nav, pick_toggle
from components.render_order import PagedView, RenderOrder
from components.review_html import STATUS_LABELS, status_chip
from cosmos_ui import auth

REVIEW_CHOICES = [(label, value) for value, label in STATUS_LABELS.items()]

PAGE_SIZES = (10, 25, 50)
DAY = 86400.0

ROW_JS = """
element.addEventListener('click', (ev) => {
  const pick = ev.target.closest('[data-pick]');
  if (pick) { ev.stopPropagation(); trigger('select', {id: pick.dataset.pick, pick: true}); return; }
  const latest = ev.target.closest('[data-latest]');
  if (latest) { ev.stopPropagation(); trigger('select', {latest: latest.dataset.latest}); return; }
  const row = ev.target.closest('tr[data-id]');
  if (!row) return;
  trigger('select', {id: row.dataset.id});
  const view = document.querySelector('#run-view');
  if (view && view.getBoundingClientRect().top > window.innerHeight * 0.6)
    view.scrollIntoView({behavior: 'smooth', block: 'start'});
});
"""


def make_filter(text: str | None = "", statuses: Sequence[str] | None = (),
                types: Sequence[str] | None = (), hosts: Sequence[str] | None = (),
                since: float | None = None, until: float | None = None,
                min_rating: str | int | None = None, owners: Sequence[str] | None = (),
                mine: bool | None = False, review_statuses: Sequence[str] | None = (),
                latest_only: bool | None = False, *, with_output: bool = False,
                me: str = "", ids: Sequence[str] | None = ()) -> RunFilter:
    """The store filter for what the person set. `until` is a day: runs on it are included.
    `mine` narrows to `me` (the signed-in or local user), on top of any owners picked.
    `ids`: the runs a review link shows (() any, None none)."""
    rating = None if min_rating in (None, "", "any") else int(str(min_rating)[0])
    chosen = tuple(owners or ())
    if mine:
        chosen = (me,) if not chosen or me in chosen else ("\0nobody",)
    return RunFilter(statuses=tuple(statuses or ()), run_types=tuple(types or ()),
                     hosts=tuple(hosts or ()), since=since or None,
                     until=(until + DAY) if until else None, min_rating=rating,
                     text=(text or "").strip(), with_output=with_output, owners=chosen,
                     review_statuses=tuple(review_statuses or ()),
                     latest_only=bool(latest_only), ids=ids if ids is None else tuple(ids))


def owner_choices(ops: Any) -> list[str]:
    try:
        return ops.store.run_owners()
    except Exception:  # the filter must open even if the history cannot be read
        return []


def page_label(page: int, size: int, total: int) -> str:
    if total == 0:
        return "<span class='pager-note' id='history-count' data-total='0'>No runs match.</span>"
    pages = max(1, -(-total // size))
    first, last = page * size + 1, min(total, (page + 1) * size)
    return (f"<span class='pager-note' id='history-count' data-total='{total}' "
            f"data-page='{page + 1}' data-pages='{pages}'>Runs {first}-{last} of {total} "
            f"(page {page + 1} of {pages})</span>")


def clamp_page(page: int, size: int, total: int) -> int:
    pages = max(1, -(-total // size))
    return max(0, min(int(page or 0), pages - 1))


def scoped_versions(facts: dict, ids: Sequence[str] | None) -> dict:
    """Version facts as a review link may show them: no "latest" outside the link."""
    if not ids:
        return facts
    return {rid: (v if v.get("latest_run_id") in ids else dict(v, latest_run_id=None,
                                                                 is_latest=True))
            for rid, v in facts.items()}


def version_cell(v: dict | None) -> str:
    """'v2 · In review' with the shot's latest one click away when this is not it."""
    if not v:
        return "<span class='muted'>-</span>"
    latest = ""
    if v.get("latest_run_id") and not v.get("is_latest"):
        latest = (f" <button type='button' class='pick-btn latest-btn' data-latest="
                  f"'{e(v['latest_run_id'])}' title='show the shot&#39;s latest version'>"
                  f"latest v{v['latest_number']}</button>")
    return (f"<span class='version-label' data-version='{v['number']}'>{e(v['label'])}</span>"
            f" {status_chip(v['review_status'])}{latest}")


LOADING = "Loading runs..."


def table_html(runs: Sequence[Any], selected: str | None, picks: Sequence[str],
               now: float | None = None, versions: dict | None = None,
               empty: str = "No runs match these filters.") -> str:
    versions = versions or {}
    head = ("<tr><th>Pick</th><th>Status</th><th>Name / prompt</th>"
            "<th class='hide-phone'>Version</th><th class='hide-phone'>Type</th>"
            "<th class='hide-narrow'>Host</th><th class='hide-phone'>Owner</th>"
            "<th class='hide-phone'>Created</th>"
            "<th class='hide-narrow'>Took</th>"
            "<th class='hide-narrow'>Rating</th><th class='hide-narrow'>Id</th></tr>")
    rows = []
    for run in runs:
        classes = ["run-row"]
        if run.id == selected:
            classes.append("selected")
        if run.id in picks:
            classes.append("picked")
        on = " on" if run.id in picks else ""
        label = "picked" if run.id in picks else "pick"
        rows.append(
            f"<tr class='{' '.join(classes)}' data-id='{e(run.id)}' data-status='{e(run.status)}'>"
            f"<td><button type='button' class='pick-btn{on}' data-pick='{e(run.id)}' "
            f"title='pick for comparison'>{label}</button></td>"
            f"<td>{badge(run.status)}</td>"
            f"<td class='title' title='{e(run.prompt[:300])}'>{e(run_title(run))} "
            f"{sim_badge(run.simulated)}</td>"
            f"<td class='version-cell hide-phone'>{version_cell(versions.get(run.id))}</td>"
            f"<td class='hide-phone'>{e(RUN_TYPE_LABELS.get(run.run_type, run.run_type))}</td>"
            f"<td class='hide-narrow'>{e(run.host)}</td>"
            f"<td class='owner hide-phone'>{e(run.owner or '-')}</td>"
            f"<td class='hide-phone'>{fmt_ago(run.created_at, now)}</td>"
            f"<td class='hide-narrow'>{fmt_duration(run_duration(run, now))}</td>"
            f"<td class='hide-narrow'>{rating_text(run.rating, run.ratings)}</td>"
            f"<td class='hide-narrow'><code>{e(run.id[-8:])}</code></td></tr>")
    if not rows:
        rows.append(f"<tr><td colspan='10' class='muted'>{e(empty)}</td></tr>")
    return (f"<div class='table-scroll'><table class='runs' id='history-table'>{head}"
            f"{''.join(rows)}</table></div>")


def wants_status_on(tab: str):
    """A live-signal rule: any status change while `tab` shows."""
    def wants(page, events) -> bool:
        return page.tab == tab and any(e.kind == "status" for e in events)
    return wants


class RunsTable(PagedView):
    def __init__(self, ops: Operations, nav: Nav, live: Any) -> None:
        self.ops = ops
        self.nav = nav
        self.live = live
        self.order = RenderOrder(live, "runs_table", signal="runs")
        self._open_outputs: list[Any] = []  # the run view's (wire_open)
        self._open: Callable[[str, gr.Request], list[Any]] | None = None
        with gr.Column(elem_id="history"):
            with gr.Row():
                self.search = gr.Textbox(label="Search prompts and names", scale=3,
                                         elem_id="history-search", placeholder="neon street")
                self.mine = lenient.CheckedCheckbox(label="Only mine", value=False, scale=0,
                                                    min_width=110, elem_id="filter-mine")
                self.statuses = lenient.CheckedDropdown(list(st.STATUSES), multiselect=True,
                                                        value=[], label="Status",
                                                        elem_id="filter-status", scale=2)
                self.types = lenient.CheckedDropdown([(RUN_TYPE_LABELS[t], t) for t in
                                          (RUN_INFERENCE, RUN_UPSCALE, RUN_ENHANCE)],
                                         multiselect=True, value=[], label="Type",
                                         elem_id="filter-type", scale=2)
            with gr.Accordion("More filters", open=False):
                with gr.Row():
                    self.hosts = lenient.CheckedDropdown(list(ops.settings.hosts),
                                                         multiselect=True, value=[],
                                                         label="Host", elem_id="filter-host")
                    self.owners = gr.Dropdown(owner_choices(ops), multiselect=True, value=[],
                                              label="Owner", elem_id="filter-owner",
                                              allow_custom_value=True)
                    self.since = lenient.CheckedDateTime(label="From (date, or e.g. now - 7d)",
                                                         include_time=False,
                                                         elem_id="filter-since")
                    self.until = lenient.CheckedDateTime(label="To (that day included)",
                                                         include_time=False,
                                                         elem_id="filter-until")
                    self.rating = lenient.CheckedDropdown(["any", "1+", "2+", "3+", "4+", "5"],
                                                          value="any", label="Rating at least",
                                                          elem_id="filter-rating")
                with gr.Row():
                    self.review = gr.Dropdown(REVIEW_CHOICES, multiselect=True, value=[],
                                              label="Review status", elem_id="filter-review")
                    self.latest = gr.Checkbox(label="Only each shot's latest version",
                                              value=False, elem_id="filter-latest")
            # until the first render: never "no runs" before the table has looked
            self.table = gr.HTML(table_html([], None, [], empty=LOADING), js_on_load=ROW_JS,
                                 elem_id="history-box")
            with gr.Row():
                self.prev = gr.Button("Previous", size="sm", elem_id="history-prev")
                self.label = gr.HTML(page_label(0, PAGE_SIZES[0], 0), js_on_load=None,
                                     elem_id="history-page")
                self.next = gr.Button("Next", size="sm", elem_id="history-next")
                self.size = lenient.CheckedDropdown(list(PAGE_SIZES), value=PAGE_SIZES[0],
                                                    label="Per page",
                                        elem_id="history-size", min_width=90, scale=0)
                self.compare = gr.Button("Compare picked (0/2)", size="sm", interactive=False,
                                         elem_id="history-compare")
        self.page = gr.State(0)
        self.shown = gr.State("")
        self.changed = live.signal("runs", wants_status_on(TAB_RUNS))
        self._wire()

    @property
    def filters(self) -> list[Any]:
        return [self.search, self.statuses, self.types, self.hosts, self.since, self.until,
                self.rating, self.owners, self.mine, self.review, self.latest]

    def render(self, page: int, size: int, picks: list[str] | None, selected: str | None,
               shown: str, *filters: Any, ids: Sequence[str] | None = ()):
        """Outputs: table, page label, page, shown-hash, compare button."""
        flt = make_filter(*filters, me=auth.owner_of(self.ops, auth.current_request()),
                          ids=ids)
        size = int(size or PAGE_SIZES[0])
        runs, total = self.ops.find_runs(flt, limit=size, offset=int(page or 0) * size)
        page_now = clamp_page(page, size, total)
        if page_now != (page or 0):
            runs, total = self.ops.find_runs(flt, limit=size, offset=page_now * size)
        picks = list(picks or [])
        html = table_html(runs, selected, picks, versions=scoped_versions(
            self.ops.version_facts([r.id for r in runs]), ids))
        digest = hashlib.sha1(html.encode()).hexdigest()
        compare = gr.update(value=f"Compare picked ({len(picks)}/2)",
                            interactive=len(picks) == 2)
        return (html if digest != shown else gr.skip(), page_label(page_now, size, total),
                page_now, digest, compare)

    def _on_click(self, picks: list[str] | None, selected: str | None, evt: gr.EventData,
                  request: gr.Request):
        """Outputs: picks, the selection, then the run view's (`wire_open`)."""
        data = event_data(evt)
        run_id = str(data.get("id") or "")
        unchanged = [gr.skip()] * len(self._open_outputs)
        if data.get("latest"):
            return (gr.skip(), *self._show(str(data["latest"]), request))
        if not run_id:
            return (gr.skip(), gr.skip(), *unchanged)
        if data.get("pick"):
            return (pick_toggle(picks, run_id), gr.skip(), *unchanged)
        return (gr.skip(), *self._show(run_id, request))

    def _show(self, run_id: str, request: gr.Request) -> list[Any]:
        """The selection, and the run view showing `run_id` in this very answer: no wait for
        the selection's change events to come back from the page, nor for the stream."""
        view = [gr.skip()] * len(self._open_outputs)
        if self.nav.scope(request).allows(run_id):
            if self._open is not None:
                view = self._open(run_id, request)
            elif self.nav.show_run is not None:
                self.nav.show_run(run_id, request)
        return [run_id, *view]

    def wire_open(self, outputs: list[Any], answer: Callable[[str, gr.Request], list[Any]]
                  ) -> None:
        """A click on a row answers with the run view's `outputs` (`answer(run_id,
        request)`), once that view exists (it is built after the table)."""
        self._open_outputs, self._open = list(outputs), answer
        # queued: unqueued, a click on a row after another one's was lost (its selection
        # never reached the run view; seen with a timeline probe in Chromium)
        self.table.select(self._on_click, [self.nav.picks, self.nav.selected_run],
                          [self.nav.picks, self.nav.selected_run, *outputs],
                          trigger_mode="always_last", api_visibility="private",
                          show_progress="hidden")

    def _wire(self) -> None:
        quiet = dict(api_visibility="private", show_progress="hidden")
        state_in = [self.page, self.size, self.nav.picks, self.nav.selected_run, self.shown]
        outputs = [self.table, self.label, self.page, self.shown, self.compare]
        inputs = state_in + self.filters
        self.inputs, self.outputs = inputs, outputs
        render = self.render_page
        self.changed.change(render, inputs, outputs, **quiet)
        self.nav.on_show(TAB_RUNS, render, inputs, outputs)
        self.nav.on_show(TAB_RUNS, lambda: gr.update(choices=owner_choices(self.ops)), [],
                         [self.owners])
        # a filter renders the first page, unqueued, in one event (renders land in order,
        # above; `page` is among the outputs, so the page number follows)
        for component in self.filters + [self.size]:
            component.change(self._render_first_page, inputs, outputs, queue=False, **quiet)
        self.prev.click(lambda p: max(0, int(p or 0) - 1), self.page, self.page, **quiet).then(
            render, inputs, outputs, **quiet)
        self.next.click(lambda p: int(p or 0) + 1, self.page, self.page, **quiet).then(
            render, inputs, outputs, **quiet)
        # picks and selection show at once, not at the next tick
        self.nav.picks.change(render, inputs, outputs, **quiet)
        self.nav.on_selected(render, inputs, outputs)
        self.nav.on_shown_status(render, inputs, outputs)  # no stale badge
        self.compare.click(lambda picks: (tuple(picks), self.nav.goto(TAB_COMPARE))
                           if picks and len(picks) == 2 else (gr.skip(), gr.skip()),
                           self.nav.picks, [self.nav.compare_pair, self.nav.switch], **quiet)
