"""Gradio's start-up look at its own URL waits for a busy server (cosmos_ui/startup_check.py)."""

from __future__ import annotations

import http.server
import socket
import threading
import time

from gradio import networking

from cosmos_ui.startup_check import patient_url_ok


class BusyAtFirst(http.server.BaseHTTPRequestHandler):
    """Answers HEAD with 200 once `ready` is set (a page config still being rendered on a
    loaded machine holds every request until then)."""

    ready = threading.Event()

    def do_HEAD(self) -> None:  # noqa: N802 - the stdlib's name
        BusyAtFirst.ready.wait(60)
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


def test_a_server_slower_than_gradio_s_check_still_counts_as_up():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), BusyAtFirst)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/"
    BusyAtFirst.ready.clear()
    try:
        assert networking.url_ok(url) is False  # Gradio's own: one 3 s timeout ends it
        threading.Timer(4.0, BusyAtFirst.ready.set).start()  # busy for longer than 3 s more
        started = time.monotonic()
        assert patient_url_ok(url, patience=60) is True
        assert time.monotonic() - started >= 3.5
    finally:
        BusyAtFirst.ready.set()
        server.shutdown()
        server.server_close()


def test_a_server_that_never_answers_still_fails_the_start():
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    started = time.monotonic()
    assert patient_url_ok(f"http://127.0.0.1:{port}/", patience=1.5) is False
    assert time.monotonic() - started >= 1.5
