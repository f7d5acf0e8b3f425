"""What a webhook receives: the body (JSON or Slack's `{"text": ...}`), its signature and
headers. Pure functions: no clock, no network, no store, so they are tested as they are.

The signature: `X-Cosmos-Signature: sha256=<hex>` is HMAC-SHA256 with the webhook's secret
over `<X-Cosmos-Timestamp>.<raw body>` (the timestamp header's digits, a dot, then the body's
bytes exactly as sent). Why the timestamp is signed too: a receiver that rejects timestamps
older than a few minutes then cannot be fed an old, validly signed delivery again; a
signature over the body alone would let anyone who saw one delivery replay it forever.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any, Mapping
from urllib.parse import quote

PROMPT_EXCERPT = 200
SIGNATURE_HEADER = "X-Cosmos-Signature"
TIMESTAMP_HEADER = "X-Cosmos-Timestamp"
EVENT_HEADER = "X-Cosmos-Event"
DELIVERY_HEADER = "X-Cosmos-Delivery"
USER_AGENT = "cosmos-workflow-orchestrator-webhook/1"


@dataclass(frozen=True)
class RunFacts:
    """What a notice says about a run, read from the store when the event is handled."""

    id: str
    status: str
    owner: str
    model: str
    host: str
    name: str
    prompt: str
    output_path: str | None = None
    failure_cause: str | None = None
    review_status: str | None = None


def excerpt(text: str, limit: int = PROMPT_EXCERPT) -> str:
    """One line of at most `limit` characters (an ellipsis says it was cut)."""
    flat = " ".join((text or "").split())
    return flat if len(flat) <= limit else flat[:limit - 1].rstrip() + "…"


def run_link(public_url: str | None, run_id: str) -> str | None:
    return f"{public_url}/?run={quote(run_id)}" if public_url else None


def output_link(public_url: str | None, path: str | None) -> str | None:
    """The address the app serves the output video at (Gradio's file route)."""
    if not (public_url and path):
        return None
    return f"{public_url}/gradio_api/file={quote(path, safe='/')}"


def json_body(event: str, facts: RunFacts, *, delivery: str, public_url: str | None,
              test: bool = False) -> dict[str, Any]:
    """The JSON a `format = "json"` webhook receives (docs/cli-json.md, "Webhook body")."""
    return {
        "event": event,
        "delivery": delivery,
        "test": test,
        "run": {"id": facts.id, "status": facts.status, "owner": facts.owner,
                "model": facts.model, "host": facts.host, "name": facts.name,
                "prompt": excerpt(facts.prompt), "failure_cause": facts.failure_cause,
                "review_status": facts.review_status},
        "links": {"run": run_link(public_url, facts.id)},
        "output": {"path": facts.output_path, "url": output_link(public_url, facts.output_path)},
    }


def _slack_escape(text: str) -> str:
    """Slack reads &, < and > as markup (links, mentions); user text must not be."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


SLACK_VERBS = {"queued": "was queued", "started": "started", "completed": "completed",
               "failed": "failed", "cancelled": "was cancelled", "blocked": "was blocked",
               "approved": "was approved"}


def slack_body(event: str, facts: RunFacts, *, public_url: str | None,
               test: bool = False) -> dict[str, Any]:
    """Slack's incoming-webhook shape: one `text` in its mrkdwn, user text escaped."""
    link = run_link(public_url, facts.id)
    run_ref = f"<{link}|{facts.id}>" if link else facts.id
    text = (f"{'[test] ' if test else ''}Run {run_ref} {SLACK_VERBS.get(event, event)} "
            f"({facts.model} on {_slack_escape(facts.host)}, owner "
            f"{_slack_escape(facts.owner or 'unknown')})")
    if facts.prompt:
        text += f"\n> {_slack_escape(excerpt(facts.prompt))}"
    if facts.failure_cause and event in ("failed", "blocked"):
        text += f"\nCause: {_slack_escape(excerpt(facts.failure_cause))}"
    video = output_link(public_url, facts.output_path)
    if video and event in ("completed", "approved"):
        text += f"\n<{video}|output video>"
    elif facts.output_path and event in ("completed", "approved"):
        text += f"\nOutput: {_slack_escape(facts.output_path)}"
    return {"text": text}


def encode(body: Mapping[str, Any]) -> bytes:
    """The raw bytes sent (and signed): compact UTF-8 JSON."""
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def signature(secret: str, timestamp: int, raw: bytes) -> str:
    """`sha256=<hex>` of HMAC-SHA256(secret, b"<timestamp>." + raw)."""
    mac = hmac.new(secret.encode("utf-8"), str(timestamp).encode("ascii") + b"." + raw,
                   hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(secret: str, timestamp: str, raw: bytes, header: str) -> bool:
    """What a receiver does (and the tests do): recompute and compare in constant time."""
    try:
        expected = signature(secret, int(timestamp), raw)
    except ValueError:
        return False
    return hmac.compare_digest(expected, header or "")


def headers(raw: bytes, *, event: str, delivery: str, timestamp: int,
            secret: str | None) -> dict[str, str]:
    """The request's headers; the signature only when the webhook has a secret."""
    out = {"Content-Type": "application/json; charset=utf-8", "User-Agent": USER_AGENT,
           EVENT_HEADER: event, DELIVERY_HEADER: delivery, TIMESTAMP_HEADER: str(timestamp)}
    if secret is not None:
        out[SIGNATURE_HEADER] = signature(secret, timestamp, raw)
    return out
