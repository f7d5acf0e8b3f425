"""`[notify]` and its `[[notify.webhooks]]`: who hears about runs, and how.

Why secrets are named, not written: config.toml is read by every process, shown in reviews of
the studio's setup and often committed; a webhook's signing secret (and a Slack URL, which is
itself a token) belongs in the environment of the process that delivers. So a webhook names an
environment variable (`secret_env`, `url_env`) and the value is read only when a delivery is
signed or sent, never stored, logged or put in an event. A literal `secret = ...` is refused
with a message saying so.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from backend.config.reader import ConfigError, Reader

#: What a webhook may subscribe to: a run's status changes (started = running) and a version
#: set Approved in the review room.
WEBHOOK_EVENTS = ("queued", "started", "completed", "failed", "cancelled", "blocked",
                  "approved")
WEBHOOK_FORMATS = ("json", "slack")
WEBHOOK_KEYS = {"name", "url", "url_env", "events", "format", "secret_env", "timeout"}
NOTIFY_KEYS = {"public_url", "webhooks", "max_attempts", "backoff_seconds"}

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,39}$")
_ENV = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")


@dataclass(frozen=True)
class WebhookConfig:
    """One endpoint. Exactly one of `url` / `url_env` is set; `secret_env` may be None
    (deliveries are then unsigned)."""

    name: str
    events: tuple[str, ...]
    url: str | None = None
    url_env: str | None = None
    format: str = "json"
    secret_env: str | None = None
    timeout: float = 10.0

    def wants(self, event: str) -> bool:
        return event in self.events


@dataclass(frozen=True)
class NotifySettings:
    """`public_url`: where people open the app (the run link `?run=ID`), None if not said;
    a failed delivery is tried `max_attempts` times in all, waiting `backoff_seconds`, then
    twice that, and so on."""

    webhooks: tuple[WebhookConfig, ...] = ()
    public_url: str | None = None
    max_attempts: int = 5
    backoff_seconds: float = 2.0

    def hook(self, name: str) -> WebhookConfig | None:
        return next((h for h in self.webhooks if h.name == name), None)


def valid_http_url(text: str) -> bool:
    """An absolute http(s) URL with a host (what urllib will send to)."""
    try:
        parts = urlsplit(text)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname) and " " not in text


def read_notify(root: Reader) -> NotifySettings:
    notify = root.sub("notify")
    notify.unknown_keys(NOTIFY_KEYS)
    public_url = notify.get("public_url", str, None, "an http:// or https:// address where "
                            "people open this app, e.g. \"https://cosmos.studio.lan\"",
                            valid_http_url)
    raw_hooks = notify.table.get("webhooks", [])
    if not isinstance(raw_hooks, list) or not all(isinstance(h, dict) for h in raw_hooks):
        raise notify.fail("webhooks", raw_hooks, "[[notify.webhooks]] tables (one per "
                          "endpoint)")
    hooks: list[WebhookConfig] = []
    for index, table in enumerate(raw_hooks):
        hook = _read_hook(Reader(root.path, table, f"notify.webhooks[{index}]."), index)
        if any(h.name == hook.name for h in hooks):
            raise ConfigError(f"{root.path}: notify.webhooks[{index}].name = {hook.name!r} is "
                              "used twice; allowed: a name no other webhook has")
        hooks.append(hook)
    return NotifySettings(
        webhooks=tuple(hooks),
        public_url=public_url.rstrip("/") if public_url else None,
        max_attempts=notify.get("max_attempts", int, 5, "a whole number from 1 to 20 (tries "
                                "of one delivery, the first included)", lambda v: 1 <= v <= 20),
        backoff_seconds=notify.get("backoff_seconds", float, 2.0, "a number of seconds from "
                                   "0.05 to 600 (the wait before the first retry; it doubles "
                                   "each time)", lambda v: 0.05 <= v <= 600),
    )


def _read_hook(r: Reader, index: int) -> WebhookConfig:
    if "secret" in r.table:
        raise ConfigError(f"{r.path}: {r.prefix}secret is not allowed: a secret in the file "
                          "would be shown to anyone who reads it; put it in an environment "
                          "variable and name that with secret_env = \"NAME\"")
    r.unknown_keys(WEBHOOK_KEYS)
    name = r.get("name", str, f"webhook{index + 1}", "1-40 letters, digits, - or _ "
                 "(it names the webhook in the delivery log and in `cosmos webhooks test`)",
                 lambda v: bool(_NAME.match(v)))
    url = r.get("url", str, None, "an http:// or https:// address", valid_http_url)
    url_env = r.get("url_env", str, None, "the name of an environment variable holding the "
                    "address (letters, digits and _)", lambda v: bool(_ENV.match(v)))
    if (url is None) == (url_env is None):
        raise ConfigError(f"{r.path}: {r.prefix[:-1]} needs exactly one of url = \"https://...\""
                          " or url_env = \"NAME\" (an environment variable holding the address,"
                          " for addresses that carry a token, such as Slack's)")
    events = r.get("events", list, None, "a list of events from " + ", ".join(WEBHOOK_EVENTS),
                   lambda v: bool(v) and all(isinstance(e, str) and e in WEBHOOK_EVENTS
                                             for e in v))
    if events is None:
        raise ConfigError(f"{r.path}: {r.prefix}events is missing; allowed: a list of events "
                          "from " + ", ".join(WEBHOOK_EVENTS))
    return WebhookConfig(
        name=name,
        url=url,
        url_env=url_env,
        events=tuple(dict.fromkeys(events)),
        format=r.get("format", str, "json", "one of " + ", ".join(WEBHOOK_FORMATS),
                     lambda v: v in WEBHOOK_FORMATS),
        secret_env=r.get("secret_env", str, None, "the name of an environment variable holding "
                         "the signing secret (letters, digits and _)",
                         lambda v: bool(_ENV.match(v))),
        timeout=r.get("timeout", float, 10.0, "a number of seconds from 0.5 to 120 (how long "
                      "one attempt may wait for the endpoint)", lambda v: 0.5 <= v <= 120),
    )
