"""What the UI pieces share: the tabs, the selected run, the compare pair, and the tab shown.

When the selected tab changes (by a click or by a handler that jumps there), one event reads
which tab is showing, tells the page's live stream (components/live.py: it pushes only what
is on screen) and renders the pieces registered for that tab at once.
"""

from __future__ import annotations

import json
import itertools
from typing import Any, Callable, Sequence

import gradio as gr

from components.common import TAB_CREATE, TAB_RUNS  # noqa: F401 (TAB_CREATE: the first tab)
from components.fanout import Fanout, call, combine, fill_answer

#: Reads the selected tab from the page (Tabs.change carries no value of its own).
_PROBE_JS = """(x) => {
  const b = document.querySelector('#main-tabs [role=tab][aria-selected=true]');
  return b ? (b.dataset.tabId || b.id.replace(/^tab-/, '').replace(/-button$/, '')) : null;
}"""

#: Switches to the tab a handler asked for (see Nav.goto): a click on its button, so the tabs'
#: own change event follows as it does for a person's click.
#: On a narrow screen the tabs that do not fit sit in the "More tabs" menu, as buttons that
#: carry only their label (LABELS: tab id -> label, filled in by Nav.wire).
_SWITCH_JS = """(request) => {
  const tab = String(request || '').split('@')[0];
  if (!tab) return [];
  let button = document.getElementById('tab-' + tab + '-button');
  if (!button) {
    const label = (LABELS)[tab];
    button = [...document.querySelectorAll('#main-tabs .overflow-dropdown button')]
      .find(b => b.textContent.trim() === label);
  }
  if (button && button.getAttribute('aria-selected') !== 'true') button.click();
  return [];
}"""

_switches = itertools.count(1)


class Nav:
    """Created inside the Blocks before the tabs; pieces get it and use its states."""

    def __init__(self, live: Any = None) -> None:
        self.live = live
        self.selected_run = gr.State(None)  # run shown in the Runs tab's details
        self.compare_pair = gr.State(None)  # (a_id, b_id) shown in Compare
        self.picks = gr.State([])  # up to two runs picked for comparison (gallery, history)
        self.launched = gr.State(None)  # the run this page last launched (notifications)
        self.shown_status = gr.State("")  # "<run id>:<status>" of the run in the details view
        self.active_tab = gr.State(TAB_CREATE)
        self.tabs: gr.Tabs | None = None
        # A handler switches tabs by writing here (see `goto`), never by returning gr.Tabs:
        # Gradio's page walks every component that was ever an event's output, with all its
        # children, on each status message; the tabs hold the whole app (~460 components),
        # which made every live update cost the browser ~100 ms (seconds on a loaded box).
        self.switch = gr.Textbox(visible="hidden", elem_id="nav-switch")
        self._on_show: list[tuple[str, Callable, Sequence, Sequence]] = []
        self._probe = gr.Textbox(visible=False)
        self.gate: Any = None  # cosmos_ui.review_links.LinkGate: what a page may show
        #: (run id, request): the run view shows this run now, server side, without waiting
        #: for the page's own round trip (set by the run view; a launch calls it)
        self.show_run: Callable[[str, Any], None] | None = None
        #: Views reacting to a new selection, or to the shown run's status, as one event
        #: each (components/fanout.py): register with `on_selected` / `on_shown_status`.
        self._selected = Fanout()
        self._shown_status = Fanout()

    def on_selected(self, fn: Callable, inputs: Sequence, outputs: Sequence) -> None:
        """Run `fn` when the selected run changes (one event for every view, see `wire`)."""
        self._selected.add(fn, inputs, outputs)

    def on_shown_status(self, fn: Callable, inputs: Sequence, outputs: Sequence) -> None:
        """Run `fn` when the run view's run or its status changes (`shown_status`)."""
        self._shown_status.add(fn, inputs, outputs)

    def launched_now(self, run_id: str, request: Any) -> None:
        """A handler of this page launched `run_id`: the run view shows it at once.

        The handler also switches the page to Runs (`goto`); the server counts the page as
        there already, so the run view is pushed now, while the launch's answer is on its
        way, instead of after the page's own tab-change round trips."""
        if self.show_run is not None and request is not None:
            self.count_as_on(TAB_RUNS, request)
            self.show_run(run_id, request)

    def count_as_on(self, tab: str, request: Any) -> None:
        """The page behind `request` counts as showing `tab` for the live stream, ahead of
        its own tab-change event (a handler that answers with a `goto(tab)` knows)."""
        if self.live is not None and request is not None:
            self.live.page(request).tab = tab

    def scope(self, request: gr.Request | None) -> Any:
        """What the page behind `request` may show (everything without a review link)."""
        if self.gate is None:
            from cosmos_ui.review_links import PageScope
            return PageScope()
        return self.gate.scope(request)

    def scope_of_page(self, page: Any) -> Any:
        if self.gate is None:
            from cosmos_ui.review_links import PageScope
            return PageScope()
        return self.gate.scope_of_page(page)

    def on_show(self, tab: str, fn: Callable, inputs: Sequence, outputs: Sequence) -> None:
        """Run `fn` as soon as `tab` shows (it may have changed while hidden)."""
        self._on_show.append((tab, fn, list(inputs), list(outputs)))

    @staticmethod
    def _if_showing(tab: str, fn: Callable, n_outputs: int, request: gr.Request,
                    active: str | None, *args: Any):
        if active != tab:
            if n_outputs == 0:
                return None
            return [gr.skip()] * n_outputs if n_outputs > 1 else gr.skip()
        return call(fn, request, args)  # what the page may show may depend on who asks

    @staticmethod
    def goto(tab: str) -> str:
        """Return this from a handler (with `nav.switch` among its outputs) to switch tabs.
        The value changes on every call (a counter), so asking twice for one tab works."""
        return f"{tab}@{next(_switches)}"

    def wire(self) -> None:
        """Call once, after every piece has registered what it renders on showing."""

        def on_tab(tab: str | None, request: gr.Request):
            if self.live is not None:
                self.live.page(request).tab = tab
            return tab

        quiet = dict(api_visibility="private", show_progress="hidden")
        labels = {tab.id: tab.label for tab in self.tabs.children if isinstance(tab, gr.Tab)}
        self.switch.change(None, self.switch, None,
                           js=_SWITCH_JS.replace("(LABELS)", json.dumps(labels)), **quiet)
        changed = self.tabs.change(on_tab, self._probe, self.active_tab,
                                   js=_PROBE_JS, queue=False, **quiet)
        inputs, outputs, handler = self._shown_all()
        # one event for every view that renders on showing, not one per view, and unqueued:
        # each queued event costs the page several status messages, and each message a walk
        # of its components (an event per view made a tab switch take about 2 s to settle)
        changed.then(handler, [self.active_tab, *inputs], outputs, queue=False, **quiet)
        # the same for a new selection and the shown run's status: one unqueued event each
        self._selected.wire(self.selected_run.change, queue=False, **quiet)
        self._shown_status.wire(self.shown_status.change, queue=False, **quiet)

    def _shown_all(self) -> tuple[list[Any], list[Any], Callable]:
        """The inputs, outputs and handler of the one event that renders, when a tab shows,
        the views registered for it (`on_show`). Each view gets its own slice of the inputs;
        outputs shared by views are listed once (the later view's value wins)."""
        inputs, outputs, places = combine([(ins, outs) for _, _, ins, outs in self._on_show])
        plan = [(tab, fn, part, spots)
                for (tab, fn, _, _), (part, spots) in zip(self._on_show, places)]

        def shown(request: gr.Request, active: str | None, *args: Any):
            values: list[Any] = [gr.skip()] * len(outputs)
            for tab, fn, part, spots in plan:
                if active != tab:
                    continue
                fill_answer(values, spots,
                            self._if_showing(tab, fn, len(spots), request, active, *args[part]))
            if not outputs:
                return None
            return values if len(outputs) > 1 else values[0]
        return inputs, outputs, shown


def pick_toggle(picks: list[str] | None, run_id: str, limit: int = 2) -> list[str]:
    """Add or remove `run_id` from the compare picks; the oldest pick drops out past `limit`."""
    picks = list(picks or [])
    if run_id in picks:
        picks.remove(run_id)
    else:
        picks.append(run_id)
    return picks[-limit:]
