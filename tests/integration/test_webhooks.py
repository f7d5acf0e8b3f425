"""Webhooks against a real HTTP server on 127.0.0.1, with real runs on the simulator box.

The server is http.server in a thread; each path behaves like a kind of endpoint: one that
answers 200, one that fails with 500 first, one that holds every request until the test lets
it go. Nothing of ours is mocked: the scheduler drives the run, the store publishes, the
notifier hears the bus in the scheduler's process and sends with urllib.
"""

from __future__ import annotations

import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Iterator

import pytest

from backend import store as st
from backend.notify import payload
from backend.wiring import start_backend
from tests.helpers import STATE_CHANGES, free_port, make_settings, wait_for
from tests.integration.test_local_runs import params, wait_terminal

pytestmark = pytest.mark.integration

SECRET = "whsec-test-7f3a9c"
SECRET_ENV = "COSMOS_TEST_WEBHOOK_SECRET"


class Endpoint:
    """What the server received, per path, and the switch that lets held requests go."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.release = threading.Event()
        self.lock = threading.Lock()
        self.flaky_failed = False
        self.held_answered = 0

    def received(self, path: str) -> list[dict]:
        with self.lock:
            return [r for r in self.requests if r["path"] == path]


@pytest.fixture
def endpoint() -> Iterator[tuple[Endpoint, int]]:
    state = Endpoint()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with state.lock:
                state.requests.append({"path": self.path, "headers": dict(self.headers),
                                       "raw": raw})
            code = 200
            if self.path == "/flaky":
                with state.lock:
                    if not state.flaky_failed:
                        state.flaky_failed, code = True, 500
            elif self.path == "/moved":
                self.send_response(302)
                self.send_header("Location", "/ok")
                self.end_headers()
                return
            elif self.path == "/hang":
                state.release.wait()
                with state.lock:
                    state.held_answered += 1
            self.send_response(code)
            self.send_header("Content-Type", "text/plain")
            self.end_headers()
            self.wfile.write(b"ok" if code == 200 else b"try again")

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state, server.server_address[1]
    finally:
        state.release.set()
        server.shutdown()
        server.server_close()


def hooks_table(port: int, *hooks: str) -> str:
    return ('[notify]\npublic_url = "http://127.0.0.1:7860"\nbackoff_seconds = 0.05\n'
            + "".join(hooks).replace("PORT", str(port)))


def test_signed_delivery_is_retried_after_a_500_and_logged(tmp_path, endpoint, monkeypatch,
                                                           caplog):
    state, port = endpoint
    monkeypatch.setenv(SECRET_ENV, SECRET)
    caplog.set_level(logging.DEBUG)
    settings = make_settings(tmp_path, sim_seconds=1.0, extra_top=hooks_table(port, f"""
[[notify.webhooks]]
name = "farm"
url = "http://127.0.0.1:PORT/flaky"
events = ["queued", "completed", "approved"]
secret_env = "{SECRET_ENV}"
"""))
    backend = start_backend(settings)
    try:
        run = wait_terminal(backend, backend.ops.launch(params("a red kite"), name="kite").id)
        assert run.status == st.COMPLETED
        backend.ops.set_review_status(run.id, "approved", username="ann")

        def delivered() -> list:
            rows = backend.store.webhook_deliveries(run.id)
            done = {r.event for r in rows if r.outcome == "delivered"}
            return rows if done == {"queued", "completed", "approved"} else []

        rows = wait_for(delivered, timeout=STATE_CHANGES, what="three delivered notices")
        # the first attempt got the 500 and was tried again; each notice once delivered
        first = [(r.event, r.attempt, r.outcome, r.status_code) for r in rows]
        assert first[0] == ("queued", 1, "retrying", 500)
        assert ("queued", 2, "delivered", 200) in first
        assert sorted(e for e, _, o, _ in first if o == "delivered") == [
            "approved", "completed", "queued"]
        assert rows[0].error == "HTTP 500: try again"

        received = state.received("/flaky")
        assert len(received) == 4  # 500, then queued, completed, approved
        for request in received:
            headers = request["headers"]
            assert payload.verify(SECRET, headers[payload.TIMESTAMP_HEADER], request["raw"],
                                  headers[payload.SIGNATURE_HEADER])
            assert not payload.verify("wrong", headers[payload.TIMESTAMP_HEADER],
                                      request["raw"], headers[payload.SIGNATURE_HEADER])
        bodies = [json.loads(r["raw"]) for r in received]
        assert [b["event"] for b in bodies[1:]] == ["queued", "completed", "approved"]
        done = bodies[2]
        assert done["run"]["id"] == run.id and done["run"]["status"] == "completed"
        assert done["run"]["prompt"] == "a red kite" and done["run"]["owner"] == run.owner
        assert done["links"]["run"] == f"http://127.0.0.1:7860/?run={run.id}"
        assert done["output"]["path"] == run.output_path
        assert bodies[3]["run"]["review_status"] == "approved"
        # retries repeat the notice: same delivery id, so a receiver can drop a duplicate
        assert bodies[0]["delivery"] == bodies[1]["delivery"]

        # the log is visible where a run's details are read
        details = backend.ops.run_details(run.id)
        assert [d["outcome"] for d in details["webhooks"]] == [r.outcome for r in rows]
    finally:
        backend.close()
    # the secret reached no database row and no log line
    data = b"".join(p.read_bytes() for p in settings.data_dir.glob("cosmos.db*"))
    assert SECRET.encode() not in data
    assert SECRET not in caplog.text and "/flaky" not in caplog.text


def test_a_hanging_endpoint_never_delays_the_run(tmp_path, endpoint):
    state, port = endpoint
    settings = make_settings(tmp_path, sim_seconds=1.0, extra_top=hooks_table(port, """
[[notify.webhooks]]
name = "slowpoke"
url = "http://127.0.0.1:PORT/hang"
events = ["queued", "started", "completed"]
timeout = 120
[[notify.webhooks]]
name = "quick"
url = "http://127.0.0.1:PORT/ok"
events = ["completed"]
format = "slack"
"""))
    backend = start_backend(settings)
    try:
        run = wait_terminal(backend, backend.ops.launch(params("a slow river")).id)
        # the run went all the way while the endpoint still held its first notice
        assert run.status == st.COMPLETED
        assert state.held_answered == 0 and not state.release.is_set()
        assert len(state.received("/hang")) == 1
        held = backend.store.webhook_deliveries(run.id)
        assert [(r.hook, r.event, r.outcome) for r in held if r.hook == "slowpoke"] == [
            ("slowpoke", "queued", "sending")]
        # the other webhook's thread is not held up by this one
        quick = wait_for(lambda: [r for r in backend.store.webhook_deliveries(run.id)
                                  if r.hook == "quick" and r.outcome == "delivered"],
                         what="the quick webhook's delivery")
        assert quick[0].event == "completed"
        assert "text" in json.loads(state.received("/ok")[0]["raw"])

        state.release.set()
        rows = wait_for(lambda: (rows := [r for r in backend.store.webhook_deliveries(run.id)
                                          if r.hook == "slowpoke"])
                        and all(r.outcome == "delivered" for r in rows) and len(rows) == 3
                        and rows, what="the held notices to go out")
        assert [r.event for r in rows] == ["queued", "started", "completed"]
    finally:
        state.release.set()
        backend.close()


def test_the_test_delivery_reports_what_the_endpoint_answered(tmp_path, endpoint):
    state, port = endpoint
    closed = free_port()
    settings = make_settings(tmp_path, extra_top=hooks_table(port, f"""
[[notify.webhooks]]
name = "ok"
url = "http://127.0.0.1:PORT/ok"
events = ["failed"]
[[notify.webhooks]]
name = "nobody"
url = "http://127.0.0.1:{closed}/x"
events = ["completed"]
timeout = 5
[[notify.webhooks]]
name = "moved"
url = "http://127.0.0.1:PORT/moved"
events = ["completed"]
"""))
    backend = start_backend(settings, with_scheduler=False)
    try:
        ok, nobody, moved = backend.ops.test_webhook()
        assert ok["ok"] and ok["status_code"] == 200 and ok["said"] == "HTTP 200: ok"
        assert not nobody["ok"] and nobody["status_code"] is None
        assert nobody["error"].startswith("could not reach 127.0.0.1")
        # a redirect is not followed (the signature would go elsewhere): it is the answer
        assert moved["status_code"] == 302 and not moved["ok"] and "redirects" in moved["said"]
        assert len(state.received("/ok")) == 1
        body = json.loads(state.received("/ok")[0]["raw"])
        assert body["test"] is True and body["event"] == "failed"
        with pytest.raises(Exception, match="configured: ok, nobody, moved"):
            backend.ops.test_webhook("missing")
    finally:
        backend.close()
