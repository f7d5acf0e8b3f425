"""Webhooks' pure parts and their config: bodies, signature, event names, validation, and
the store's delivery log with its one-sender claim."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from backend.config import ConfigError, load_config
from backend.config.notify import WebhookConfig
from backend.events.types import ReviewChanged, StatusChanged
from backend.notify import payload
from backend.notify.notifier import event_name, render
from backend.notify.send import NotReady, resolve
from tests.unit.test_config import MINIMAL, write

FACTS = payload.RunFacts(id="01JRUN", status="completed", owner="ann", model="transfer1",
                         host="sim", name="shot 10", prompt="a rainy <neon> street & " + "x" * 300,
                         output_path="/data/runs/01JRUN/out put.mp4")


def hooks_config(tmp_path: Path, body: str, top: str = "") -> Path:
    return write(tmp_path, MINIMAL + "\n[notify]\n" + top + "\n" + body)


def test_json_body_has_run_links_and_output():
    body = payload.json_body("completed", FACTS, delivery="k1", public_url="https://cosmos.lan")
    assert body["event"] == "completed" and body["delivery"] == "k1" and body["test"] is False
    assert body["run"]["id"] == "01JRUN" and body["run"]["owner"] == "ann"
    assert len(body["run"]["prompt"]) == payload.PROMPT_EXCERPT
    assert body["run"]["prompt"].endswith("…")
    assert body["links"]["run"] == "https://cosmos.lan/?run=01JRUN"
    assert body["output"] == {"path": "/data/runs/01JRUN/out put.mp4",
                              "url": "https://cosmos.lan/gradio_api/file=/data/runs/01JRUN/"
                                     "out%20put.mp4"}


def test_json_body_without_public_url_has_no_links():
    body = payload.json_body("queued", FACTS, delivery="k", public_url=None)
    assert body["links"]["run"] is None and body["output"]["url"] is None
    assert body["output"]["path"] == FACTS.output_path


def test_slack_body_escapes_user_text_and_links_the_run():
    body = payload.slack_body("completed", FACTS, public_url="https://cosmos.lan")
    assert set(body) == {"text"}
    text = body["text"]
    assert "<https://cosmos.lan/?run=01JRUN|01JRUN>" in text
    assert "&lt;neon&gt; street &amp;" in text and "<neon>" not in text
    assert "|output video>" in text


def test_signature_is_hmac_over_timestamp_and_raw_body():
    raw = payload.encode({"a": 1})
    sig = payload.signature("s3cret", 1700000000, raw)
    import hashlib
    import hmac
    assert sig == "sha256=" + hmac.new(b"s3cret", b"1700000000." + raw,
                                       hashlib.sha256).hexdigest()
    assert payload.verify("s3cret", "1700000000", raw, sig)
    assert not payload.verify("other", "1700000000", raw, sig)
    assert not payload.verify("s3cret", "1700000001", raw, sig)  # the timestamp is signed
    assert not payload.verify("s3cret", "1700000000", raw + b" ", sig)
    headers = payload.headers(raw, event="completed", delivery="d", timestamp=5, secret=None)
    assert payload.SIGNATURE_HEADER not in headers and headers[payload.TIMESTAMP_HEADER] == "5"


def test_render_picks_the_format():
    hook = WebhookConfig(name="h", events=("completed",), url="http://127.0.0.1/x",
                         format="slack")
    assert set(json.loads(render(hook, "completed", FACTS, delivery="d", public_url=None))) \
        == {"text"}
    hook = WebhookConfig(name="h", events=("completed",), url="http://127.0.0.1/x")
    assert json.loads(render(hook, "completed", FACTS, delivery="d", public_url=None))[
        "run"]["id"] == "01JRUN"


@pytest.mark.parametrize("event,expected", [
    (StatusChanged("r", status="running"), ("started", "running")),
    (StatusChanged("r", status="blocked"), ("blocked", "blocked")),
    (StatusChanged("r", status="staging"), None),
    (StatusChanged("r", status="deleted"), None),
    (ReviewChanged("r", what="status", ref="approved"), ("approved", "approved")),
    (ReviewChanged("r", what="status", ref="needs_changes"), None),
    (ReviewChanged("r", what="note", ref="approved"), None),
])
def test_event_names(event, expected):
    assert event_name(event) == expected


def test_webhooks_config_is_read(tmp_path):
    settings = load_config(hooks_config(tmp_path, """
[[notify.webhooks]]
name = "farm"
url = "https://hooks.example.com/cosmos"
events = ["completed", "failed", "completed"]
secret_env = "COSMOS_HOOK_SECRET"
[[notify.webhooks]]
url_env = "SLACK_URL"
events = ["approved"]
format = "slack"
timeout = 3
""", top='public_url = "https://cosmos.lan/"\nmax_attempts = 3\nbackoff_seconds = 0.5'))
    notify = settings.notify
    assert notify.public_url == "https://cosmos.lan" and notify.max_attempts == 3
    farm, second = notify.webhooks
    assert farm.events == ("completed", "failed") and farm.secret_env == "COSMOS_HOOK_SECRET"
    assert second.name == "webhook2" and second.url_env == "SLACK_URL"
    assert second.format == "slack" and second.timeout == 3.0


@pytest.mark.parametrize("body,words", [
    ('url = "https://x.lan/h"\nevents = ["done"]', ["events", "queued, started"]),
    ('url = "https://x.lan/h"', ["events is missing"]),
    ('url = "ftp://x.lan/h"\nevents = ["queued"]', ["url", "http:// or https://"]),
    ('events = ["queued"]', ["exactly one of url", "url_env"]),
    ('url = "https://x.lan/h"\nurl_env = "U"\nevents = ["queued"]', ["exactly one of url"]),
    ('url = "https://x.lan/h"\nevents = ["queued"]\nsecret = "hunter2"',
     ["secret is not allowed", "secret_env"]),
    ('url = "https://x.lan/h"\nevents = ["queued"]\nsecret_env = "bad name"',
     ["secret_env", "environment variable"]),
    ('url = "https://x.lan/h"\nevents = ["queued"]\nformat = "xml"', ["format", "json, slack"]),
    ('url = "https://x.lan/h"\nevents = ["queued"]\ntimeout = 0', ["timeout", "0.5 to 120"]),
    ('url = "https://x.lan/h"\nevents = ["queued"]\nname = "a b"', ["name", "letters"]),
    ('url = "https://x.lan/h"\nevents = ["queued"]\nretries = 3', ["unknown key", "retries"]),
])
def test_bad_webhook_config_says_what_is_wrong(tmp_path, body, words):
    with pytest.raises(ConfigError) as err:
        load_config(hooks_config(tmp_path, "[[notify.webhooks]]\n" + body))
    message = str(err.value)
    assert "config.toml" in message and "hunter2" not in message
    for word in words:
        assert word in message


def test_duplicate_names_and_bad_public_url_are_refused(tmp_path):
    hook = '[[notify.webhooks]]\nname = "a"\nurl = "https://x.lan/h"\nevents = ["queued"]\n'
    with pytest.raises(ConfigError, match="used twice"):
        load_config(hooks_config(tmp_path, hook + hook))
    with pytest.raises(ConfigError, match="public_url"):
        load_config(hooks_config(tmp_path, "", top='public_url = "cosmos.lan"'))


def test_an_unset_secret_env_is_not_sent_unsigned(monkeypatch):
    hook = WebhookConfig(name="h", events=("queued",), url="http://127.0.0.1/x",
                         secret_env="COSMOS_TEST_UNSET_SECRET")
    monkeypatch.delenv("COSMOS_TEST_UNSET_SECRET", raising=False)
    with pytest.raises(NotReady, match="never sent unsigned"):
        resolve(hook)
    monkeypatch.setenv("COSMOS_TEST_UNSET_SECRET", "abc")
    assert resolve(hook) == ("http://127.0.0.1/x", "abc")
    env_hook = WebhookConfig(name="h", events=("queued",), url_env="COSMOS_TEST_URL")
    monkeypatch.setenv("COSMOS_TEST_URL", "not a url")
    with pytest.raises(NotReady, match="does not hold") as err:
        resolve(env_hook)
    assert "not a url" not in str(err.value)


def test_delivery_log_claims_each_attempt_once(tmp_path):
    from backend.store import Store

    store = Store(tmp_path / "db.sqlite")
    try:
        run = store.create_run(params={"prompt": "p"}, host="sim", prompt_id=None).id
        key = store.notice_key("h", run, "queued", "queued")
        assert key is not None and key.startswith("h:" + run + ":queued:t")
        assert store.notice_key("h", run, "started", "running") is None  # never ran
        first = store.claim_delivery_attempt(key=key, run_id=run, hook="h", event="queued",
                                             attempt=1)
        assert first is not None
        assert store.claim_delivery_attempt(key=key, run_id=run, hook="h", event="queued",
                                            attempt=1) is None  # another process's
        store.finish_delivery_attempt(first, status_code=500, error="HTTP 500", delivered=False,
                                      retrying=True)
        rows = store.webhook_deliveries(run)
        assert [(r.attempt, r.outcome, r.status_code) for r in rows] == [(1, "retrying", 500)]
    finally:
        store.close()

