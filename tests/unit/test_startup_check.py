"""Gradio's start-up look at its own URL waits for a busy server (cosmos_ui/startup_check.py)."""

from __future__ import annotations

import http.server
import socket
import threading
import time

from gradio import networking

from cosmos_ui.startup_check import patient_url_ok


class SlowFirstAnswer(http.server.BaseHTTPRequestHandler):
    """Answers HEAD with 200, the first one only after 3.5 s (a page config rendered on a
    loaded machine)."""

    answered = 0

    def do_HEAD(self) -> None:  # noqa: N802 - the stdlib's name
        if SlowFirstAnswer.answered == 0:
            time.sleep(3.5)
        SlowFirstAnswer.answered += 1
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


def test_a_server_slower_than_gradio_s_check_still_counts_as_up():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), SlowFirstAnswer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/"
    try:
        SlowFirstAnswer.answered = 0
        assert networking.url_ok(url) is False  # Gradio's own: one 3 s timeout ends it
        SlowFirstAnswer.answered = 0
        assert patient_url_ok(url, patience=20) is True
        assert SlowFirstAnswer.answered >= 1
    finally:
        server.shutdown()
        server.server_close()


def test_a_server_that_never_answers_still_fails_the_start():
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    started = time.monotonic()
    assert patient_url_ok(f"http://127.0.0.1:{port}/", patience=1.5) is False
    assert time.monotonic() - started >= 1.5
