"""The Hosts tab's Webhooks box (operators only): what `[[notify.webhooks]]` configures, and
"Send a test" with what the endpoint answered; and the run view's delivery log.

The test goes through `operations.test_webhook` and waits for the endpoint's answer (one
attempt, the webhook's timeout): the person pressed the button to see it. Addresses are shown
without their path (a Slack address's path is its token) and secrets never reach the page.
"""

from __future__ import annotations

import time
from typing import Any

import gradio as gr

from backend import accounts
from backend.operations import NotFound, Operations
from components.common import e
from cosmos_ui import auth

ALL = "every webhook"


def hooks_html(hooks: list[dict[str, Any]]) -> str:
    if not hooks:
        return ("<div class='muted' id='webhooks-none'>No webhooks are configured: add "
                "<code>[[notify.webhooks]]</code> tables to config.toml (see README, "
                "Webhooks).</div>")
    rows = "".join(
        f"<tr data-webhook='{e(h['name'])}'><td>{e(h['name'])}</td><td>{e(h['format'])}</td>"
        f"<td>{'signed ($' + e(h['secret_env']) + ')' if h['signed'] else 'unsigned'}</td>"
        f"<td>{e(', '.join(h['events']))}</td><td><code>{e(h['address'])}</code></td></tr>"
        for h in hooks)
    return ("<table id='webhooks-table' class='hosts-table'><tr><th>Name</th><th>Format</th>"
            "<th>Signature</th><th>Events</th><th>Address</th></tr>" + rows + "</table>")


def results_html(results: list[dict[str, Any]]) -> str:
    items = "".join(
        f"<li class='{'ok' if r['ok'] else 'run-cause'}' data-webhook='{e(r['webhook'])}'>"
        f"<b>{e(r['webhook'])}</b> ({e(r['event'])}): {'answered' if r['ok'] else 'failed'}: "
        f"{e(r['said'])}</li>" for r in results)
    return f"<ul id='webhook-test-results'>{items}</ul>"


def deliveries_html(deliveries: list[dict[str, Any]]) -> str:
    if not deliveries:
        return "<div class='muted' id='webhook-log-empty'>No webhook deliveries for this run.</div>"
    rows = "".join(
        f"<tr class='delivery-{e(d['outcome'])}'><td>{time.strftime('%H:%M:%S', time.localtime(d['at']))}"
        f"</td><td>{e(d['webhook'])}</td><td>{e(d['event'])}</td><td>{d['attempt']}</td>"
        f"<td>{e(d['outcome'])}</td><td>{'' if d['status_code'] is None else d['status_code']}"
        f"</td><td>{e(d['error'] or '')}</td></tr>" for d in deliveries)
    return ("<table id='webhook-log' class='hosts-table'><tr><th>Time</th><th>Webhook</th>"
            "<th>Event</th><th>Attempt</th><th>Outcome</th><th>HTTP</th><th>Error</th></tr>"
            + rows + "</table>")


class WebhooksPanel:
    """In the Hosts tab (which reviewers do not see); every handler checks HOSTS again."""

    def __init__(self, ops: Operations) -> None:
        self.ops = ops
        names = [h["name"] for h in ops.webhooks()]
        with gr.Accordion("Webhooks", open=False, elem_id="webhooks-box") as self.box:
            self.table = gr.HTML(hooks_html(ops.webhooks()), elem_id="webhooks-list")
            with gr.Row():
                self.pick = gr.Dropdown([ALL, *names], value=ALL, label="Webhook",
                                        interactive=bool(names), elem_id="webhook-pick")
                self.test = gr.Button("Send a test", interactive=bool(names),
                                      elem_id="webhook-test", scale=0)
            self.result = gr.HTML("", elem_id="webhook-test-result")
        self.test.click(self._test, [self.pick], [self.result], api_visibility="private")

    def _test(self, name: str | None, request: gr.Request) -> str:
        auth.check(self.ops, request, accounts.HOSTS)
        try:
            results = self.ops.test_webhook(None if name in (None, "", ALL) else name)
        except NotFound as exc:
            return f"<div class='run-cause'>Not sent: {e(str(exc.args[0]))}</div>"
        return results_html(results)


class DeliveryLog:
    """The run view's "Webhook deliveries" accordion: read when opened or refreshed (a
    delivery publishes no event, so the page is not woken for it)."""

    def __init__(self, ops: Operations, selected: Any) -> None:
        self.ops = ops
        with gr.Accordion("Webhook deliveries", open=False, elem_id="run-webhooks-box") as box:
            self.html = gr.HTML("", elem_id="run-webhooks")
            self.refresh = gr.Button("Refresh", size="sm", elem_id="run-webhooks-refresh")
        box.expand(self._render, [selected], [self.html], api_visibility="private")
        self.refresh.click(self._render, [selected], [self.html], api_visibility="private")

    def _render(self, run_id: str | None, request: gr.Request) -> str:
        if not auth.allowed(self.ops, request, accounts.HOSTS):
            return "<div class='muted'>Webhook deliveries are shown to operators.</div>"
        if not run_id:
            return ""
        try:
            return deliveries_html(self.ops.webhook_log(run_id))
        except NotFound:
            return "<div class='muted'>That run no longer exists.</div>"
