"""Review links in the page: the banner a reviewer sees on a link (with its passphrase box),
and the operator's panel that makes, lists and revokes links.

Which runs a linked page may show is decided in cosmos_ui/review_links.py; this module only
shows it and asks for it.
"""

from __future__ import annotations

import time
from typing import Any, Sequence

import gradio as gr

from backend import accounts
from backend.operations import NotFound, Operations, ValidationFailed
from backend.operations.review_links import QUERY_KEY, parse_duration
from backend.store.history import RunFilter
from components.common import TAB_RUNS, e, event_data, fmt_time, run_title
from components.nav import Nav
from cosmos_ui import auth

EXPIRY_CHOICES = [("1 hour", "1h"), ("1 day", "1d"), ("3 days", "3d"), ("1 week", "7d"),
                  ("30 days", "30d")]
REVOKE_JS = """
element.addEventListener('click', (ev) => {
  const b = ev.target.closest('[data-revoke]');
  if (b) trigger('select', {revoke: b.dataset.revoke});
});
"""


def banner_html(scope: Any, now: float | None = None) -> str:
    if scope.everything:
        return ""
    if scope.link is None:
        reason = getattr(scope.refused, "reason", "unknown")
        return (f"<div class='link-banner refused' id='review-link-refused' "
                f"data-reason='{e(reason)}'><b>Review link:</b> {e(str(scope.refused))}</div>")
    link = scope.link
    left = max(0.0, link.expires_at - (now or time.time()))
    span = (f"{left / 86400:.1f} days" if left > 86400 else f"{left / 3600:.1f} hours"
            if left > 3600 else f"{max(1, int(left // 60))} min")
    title = e(link.title) if link.title else "Review"
    return (f"<div class='link-banner' id='review-link-open' data-link='{e(link.link_id)}'>"
            f"<b>{title}</b>: {len(link.run_ids)} version{'s' if len(link.run_ids) != 1 else ''}"
            f" shared with you · this link works until {e(fmt_time(link.expires_at))} "
            f"(another {span}). Only these versions show on this page.</div>")


def links_html(links: Sequence[dict]) -> str:
    if not links:
        return "<div class='muted' id='links-empty'>No review links yet.</div>"
    rows = []
    for link in links:
        revoke = (f"<button type='button' class='link-revoke' data-revoke='{e(link['id'])}'>"
                  "Revoke</button>" if link["state"] == "active" else "")
        rows.append(f"<tr data-link='{e(link['id'])}' data-state='{e(link['state'])}'>"
                    f"<td>{e(link['title'] or '-')}</td><td>{len(link['run_ids'])}</td>"
                    f"<td>{e(fmt_time(link['expires_at']))}</td><td>{e(link['state'])}</td>"
                    f"<td>{'yes' if link['passphrase'] else ''}</td><td>{revoke}</td></tr>")
    return ("<table class='runs' id='links-table'><tr><th>Title</th><th>Versions</th>"
            "<th>Expires</th><th>State</th><th>Passphrase</th><th></th></tr>"
            + "".join(rows) + "</table>")


class LinkBanner:
    """At the top of the page: what a review link shows, or why it does not."""

    def __init__(self, ops: Operations, nav: Nav, live: Any) -> None:
        self.ops = ops
        self.nav = nav
        self.html = gr.HTML("", elem_id="review-link-banner", js_on_load=None)
        with gr.Row(visible=False, elem_id="link-passphrase-box") as self.pass_box:
            self.passphrase = gr.Textbox(label="This review link needs its passphrase",
                                         type="password", elem_id="link-passphrase", scale=3)
            self.unlock = gr.Button("Open", elem_id="link-unlock", scale=0, min_width=90)
        self.pass_error = gr.HTML("", elem_id="err-passphrase", elem_classes="field-error",
                                  js_on_load=None)
        self.changed = live.signal("review_link", lambda page, events: any(
            ev.kind == "review" and ev.data.get("what") == "link" for ev in events)
            and nav.gate is not None and nav.gate.has_link(page))

    def render(self, request: gr.Request):
        """Outputs: banner, passphrase row, its error."""
        scope = self.nav.scope(request)
        needs = scope.refused is not None and scope.refused.reason in ("passphrase",
                                                                      "wrong_passphrase")
        return banner_html(scope), gr.Row(visible=needs), ""

    def _unlock(self, passphrase: str | None, request: gr.Request):
        """Outputs: banner, passphrase row, its error, the page's selected run, the tabs."""
        scope = self.nav.gate.unlock(request, passphrase) if self.nav.gate else None
        if scope is None or scope.link is None:
            message = str(scope.refused) if scope and scope.refused else "No link to open."
            return (gr.skip(), gr.skip(), f"<div class='field-error-text'>{e(message)}</div>",
                    gr.skip(), gr.skip())
        return (banner_html(scope), gr.Row(visible=False), "", scope.link.run_ids[0],
                self.nav.goto(TAB_RUNS))

    def wire(self) -> None:
        """The passphrase box, and the banner again whenever a link changes."""
        quiet = dict(api_visibility="private", show_progress="hidden")
        outputs = [self.html, self.pass_box, self.pass_error]
        self.changed.change(self.render, None, outputs, **quiet)
        self.unlock.click(self._unlock, self.passphrase,
                          outputs + [self.nav.selected_run, self.nav.switch],
                          api_visibility="private")


class LinksPanel:
    """The operator's review links: make one for chosen versions, list, revoke."""

    def __init__(self, ops: Operations, nav: Nav) -> None:
        self.ops = ops
        self.nav = nav
        with gr.Accordion("Review links (share chosen versions with reviewers)", open=False,
                          elem_id="review-links") as self.box:
            with gr.Row():
                self.runs = gr.Dropdown(label="Versions to share", multiselect=True,
                                        choices=[], elem_id="link-runs", scale=3)
                self.expires = gr.Dropdown(EXPIRY_CHOICES, value="7d", label="Works for",
                                           allow_custom_value=True, elem_id="link-expires",
                                           scale=1, info="or type e.g. 12h, 90m")
            with gr.Row():
                self.title = gr.Textbox(label="Title reviewers see", elem_id="link-title",
                                        max_length=200, scale=2)
                self.passphrase = gr.Textbox(label="Passphrase (optional)", type="password",
                                             elem_id="link-new-passphrase", scale=2)
                self.make = gr.Button("Make link", elem_id="link-make", scale=0, min_width=110)
            self.error = gr.HTML("", elem_id="err-link", elem_classes="field-error",
                                 js_on_load=None)
            self.url = gr.Textbox(label="The link (shown once: copy it now)", visible=False,
                                  interactive=False, elem_id="link-url", buttons=["copy"])
            self.table = gr.HTML(links_html([]), js_on_load=REVOKE_JS, elem_id="links-box")
        self._wire()

    def render(self, picks: list[str] | None, request: gr.Request):
        """Outputs: the versions dropdown, the links table."""
        if not auth.allowed(self.ops, request, accounts.SHARE):
            return gr.skip(), gr.skip()
        runs, _ = self.ops.find_runs(RunFilter(with_output=True), limit=100)
        choices = [(f"{run_title(r, 40)} · {r.id[-8:]}", r.id) for r in runs]
        return (gr.update(choices=choices, value=[p for p in (picks or [])
                                                  if p in {r.id for r in runs}]),
                links_html(self.ops.review_links()))

    def _make(self, runs: list[str] | None, expires: str | None, title: str | None,
              passphrase: str | None, request: gr.Request):
        """Outputs: error, url box, table, passphrase."""
        who = auth.check(self.ops, request, accounts.SHARE)
        try:
            seconds = parse_duration(expires or "")
        except ValueError as exc:
            return (f"<div class='field-error-text'>Works for: {e(str(exc))}</div>",
                    gr.skip(), gr.skip(), gr.skip())
        try:
            link = self.ops.create_review_link(runs or [], expires_in=seconds,
                                               created_by=who.username, title=title or "",
                                               passphrase=passphrase or None)
        except ValidationFailed as failed:
            text = " ".join(f"{err.message}" for err in failed.errors)
            return (f"<div class='field-error-text'>{e(text)}</div>", gr.skip(), gr.skip(),
                    gr.skip())
        base = ""
        try:
            base = str(request.headers.get("origin") or "")
        except Exception:  # noqa: BLE001 - the URL stays relative then
            base = ""
        url = f"{base}/?{QUERY_KEY}={link['token']}"
        return ("", gr.update(value=url, visible=True), links_html(self.ops.review_links()),
                "")

    def _revoke(self, evt: gr.EventData, request: gr.Request):
        who = auth.check(self.ops, request, accounts.SHARE)
        link_id = str(event_data(evt).get("revoke") or "")
        try:
            self.ops.revoke_review_link(link_id, who.username)
        except NotFound:
            pass
        return links_html(self.ops.review_links())

    def _wire(self) -> None:
        quiet = dict(api_visibility="private", show_progress="hidden")
        self.box.expand(self.render, self.nav.picks, [self.runs, self.table], **quiet)
        self.make.click(self._make, [self.runs, self.expires, self.title, self.passphrase],
                        [self.error, self.url, self.table, self.passphrase],
                        api_visibility="private")
        self.table.select(self._revoke, None, self.table, **quiet)
