"""The run log's own channel (cosmos_ui/log_channel.py) against a real store: what it serves,
to which page, and that it ends when the run has ended and every line went out."""

from __future__ import annotations

import json
from types import SimpleNamespace

from starlette.responses import PlainTextResponse
from starlette.testclient import TestClient

from components.live import LivePage
from cosmos_ui.log_channel import PATH, LogChannel
from tests.helpers import SAMPLE


async def gradio_stand_in(scope, receive, send):
    """What the channel hands every other request to (Gradio, in the app)."""
    await PlainTextResponse("gradio")(scope, receive, send)


def a_run(ops, lines: list[str], status: str = "completed") -> str:
    p = ops.default_params()
    p.prompt, p.input_video = "a red car", str(SAMPLE)
    run = ops.launch(p)
    ops.store.transition(run.id, "staging", expect=("queued",))
    ops.store.transition(run.id, "running", expect=("staging",))
    ops.store.append_log(run.id, list(enumerate(lines)), new_offset=100)
    if status != "running":
        ops.store.transition(run.id, status, expect=("running",))
    return run.id


def showing(live: LivePage, run_id: str):
    page = live.page(SimpleNamespace(session_hash="page-1"))
    page.streaming = True  # its Gradio stream runs
    page.data["run_view"] = {"cursor": {"run": run_id}}
    return page


def events_of(body: str) -> list[tuple[str, str]]:
    """(event name, data) of each server-sent event in `body`."""
    out = []
    for block in body.split("\n\n"):
        name, data = "message", None
        for line in block.splitlines():
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                data = line[6:]
        if data is not None:
            out.append((name, data))
    return out


def test_it_sends_the_lines_after_the_given_one_then_ends_with_the_run(ops):
    live = LivePage()
    run_id = a_run(ops, ["first", "second", "third"])
    page = showing(live, run_id)
    client = TestClient(LogChannel(gradio_stand_in, ops=ops, live=live))
    response = client.get(PATH, params={"page": page.channel, "run": run_id, "after": 0})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    sent = events_of(response.text)
    assert sent[0] == ("message", json.dumps({"run": run_id,
                                              "lines": [[1, "second"], [2, "third"]]}))
    assert sent[-1] == ("end", "completed")
    assert not page.log_channel_open(run_id)  # closed with the stream
    assert client.get("/config").text == "gradio"  # everything else goes on to Gradio


def test_only_the_run_the_page_shows_and_only_to_that_page(ops):
    live = LivePage()
    shown = a_run(ops, ["a"])
    other = a_run(ops, ["secret"])
    page = showing(live, shown)
    client = TestClient(LogChannel(gradio_stand_in, ops=ops, live=live))
    assert client.get(PATH, params={"page": page.channel, "run": other}).status_code == 409
    assert client.get(PATH, params={"page": "guess", "run": shown}).status_code == 404
    assert client.get(PATH, params={"page": "", "run": shown}).status_code == 404
    page.streaming = False  # the page's own stream ended (closed, or its session ended)
    response = client.get(PATH, params={"page": page.channel, "run": shown, "after": -1})
    assert "secret" not in response.text and "data: {" not in response.text
    live.forget(SimpleNamespace(session_hash="page-1"))
    assert client.get(PATH, params={"page": page.channel, "run": shown}).status_code == 404


def test_a_second_page_has_its_own_token():
    live = LivePage()
    one = live.page(SimpleNamespace(session_hash="one"))
    two = live.page(SimpleNamespace(session_hash="two"))
    assert one.channel != two.channel and len(one.channel) >= 32
    assert live.page_of_channel(one.channel) is one
    assert live.page_of_channel(two.channel) is two
    assert live.page_of_channel(None) is None
