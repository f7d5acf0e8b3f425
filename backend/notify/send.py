"""One HTTP POST of a webhook delivery, and what the endpoint answered.

Why urllib from the standard library: a webhook is one POST with a few headers and a
timeout; urllib does that with no dependency, and its errors (HTTPError with a code, URLError
for connection trouble, socket timeouts) map directly onto "retry" or "give up".

The address may carry a token (a Slack URL does), so nothing here logs it or puts it in an
error message: errors name the host only.
"""

from __future__ import annotations

import functools
import logging
import os
import socket
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from backend.config.notify import WebhookConfig, valid_http_url
from backend.notify import payload

log = logging.getLogger(__name__)

ANSWER_EXCERPT = 300
#: HTTP answers worth another try: the endpoint's trouble, not the request's.
RETRY_CODES = frozenset({408, 425, 429}) | frozenset(range(500, 600))


class NotReady(Exception):
    """The webhook cannot be sent from this process (its url_env / secret_env is unset)."""


@dataclass(frozen=True)
class Answer:
    """What one attempt got: an HTTP status, or an error (connection, timeout); `retry` says
    whether another attempt may get a better answer."""

    status_code: int | None
    error: str | None
    body: str = ""
    retry: bool = False

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300

    def describe(self) -> str:
        if self.status_code is not None:
            tail = f": {self.body}" if self.body else ""
            return f"HTTP {self.status_code}{tail}"
        return self.error or "no answer"


def resolve(hook: WebhookConfig) -> tuple[str, str | None]:
    """The address and the secret, read from this process's environment where named."""
    url = hook.url
    if hook.url_env is not None:
        url = os.environ.get(hook.url_env, "").strip()
        if not url:
            raise NotReady(f"url_env {hook.url_env} is not set in the environment of this "
                           "process")
        if not valid_http_url(url):
            raise NotReady(f"url_env {hook.url_env} does not hold an http:// or https:// "
                           "address")
    secret = None
    if hook.secret_env is not None:
        secret = os.environ.get(hook.secret_env)
        if not secret:
            raise NotReady(f"secret_env {hook.secret_env} is not set in the environment of "
                           "this process (a webhook with a secret is never sent unsigned)")
    assert url is not None
    return url, secret


@functools.lru_cache(maxsize=1)
def _opener() -> Any:
    """urllib's opener that answers a redirect as the 3xx it is: following it would send the
    signature headers to another address, and urllib turns a redirected POST into a GET
    without the body anyway. Made on the first delivery: urllib.request (http.client, email)
    is ~10 ms of every `cosmos` start that never sends a webhook."""
    import urllib.request

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):  # noqa: ANN002, ANN003 (urllib's)
            return None

    return urllib.request.build_opener(NoRedirect)


def host_of(url: str) -> str:
    return urlsplit(url).hostname or "?"


def post(hook: WebhookConfig, raw: bytes, *, event: str, delivery: str,
         clock=time.time) -> Answer:
    """Send once. Never raises for the endpoint's trouble: it is in the Answer."""
    try:
        url, secret = resolve(hook)
    except NotReady as exc:
        return Answer(None, f"{exc}: nothing was sent", retry=False)
    import urllib.error
    import urllib.request

    request = urllib.request.Request(
        url, data=raw, method="POST",
        headers=payload.headers(raw, event=event, delivery=delivery, timestamp=int(clock()),
                                secret=secret))
    host = host_of(url)
    try:
        with _opener().open(request, timeout=hook.timeout) as response:
            text = response.read(ANSWER_EXCERPT).decode("utf-8", "replace")
            return Answer(response.status, None, payload.excerpt(text, ANSWER_EXCERPT))
    except urllib.error.HTTPError as exc:
        try:
            text = exc.read(ANSWER_EXCERPT).decode("utf-8", "replace")
        except OSError:
            text = ""
        if 300 <= exc.code < 400:
            text = "the endpoint redirects; put the address it redirects to in url"
        return Answer(exc.code, None, payload.excerpt(text, ANSWER_EXCERPT),
                      retry=exc.code in RETRY_CODES)
    except (socket.timeout, TimeoutError):
        return Answer(None, f"no answer from {host} within {hook.timeout:g} s", retry=True)
    except urllib.error.URLError as exc:
        reason = exc.reason
        if isinstance(reason, (socket.timeout, TimeoutError)):
            return Answer(None, f"no answer from {host} within {hook.timeout:g} s", retry=True)
        return Answer(None, f"could not reach {host}: {_reason(reason)}", retry=True)
    except (ConnectionError, OSError) as exc:
        return Answer(None, f"connection to {host} failed: {_reason(exc)}", retry=True)


def _reason(reason: object) -> str:
    """An OS error's words without the address (which may hold a token)."""
    if isinstance(reason, OSError) and reason.strerror:
        return reason.strerror
    return type(reason).__name__ if not isinstance(reason, str) else reason
