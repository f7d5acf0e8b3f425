"""The gallery: a thumbnail of every run that has a video, paged and filtered.

Click a card to play it; "pick" two cards (here or in the history) to compare them. A render
reads one page of runs with a video and re-sends the grid only when the page changed; the
page's live stream asks for one when a run ends while the Gallery tab shows.
"""

from __future__ import annotations

import hashlib
from typing import Any, Sequence

import gradio as gr

from backend.models.params import RUN_ENHANCE, RUN_INFERENCE, RUN_UPSCALE
from backend.operations import NotFound, Operations
from components.common import (RUN_TYPE_LABELS, TAB_COMPARE, TAB_GALLERY, TAB_RUNS, badge, e,
                               event_data, file_url, fmt_ago, run_title, sim_badge, type_badge)
from components import lenient
from components.render_order import PagedView, RenderOrder
from components.nav import Nav, pick_toggle
from components.runs_table import (REVIEW_CHOICES, clamp_page, make_filter, owner_choices,
                                  scoped_versions, version_cell)
from cosmos_ui import auth

PAGE_SIZE = 12

CARD_JS = """
element.addEventListener('click', (ev) => {
  const pick = ev.target.closest('[data-pick]');
  if (pick) { ev.stopPropagation(); trigger('select', {id: pick.dataset.pick, pick: true}); return; }
  const latest = ev.target.closest('[data-latest]');
  if (latest) { ev.stopPropagation(); trigger('select', {id: latest.dataset.latest}); return; }
  const card = ev.target.closest('[data-id]');
  if (card) trigger('select', {id: card.dataset.id});
});
"""


def grid_html(runs: Sequence[Any], picks: Sequence[str], playing: str | None = None,
              now: float | None = None, versions: dict | None = None) -> str:
    versions = versions or {}
    cards = []
    for run in runs:
        classes = ["g-card"] + (["picked"] if run.id in picks else []) + \
            (["playing"] if run.id == playing else [])
        image = (f"<img src='{e(file_url(run.thumbnail_path))}' alt='' loading='lazy'>"
                 if run.thumbnail_path else "<div class='g-noimg'>no thumbnail</div>")
        status = "" if run.status == "completed" else badge(run.status)
        on = " on" if run.id in picks else ""
        cards.append(
            f"<div class='{' '.join(classes)}' data-id='{e(run.id)}' title='{e(run.prompt[:300])}'>"
            f"{image}<button type='button' class='pick-btn g-pick{on}' data-pick='{e(run.id)}'>"
            f"{'picked' if run.id in picks else 'pick'}</button>"
            f"<div class='g-body'><div class='g-title'>{e(run_title(run, 40))}</div>"
            f"<div>{status} {type_badge(run.run_type)} {sim_badge(run.simulated)} "
            f"<span class='muted g-owner'>{e(run.owner or '')}</span> "
            f"<span class='muted'>{fmt_ago(run.created_at, now)}</span></div>"
            f"<div class='g-version'>{version_cell(versions.get(run.id))}</div></div></div>")
    if not cards:
        return ("<div class='muted' id='gallery-grid'>No videos yet: finished runs appear "
                "here.</div>")
    return f"<div class='gallery-grid' id='gallery-grid'>{''.join(cards)}</div>"


def gallery_label(page: int, total: int) -> str:
    pages = max(1, -(-total // PAGE_SIZE))
    return (f"<span class='pager-note' id='gallery-count' data-total='{total}' "
            f"data-page='{page + 1}' data-pages='{pages}'>{total} videos · page {page + 1} of "
            f"{pages}</span>")


def wants_ended_on(tab: str):
    """A live-signal rule: a run ended or was deleted while `tab` shows."""
    ended = ("completed", "failed", "cancelled", "blocked", "deleted")

    def wants(page, events) -> bool:
        return page.tab == tab and any(e.kind == "status" and e.data.get("status") in ended
                                       for e in events)
    return wants


class Gallery(PagedView):
    def __init__(self, ops: Operations, nav: Nav, live: Any) -> None:
        self.ops = ops
        self.nav = nav
        self.order = RenderOrder(live, "gallery", signal="gallery")
        with gr.Column(elem_id="gallery"):
            with gr.Row():
                self.search = gr.Textbox(label="Search", scale=3, elem_id="gallery-search",
                                         placeholder="words from prompts or names")
                self.mine = lenient.CheckedCheckbox(label="Only mine", value=False, scale=0,
                                                    min_width=110, elem_id="gallery-mine")
                self.types = lenient.CheckedDropdown([(RUN_TYPE_LABELS[t], t) for t in
                                                      (RUN_INFERENCE, RUN_UPSCALE,
                                                       RUN_ENHANCE)],
                                                     multiselect=True, value=[], label="Type",
                                                     scale=2, elem_id="gallery-type")
                self.hosts = lenient.CheckedDropdown(list(ops.settings.hosts), multiselect=True,
                                                     value=[], label="Host", scale=2,
                                                     elem_id="gallery-host")
                self.owners = gr.Dropdown(owner_choices(ops), multiselect=True, value=[],
                                          label="Owner", scale=2, elem_id="gallery-owner",
                                          allow_custom_value=True)
                self.rating = lenient.CheckedDropdown(["any", "1+", "2+", "3+", "4+", "5"],
                                                      value="any", label="Rating at least",
                                                      scale=1, elem_id="gallery-rating")
            with gr.Row():
                self.review = gr.Dropdown(REVIEW_CHOICES, multiselect=True, value=[],
                                          label="Review status", elem_id="gallery-review",
                                          scale=2)
                self.latest = gr.Checkbox(label="Only each shot's latest version", value=False,
                                          elem_id="gallery-latest", scale=1)
            with gr.Group(visible=False, elem_id="gallery-player-box") as self.player_box:
                self.player_info = gr.HTML(js_on_load=None, padding=True,
                                           elem_id="gallery-player-info")
                self.player = gr.Video(interactive=False, autoplay=True, loop=True,
                                       elem_id="gallery-player", show_label=False, height=360)
                with gr.Row():
                    self.open_run = gr.Button("Open in Runs", size="sm", elem_id="gallery-open")
                    self.pick_playing = gr.Button("Pick for compare", size="sm",
                                                  elem_id="gallery-pick")
                    self.close = gr.Button("Close", size="sm", elem_id="gallery-close")
            self.grid = gr.HTML(grid_html([], []), js_on_load=CARD_JS, elem_id="gallery-box")
            with gr.Row():
                self.prev = gr.Button("Previous", size="sm", elem_id="gallery-prev")
                self.label = gr.HTML(gallery_label(0, 0), js_on_load=None,
                                     elem_id="gallery-page")
                self.next = gr.Button("Next", size="sm", elem_id="gallery-next")
                self.compare = gr.Button("Compare picked (0/2)", size="sm", interactive=False,
                                         elem_id="gallery-compare")
        self.page = gr.State(0)
        self.shown = gr.State("")
        self.playing = gr.State(None)
        self.changed = live.signal("gallery", wants_ended_on(TAB_GALLERY))
        self._wire()

    @property
    def filters(self) -> list[Any]:
        return [self.search, self.types, self.hosts, self.rating, self.owners, self.mine,
                self.review, self.latest]

    def render(self, page: int, picks: list[str] | None, playing: str | None, shown: str,
               text: str, types: list[str], hosts: list[str], rating: str,
               owners: list[str] | None = None, mine: bool | None = False,
               review: list[str] | None = None, latest: bool | None = False,
               ids: Sequence[str] | None = ()):
        """Outputs: grid, label, page, shown-hash, compare button."""
        me = auth.owner_of(self.ops, auth.current_request())
        flt = make_filter(text, (), types, hosts, None, None, rating, owners, mine, review,
                          latest, with_output=True, me=me, ids=ids)
        page = int(page or 0)
        runs, total = self.ops.find_runs(flt, limit=PAGE_SIZE, offset=page * PAGE_SIZE)
        fixed = clamp_page(page, PAGE_SIZE, total)
        if fixed != page:
            page = fixed
            runs, total = self.ops.find_runs(flt, limit=PAGE_SIZE, offset=page * PAGE_SIZE)
        picks = list(picks or [])
        html = grid_html(runs, picks, playing, versions=scoped_versions(
            self.ops.version_facts([r.id for r in runs]), ids))
        digest = hashlib.sha1(html.encode()).hexdigest()
        compare = gr.update(value=f"Compare picked ({len(picks)}/2)",
                            interactive=len(picks) == 2)
        return (html if digest != shown else gr.skip(), gallery_label(page, total), page,
                digest, compare)

    def _on_click(self, picks: list[str] | None, evt: gr.EventData, request: gr.Request):
        """Outputs: picks, playing, player box, player info, player."""
        data = event_data(evt)
        run_id = str(data.get("id") or "")
        skip = gr.skip()
        if not run_id or not self.nav.scope(request).allows(run_id):
            return skip, skip, skip, skip, skip
        if data.get("pick"):
            return pick_toggle(picks, run_id), skip, skip, skip, skip
        try:
            run = self.ops.get_run(run_id)
        except NotFound:
            return skip, None, gr.Group(visible=False), skip, None
        info = (f"<b>{e(run_title(run, 90))}</b> {badge(run.status)} "
                f"{type_badge(run.run_type)} {sim_badge(run.simulated)} "
                f"<code>{e(run.id)}</code>")
        return skip, run.id, gr.Group(visible=True), info, run.output_path

    def _wire(self) -> None:
        quiet = dict(api_visibility="private", show_progress="hidden")
        nav = self.nav
        inputs = [self.page, nav.picks, self.playing, self.shown, *self.filters]
        outputs = [self.grid, self.label, self.page, self.shown, self.compare]
        self.inputs, self.outputs = inputs, outputs
        render = self.render_page
        self.changed.change(render, inputs, outputs, **quiet)
        self.nav.on_show(TAB_GALLERY, render, inputs, outputs)
        self.nav.on_show(TAB_GALLERY, lambda: gr.update(choices=owner_choices(self.ops)), [],
                         [self.owners])
        # a filter renders the first page, unqueued, in one event (renders land in order;
        # `page` is among the outputs, so the page number follows)
        for component in self.filters:
            component.change(self._render_first_page, inputs, outputs, queue=False, **quiet)
        self.prev.click(lambda p: max(0, int(p or 0) - 1), self.page, self.page, **quiet).then(
            render, inputs, outputs, **quiet)
        self.next.click(lambda p: int(p or 0) + 1, self.page, self.page, **quiet).then(
            render, inputs, outputs, **quiet)
        # a pick and the render it causes unqueued: one answer each, not the several status
        # messages of a queued event (each a walk of the page's components); renders land in
        # the order they started (render_order.py)
        self.grid.select(self._on_click, nav.picks,
                         [nav.picks, self.playing, self.player_box, self.player_info,
                          self.player], trigger_mode="always_last", queue=False,
                         **quiet).then(render, inputs, outputs, queue=False, **quiet)
        nav.picks.change(render, inputs, outputs, **quiet)
        self.close.click(lambda: (None, gr.Group(visible=False), None), None,
                         [self.playing, self.player_box, self.player], **quiet)
        self.open_run.click(lambda rid: (rid, nav.goto(TAB_RUNS)) if rid else
                            (gr.skip(), gr.skip()), self.playing, [nav.selected_run, nav.switch],
                            **quiet)
        self.pick_playing.click(lambda picks, rid: pick_toggle(picks, rid) if rid else
                                gr.skip(), [nav.picks, self.playing], nav.picks, **quiet)
        self.compare.click(lambda picks: (tuple(picks), nav.goto(TAB_COMPARE))
                           if picks and len(picks) == 2 else (gr.skip(), gr.skip()),
                           nav.picks, [nav.compare_pair, nav.switch], **quiet)
