"""Gradio's look at its own URL on start, made patient enough for a loaded machine.

Why: `Blocks.launch` checks that the server answers with one HEAD of `/` (httpx, 3 s
timeout) and, if that times out once, stops the app with "When localhost is not accessible,
a shareable link must be created". Answering `/` means rendering this app's page config
(hundreds of components); on two cores shared with a render or a test suite that took more
than 3 s (seen: 13 s), so the app refused to start on a box that was merely busy. Here the
same check waits up to `PATIENCE` seconds, retrying, and still fails on a server that never
answers.
"""

from __future__ import annotations

import logging
import time

import httpx

log = logging.getLogger(__name__)

#: Longest wait for the server's first answer before the start is given up.
PATIENCE = 90.0
ANSWERS = (200, 401, 301, 302, 303, 307, 308)  # what Gradio's own check accepts


def patient_url_ok(url: str, patience: float = PATIENCE) -> bool:
    """True once `url` answers as Gradio's `networking.url_ok` expects, within `patience`."""
    deadline = time.monotonic() + patience
    while True:
        left = deadline - time.monotonic()
        try:
            response = httpx.head(url, timeout=max(1.0, min(30.0, left)), verify=False)
            if response.status_code in ANSWERS:
                return True
        except (httpx.ConnectError, httpx.TimeoutException) as exc:
            log.info("the app's own URL did not answer yet (%s); waiting", type(exc).__name__)
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.5)


def install() -> None:
    """Use `patient_url_ok` for Gradio's start-up check (blocks.py calls it through the
    `gradio.networking` module, so replacing the attribute there is enough)."""
    from gradio import networking

    networking.url_ok = patient_url_ok


__all__ = ["install", "patient_url_ok", "PATIENCE"]
