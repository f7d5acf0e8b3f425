"""Compare two runs: both videos on one timeline (play, pause and seek move both), the
parameters that differ, the prompt change word by word, the inputs on demand, and an export
that renders one labelled side-by-side mp4.

Reached from the gallery or history picks, or straight from a URL: `?a=<run id>&b=<run id>`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import gradio as gr

from backend import accounts
from cosmos_ui import auth

from backend.compare import effective_weights, param_rows, word_diff
from backend.store.history import RunFilter
from backend.media import MediaError
from backend.operations import NotFound, Operations, Refused, RunSummary
from components.common import TAB_COMPARE, e, run_title
from components.nav import Nav
from components.review_compare import compare_html
from components.review_html import notes_html

COMPARE_JS = ("const m = () => window.CosmosReview && CosmosReview.mountCompare(element);"
              " m(); watch('value', m);")
NOTES_JS = ("CosmosReview.mountNotes(element, trigger);"
            " watch('value', () => CosmosReview.readNotes(element));")


def player_html(a: RunSummary | None, b: RunSummary | None,
                inputs: dict[str, list[tuple[str, str]]] | None = None,
                layers: dict[str, dict[str, str]] | None = None,
                versions: dict[str, dict] | None = None) -> str:
    """Both outputs in one review player (components/review_compare.py)."""
    if a is None or b is None:
        return ("<div class='muted' id='compare-empty'>Pick two runs: in the gallery or "
                "the history (\"pick\"), or choose them above.</div>")
    return compare_html(a, b, inputs=inputs, layers=layers, versions=versions)


def _cell(key: str, value: Any) -> str:
    if value is None or value == "":
        return "<span class='muted'>-</span>"
    if key in ("input_video",) or key.startswith("control_videos."):
        return e(Path(str(value)).name)
    if key == "regional_prompts" and isinstance(value, list):
        return "<br>".join(f"region: {e(str(r.get('prompt', ''))[:80])} (mask "
                           f"{e(Path(str(r.get('mask_video', ''))).name)})" for r in value
                           if isinstance(r, dict)) or "<span class='muted'>-</span>"
    if isinstance(value, float):
        return f"{value:g}"
    text = str(value)
    return e(text if len(text) <= 120 else text[:117] + "...")


def diff_html(a: RunSummary, b: RunSummary, show_all: bool = False) -> str:
    rows = []
    facts = [("Host", a.host, b.host), ("Type", a.run_type, b.run_type)]
    for label, va, vb in facts:
        if va != vb or show_all:
            cls = " class='differs'" if va != vb else ""
            rows.append(f"<tr{cls}><td>{e(label)}</td><td>{e(va)}</td><td>{e(vb)}</td></tr>")
    for row in param_rows(a.params, b.params, only_differences=not show_all):
        cls = " class='differs'" if row.differs else ""
        rows.append(f"<tr{cls} data-key='{e(row.key)}'><td>{e(row.label)}</td>"
                    f"<td>{_cell(row.key, row.a)}</td><td>{_cell(row.key, row.b)}</td></tr>")
    ea, eb = effective_weights(a.params), effective_weights(b.params)
    if ea != eb:
        fmt = lambda w: ", ".join(f"{c} {v:.2f}" for c, v in w.items()) or "none"  # noqa: E731
        rows.append(f"<tr class='differs'><td>Weights Cosmos uses</td><td>{fmt(ea)}</td>"
                    f"<td>{fmt(eb)}</td></tr>")
    if not rows:
        rows.append("<tr><td colspan='3' class='muted'>Same settings: the difference is "
                    "chance (or the host).</td></tr>")
    return ("<div class='table-scroll'><table class='runs' id='compare-diff-table'>"
            "<tr><th>Parameter</th><th>A</th><th>B</th></tr>" + "".join(rows) +
            "</table></div>")


#: Below this share of words in common, marks word by word read as noise: both prompts are
#: shown whole instead, one above the other.
MIN_SHARED = 0.5


def prompt_diff_html(a: str, b: str) -> str:
    if a == b:
        return "<div class='muted' id='prompt-diff'>Same prompt.</div>"
    diff = word_diff(a, b)
    shared = sum(len(text.split()) for op, text in diff if op == "same")
    longest = max(len(a.split()), len(b.split()), 1)
    if shared / longest < MIN_SHARED:
        return ("<div><b>Prompt change</b>: the prompts differ throughout, so both are shown "
                "whole</div><div class='prompt-diff prompt-whole' id='prompt-diff'>"
                f"<div><b>A</b> <span class='diff-del'>{e(a)}</span></div>"
                f"<div><b>B</b> <span class='diff-ins'>{e(b)}</span></div></div>")
    pieces = []
    for op, text in diff:
        if op == "same":
            pieces.append(e(text))
        else:
            pieces.append(f"<span class='diff-{op}'>{e(text)}</span>")
    return ("<div><b>Prompt change</b> (A to B: <span class='diff-del'>removed</span>, "
            f"<span class='diff-ins'>added</span>)</div><div class='prompt-diff' "
            f"id='prompt-diff'>{''.join(pieces)}</div>")


class CompareView:
    def __init__(self, ops: Operations, nav: Nav) -> None:
        self.ops = ops
        self.nav = nav
        live = nav.live
        with gr.Column(elem_id="compare"):
            with gr.Row(elem_classes="stack-narrow"):
                self.a = gr.Dropdown(label="Run A", choices=[], allow_custom_value=True,
                                     elem_id="compare-a", scale=3)
                self.swap = gr.Button("Swap", size="sm", scale=0, elem_id="compare-swap",
                                      min_width=70)
                self.b = gr.Dropdown(label="Run B", choices=[], allow_custom_value=True,
                                     elem_id="compare-b", scale=3)
            self.show_inputs = gr.Checkbox(label="Show the inputs beside the outputs",
                                           value=False, elem_id="compare-inputs")
            self.player = gr.HTML(player_html(None, None), js_on_load=COMPARE_JS,
                                  elem_id="compare-player")
            with gr.Row(elem_classes="stack-narrow"):
                self.notes_a = gr.HTML("", js_on_load=NOTES_JS, elem_id="compare-notes-a",
                                       min_width=280)
                self.notes_b = gr.HTML("", js_on_load=NOTES_JS, elem_id="compare-notes-b",
                                       min_width=280)
            with gr.Row(elem_classes="stack-narrow"):
                with gr.Column(min_width=300):
                    self.show_all = gr.Checkbox(label="Show every parameter", value=False,
                                                elem_id="compare-all")
                    self.diff = gr.HTML(js_on_load=None, elem_id="compare-diff")
                with gr.Column(min_width=300):
                    self.prompt_diff = gr.HTML(js_on_load=None, elem_id="compare-prompt")
                    self.link = gr.HTML(js_on_load=None, elem_id="compare-link")
            with gr.Row():
                self.export = gr.Button("Export side-by-side mp4", elem_id="compare-export",
                                        interactive=False)
            self.export_message = gr.Markdown(elem_id="compare-export-message")
            self.export_file = gr.File(label="Side-by-side video", interactive=False,
                                       visible=False, elem_id="compare-export-file")
        self.changed = live.signal("compare_notes", lambda page, events: any(
            ev.kind == "review" and ev.run_id in page.data.get("compare", ())
            for ev in events)) if live is not None else None
        self._wire()

    def choices(self, extra: Sequence[str] = (), ids: Sequence[str] | None = ()
                ) -> list[tuple[str, str]]:
        if ids is None:
            return []
        runs, _ = self.ops.find_runs(RunFilter(with_output=True, ids=ids), limit=100)
        known = {r.id for r in runs}
        for run_id in extra:
            if run_id and run_id not in known and (not ids or run_id in ids):
                try:
                    runs.append(self.ops.get_run(run_id))
                except NotFound:
                    pass
        return [(f"{run_title(r, 48)} · {r.id[-8:]}", r.id) for r in runs]

    def _inputs_of(self, run: RunSummary) -> list[tuple[str, str]]:
        items = []
        source = run.params.get("input_video")
        if run.run_type == "upscale" and run.parent_id:
            try:
                source = self.ops.get_run(run.parent_id).output_path
            except NotFound:
                source = None
        if source:
            items.append(("input video", source))
        for control, path in (run.params.get("control_videos") or {}).items():
            if path:
                items.append((f"{control} control video", path))
        return items

    def layers_of(self, run: RunSummary) -> dict[str, str]:
        """The control video that drove the run most (its own, or the one Cosmos computed)."""
        layers = self.ops.control_layers(run.id)
        return dict(list(layers.items())[:1])

    def render(self, pair: Any, show_inputs: bool, show_all: bool,
               request: gr.Request | None = None):
        """Outputs: a, b, player, diff, prompt diff, link, export button, notes A, notes B."""
        a_id, b_id = (list(pair) + [None, None])[:2] if pair else (None, None)
        scope = self.nav.scope(request)
        runs = []
        for run_id in (a_id, b_id):
            try:
                runs.append(self.ops.get_run(run_id) if run_id and scope.allows(run_id)
                            else None)
            except NotFound:
                runs.append(None)
        a, b = runs
        if self.nav.live is not None and request is not None:
            self.nav.live.page(request).data["compare"] = tuple(r.id for r in runs if r)
        choices = self.choices([x for x in (a_id, b_id) if x], scope.filter_ids())
        dd_a = gr.update(choices=choices, value=a.id if a else None)
        dd_b = gr.update(choices=choices, value=b.id if b else None)
        if a is None or b is None:
            missing = [x for x, r in ((a_id, a), (b_id, b)) if x and r is None]
            note = (f"<div class='run-cause'>No run {e(', '.join(missing))}.</div>"
                    if missing else "")
            return (dd_a, dd_b, player_html(None, None) + note, "", "", "",
                    gr.update(interactive=False), "", "")
        inputs = {"a": self._inputs_of(a), "b": self._inputs_of(b)} if show_inputs else None
        link = (f"<div class='muted'>Link to this comparison: <a id='compare-url' "
                f"href='?a={e(a.id)}&amp;b={e(b.id)}'>?a={e(a.id)}&amp;b={e(b.id)}</a></div>")
        versions = self.ops.version_facts([a.id, b.id])
        layers = {"a": self.layers_of(a), "b": self.layers_of(b)}
        return (dd_a, dd_b, player_html(a, b, inputs, layers, versions),
                diff_html(a, b, show_all), prompt_diff_html(a.prompt, b.prompt), link,
                gr.update(interactive=bool(a.output_path and b.output_path)),
                *self.notes_of(a, b, request))

    def notes_of(self, a: RunSummary | None, b: RunSummary | None,
                 request: gr.Request | None = None) -> tuple[str, str]:
        """Each side's notes (click one: both players land on its frame)."""
        viewer = auth.identity(self.ops, request)
        out = []
        for tag, run in (("A", a), ("B", b)):
            out.append(notes_html(run.id, self.ops.notes(run.id), viewer, may_write=False,
                                  title=f"Notes on {tag}") if run else "")
        return out[0], out[1]

    def render_notes(self, pair: Any, request: gr.Request):
        scope = self.nav.scope(request)
        runs = []
        for run_id in (list(pair or []) + [None, None])[:2]:
            try:
                runs.append(self.ops.get_run(run_id) if run_id and scope.allows(run_id)
                            else None)
            except NotFound:
                runs.append(None)
        return self.notes_of(runs[0], runs[1], request)

    def _export(self, pair: Any, request: gr.Request):
        auth.check(self.ops, request, accounts.WATCH)
        if not pair or len(pair) != 2:
            return "Pick two runs first.", gr.skip()
        if self.nav.gate is not None:
            for run_id in pair:
                self.nav.gate.check(request, run_id)
        try:
            out = self.ops.export_side_by_side(pair[0], pair[1])
        except (NotFound, Refused, MediaError) as exc:
            return f"Not exported: {exc}", gr.update(visible=False)
        return (f"Rendered **{e(out.name)}**: A on the left, B on the right.",
                gr.update(value=str(out), visible=True))

    @staticmethod
    def from_query(query: dict[str, str]) -> tuple | None:
        """The pair asked for in the page URL (`?a=...&b=...`), if both are there."""
        a, b = (query.get("a") or "").strip(), (query.get("b") or "").strip()
        return (a, b) if a and b else None

    def _wire(self) -> None:
        quiet = dict(api_visibility="private", show_progress="hidden")
        pair = self.nav.compare_pair
        outputs = [self.a, self.b, self.player, self.diff, self.prompt_diff, self.link,
                   self.export, self.notes_a, self.notes_b]
        if self.changed is not None:
            self.changed.change(self.render_notes, pair, [self.notes_a, self.notes_b],
                                **quiet)
        pair.change(self.render, [pair, self.show_inputs, self.show_all], outputs, **quiet)
        self.nav.on_show(TAB_COMPARE, self.render, [pair, self.show_inputs, self.show_all],
                         outputs)  # fresh statuses and videos each time the tab shows
        for box in (self.show_inputs, self.show_all):
            box.change(self.render, [pair, self.show_inputs, self.show_all], outputs, **quiet)
        def pick(a: str | None, b: str | None):
            return (a, b) if (a or b) else gr.skip()

        self.a.input(pick, [self.a, self.b], pair, **quiet)
        self.b.input(pick, [self.a, self.b], pair, **quiet)
        self.swap.click(lambda p: (p[1], p[0]) if p and len(p) == 2 else gr.skip(), pair, pair,
                        **quiet)
        self.export.click(self._export, pair, [self.export_message, self.export_file],
                          api_visibility="private")
