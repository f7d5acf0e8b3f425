"""Webhooks as the UI and the CLI see them: what is configured (never an address that may be
a token, never a secret), a test delivery with what the endpoint answered, and a run's
delivery log.

The test is sent from the calling process and waits for the answer (one attempt, the
webhook's timeout): it is the one network call of operations besides doctor, asked for by a
person who wants to see the answer.
"""

from __future__ import annotations

import time
from urllib.parse import urlsplit
from typing import Any

from backend.config.notify import WebhookConfig
from backend.notify import payload
from backend.notify.notifier import render
from backend.notify.send import host_of, post
from backend.operations.errors import NotFound


def _address(hook: WebhookConfig) -> str:
    """Where it goes, said without the path (a Slack address's path is its token)."""
    if hook.url_env is not None:
        return f"${hook.url_env}"
    assert hook.url is not None
    parts = urlsplit(hook.url)
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host_of(hook.url)}{port}/…"


def webhook_info(hook: WebhookConfig) -> dict[str, Any]:
    return {"name": hook.name, "events": list(hook.events), "format": hook.format,
            "address": _address(hook), "signed": hook.secret_env is not None,
            "secret_env": hook.secret_env, "timeout": hook.timeout}


def delivery_dict(row: Any) -> dict[str, Any]:
    return {"webhook": row.hook, "event": row.event, "attempt": row.attempt, "at": row.at,
            "outcome": row.outcome, "status_code": row.status_code, "error": row.error,
            "answered_at": row.answered_at}


TEST_PROMPT = "A test delivery from the Cosmos Workflow Orchestrator."


class WebhookOps:
    """A mixin of Operations (settings, store)."""

    def webhooks(self) -> list[dict[str, Any]]:
        return [webhook_info(h) for h in self.settings.notify.webhooks]

    def test_webhook(self, name: str | None = None) -> list[dict[str, Any]]:
        """Send one test notice to the named webhook (every one when None) and say what each
        answered. Signed like a real one; its body says `"test": true`."""
        hooks = self.settings.notify.webhooks
        if name:
            hook = self.settings.notify.hook(name)
            if hook is None:
                known = ", ".join(h.name for h in hooks) or "none is configured"
                raise NotFound(f"webhook {name!r} (configured: {known})")
            hooks = (hook,)
        gen = self.settings.generation
        try:
            owner = self.local_user
        except ValueError:  # a malformed $COSMOS_USER: the test body needs no owner
            owner = ""
        facts = payload.RunFacts(id="TEST", status="completed", owner=owner,
                                 model=gen.model, host=gen.host, name="webhook test",
                                 prompt=TEST_PROMPT)
        results = []
        for hook in hooks:
            event = hook.events[0]
            delivery = f"test:{hook.name}:{int(time.time())}"
            raw = render(hook, event, facts, delivery=delivery,
                         public_url=self.settings.notify.public_url, test=True)
            answer = post(hook, raw, event=event, delivery=delivery)
            results.append({"webhook": hook.name, "event": event, "ok": answer.ok,
                            "status_code": answer.status_code, "error": answer.error,
                            "answer": answer.body, "said": answer.describe()})
        return results

    def webhook_log(self, run_id: str) -> list[dict[str, Any]]:
        """Every delivery attempt for a run, oldest first."""
        if self.store.get_run(run_id) is None:
            raise NotFound(f"run {run_id}")
        return [delivery_dict(r) for r in self.store.webhook_deliveries(run_id)]
