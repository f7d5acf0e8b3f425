"""The review room's page-wide parts: its script and styles, and the address bar.

Every run (`?run=ID`), comparison (`?a=ID&b=ID`), note (`?run=ID&note=N`) and tab
(`?tab=gallery`) has a URL. The browser writes it as the page changes (components/js/
review.js pushes a history entry); reload opens it through the page's load handler, and
back/forward ask the router below to move the page there. Either way the server checks the
caller may see what the URL names (a review link shows only its versions).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import gradio as gr

from backend import accounts
from backend.operations import NotFound
from components.common import (TAB_COMPARE, TAB_CREATE, TAB_GALLERY, TAB_HOSTS, TAB_RUNS,
                               TAB_SWEEPS)
from components.common import event_data
from cosmos_ui import auth

_JS = (Path(__file__).resolve().parent.parent / "components" / "js" / "review.js")
REVIEW_HEAD = "<script>\n" + _JS.read_text(encoding="utf-8") + "\n</script>"
ROUTER_JS = "CosmosReview.mountRouter(element, trigger);"
TABS = (TAB_CREATE, TAB_RUNS, TAB_GALLERY, TAB_SWEEPS, TAB_COMPARE, TAB_HOSTS)
TAB_ACTIONS = {TAB_CREATE: accounts.LAUNCH, TAB_HOSTS: accounts.HOSTS}

REVIEW_CSS = """
.rp { position: relative; outline: none; }
.rp:focus-visible { box-shadow: 0 0 0 2px var(--color-accent); border-radius: 6px; }
.rp-stage { position: relative; width: 100%; background: #000; border-radius: 6px;
            overflow: hidden; }
.rp-stage video { position: absolute; inset: 0; width: 100%; height: 100%; display: block; }
.rp-main { position: absolute; inset: 0; }
.rp-stage video.rp-layer { opacity: 0; pointer-events: none; mix-blend-mode: screen; }
.rp-stage video.rp-layer.on { opacity: 0.6; }
.rp-stage canvas.rp-draw { position: absolute; inset: 0; width: 100%; height: 100%;
                           pointer-events: none; }
.rp.drawing canvas.rp-draw { pointer-events: auto; cursor: crosshair; }
.rp-timeline { position: relative; height: 18px; margin: 6px 0 2px; border-radius: 4px;
               background: var(--neutral-200); cursor: pointer; touch-action: none; }
.rp-marks { position: absolute; inset: 0; }
.rp-mark { position: absolute; top: 1px; height: 16px; min-width: 5px; padding: 0;
           border: 0; border-radius: 3px; background: #ffb000; cursor: pointer;
           transform: translateX(-2px); }
.rp-mark.resolved { background: #9aa0a6; }
.rp-mark.selected { background: #ff3b30; }
.rp-inout { position: absolute; top: 0; height: 18px; background: rgba(10,132,255,0.35);
            pointer-events: none; }
.rp-head { position: absolute; top: -2px; width: 2px; height: 22px; background: #0a84ff;
           pointer-events: none; }
.rp-bar { display: flex; flex-wrap: wrap; gap: 4px; align-items: center; margin: 2px 0; }
.rp-btn { padding: 2px 8px; border: 1px solid var(--border-color-primary); border-radius: 4px;
          background: var(--background-fill-secondary); font-size: 13px; min-width: 34px; }
.rp-frame { font-variant-numeric: tabular-nums; margin-left: 8px; font-size: 13px; }
.rp-speed { color: var(--color-accent); font-size: 13px; }
.rp-layer-toggle { font-size: 13px; margin-right: 10px; }
.rp-empty { padding: 16px; }
.rv-composer { display: flex; flex-direction: column; gap: 6px; margin-top: 6px; }
.rv-tools { display: flex; flex-wrap: wrap; gap: 4px; align-items: center; font-size: 13px; }
.rv-tool, .rv-do { padding: 2px 8px; border: 1px solid var(--border-color-primary);
                   border-radius: 4px; background: var(--background-fill-secondary);
                   font-size: 13px; font-weight: 400; }
.rv-tool.on { background: var(--color-accent); color: white; }
.rv-colour { width: 20px; height: 20px; border-radius: 50%; padding: 0;
             border: 2px solid var(--border-color-primary); }
.rv-colour.on { border-color: var(--body-text-color); }
.rv-text { width: 100%; padding: 6px; border: 1px solid var(--border-color-primary);
           border-radius: 4px; background: var(--background-fill-primary);
           color: var(--body-text-color); font: inherit; }
.rv-add { align-self: flex-start; padding: 4px 14px; background: var(--color-accent);
          color: white; border-radius: 6px; }
.rv-notes-list { list-style: none; padding: 0; margin: 6px 0; max-height: 560px;
                 overflow-y: auto; }
.rv-note { border: 1px solid var(--border-color-primary); border-radius: 6px; padding: 6px 8px;
           margin-bottom: 6px; cursor: pointer; }
.rv-note.selected { border-color: #ff3b30; box-shadow: 0 0 0 1px #ff3b30; }
.rv-note.rv-resolved { opacity: 0.7; }
.rv-note-head { font-size: 13px; }
.rv-text-body { white-space: pre-wrap; margin: 2px 0; }
.rv-reply-item { border-left: 3px solid var(--border-color-primary); padding-left: 6px;
                 margin: 4px 0 4px 6px; font-size: 13px; }
.rv-actions { display: flex; gap: 6px; flex-wrap: wrap; margin-top: 4px; }
.rv-actions button, .rv-reply button { font-size: 12px; padding: 1px 8px; border-radius: 4px;
              border: 1px solid var(--border-color-primary);
              background: var(--background-fill-secondary); }
.rv-regen { border-color: var(--color-accent) !important; }
.rv-reply textarea { width: 100%; margin: 4px 0; font: inherit; padding: 4px;
                     border: 1px solid var(--border-color-primary); border-radius: 4px; }
.rv-versions { display: flex; flex-wrap: wrap; gap: 6px; align-items: center; }
.rv-chip { padding: 2px 10px; border-radius: 12px; border: 1px solid var(--border-color-primary);
           background: var(--background-fill-secondary); }
.rv-chip.current { border-color: var(--color-accent); font-weight: 700; }
.rv-chip.latest::after { content: " latest"; font-size: 11px; color: var(--color-accent); }
.rv-latest { padding: 2px 10px; border-radius: 12px; background: var(--color-accent);
             color: white; }
.rv-current { width: 100%; font-size: 13px; }
.rv-dot { display: inline-block; width: 8px; height: 8px; border-radius: 50%; }
.rv-status-in_review { background: #d0e2ff; color: #0a58ca; }
.rv-status-needs_changes { background: #ffe1a6; color: #8a5300; }
.rv-status-approved { background: #b8ebc7; color: #1a7f37; }
.rv-dot-in_review { background: #0a84ff; } .rv-dot-needs_changes { background: #ff9f0a; }
.rv-dot-approved { background: #30d158; }
.rv-status { padding: 1px 8px; border-radius: 10px; font-size: 12px; font-weight: 600; }
.cp-bar { display: flex; flex-wrap: wrap; gap: 6px; align-items: center; margin-bottom: 6px; }
.cp-mode { padding: 3px 10px; border-radius: 6px; border: 1px solid var(--border-color-primary);
           background: var(--background-fill-secondary); }
.cp-mode.on { background: var(--color-accent); color: white; }
.cp-param { display: none; font-size: 13px; gap: 4px; align-items: center; }
.cp[data-mode=wipe] .cp-p-wipe, .cp[data-mode=overlay] .cp-p-overlay,
.cp[data-mode=difference] .cp-p-difference, .cp[data-mode=flicker] .cp-p-flicker {
  display: inline-flex; }
.cp-rate { width: 56px; }
.cp-view { position: relative; display: none; background: #000; border-radius: 6px;
           overflow: hidden; margin-bottom: 6px; touch-action: none; }
.cp:not([data-mode=side]) .cp-view { display: block; }
.cp-canvas { width: 100%; display: block; }
.cp-divider { display: none; position: absolute; top: 0; bottom: 0; width: 3px;
              margin-left: -1px; background: #fff; box-shadow: 0 0 4px #000; cursor: ew-resize; }
.cp[data-mode=wipe] .cp-divider { display: block; }
.cp[data-mode=wipe] .cp-view { cursor: ew-resize; }
.cp-tag { position: absolute; top: 6px; padding: 0 6px; background: rgba(0,0,0,0.6);
          color: #fff; border-radius: 4px; font-weight: 700; display: none; }
.cp[data-mode=wipe] .cp-tag { display: block; }
.cp-tag-a { left: 6px; } .cp-tag-b { right: 6px; }
.cp:not([data-mode=side]) .cmp-grid .rp-stage { max-width: 48%; }
.rv-notes-data { display: none; }
.link-banner { padding: 8px 12px; border-radius: 6px; background: #e5f0ff; color: #0a3d91;
               margin: 4px 0; }
.link-banner.refused { background: #ffe5e5; color: #8a1010; }
.draft-banner { padding: 8px; border-radius: 6px; background: #fff6e0; color: #5a3d00; }
.draft-mask { max-width: 240px; border: 1px solid #999; margin: 6px 0; }
.version-cell { white-space: nowrap; }
.latest-btn { margin-left: 4px; }
#router { display: none; }
"""


class Router:
    """Back and forward: the browser says where (its URL), the page moves there."""

    def __init__(self, ops: Any, nav: Any) -> None:
        self.ops = ops
        self.nav = nav
        self.compare: Any = None
        self.html = gr.HTML("", js_on_load=ROUTER_JS, elem_id="router")

    def from_query(self, query: dict[str, str], request: gr.Request | None
                   ) -> tuple[tuple | None, str | None, str | None]:
        """(compare pair, run, tab) a URL asks for, leaving out what the page may not show."""
        scope = self.nav.scope(request)
        pair = self.compare.from_query(query) if self.compare is not None else None
        if pair and not all(scope.allows(x) for x in pair):
            pair = None
        run = (query.get("run") or "").strip() or None
        note = (query.get("note") or "").strip()
        if note:
            try:
                run = self.ops.note(note)["run_id"]
            except NotFound:
                pass
        if run and not scope.allows(run):
            run = None
        if not run and scope.link is not None and scope.link.run_ids:
            run = scope.link.run_ids[0]  # a review link opens on its first version
        tab = (query.get("tab") or "").strip() or None
        who = auth.identity(self.ops, request)
        if tab not in TABS or not who.may(TAB_ACTIONS.get(tab, accounts.WATCH)):
            tab = None
        if tab is None:
            tab = TAB_COMPARE if pair else TAB_RUNS if run else None
        return pair, run, tab

    def navigate(self, evt: gr.EventData, request: gr.Request):
        """Outputs: compare pair, selected run, tabs."""
        search = str(event_data(evt).get("search") or "").lstrip("?")
        query = dict(parse_qsl(search))
        pair, run, tab = self.from_query(query, request)
        return (pair or gr.skip(), run or gr.skip(),
                self.nav.goto(tab) if tab else gr.skip())

    def wire(self, compare: Any) -> None:
        self.compare = compare
        self.html.select(self.navigate, None, [self.nav.compare_pair, self.nav.selected_run,
                                               self.nav.switch],
                         api_visibility="private", show_progress="hidden")
