"""What the review room's browser tests share: signing in, waiting on a player's frame, reading
pixels out of the page, and sending an event straight through Gradio's queue (the raw-HTTP
pattern of test_sign_in.py) as a crafted script would."""

from __future__ import annotations

import base64
import contextlib
import io
import json
import uuid

import httpx
from PIL import Image

from tests.e2e.waits import PAGE_READY

OPERATOR = ("olga", "operator", "operator-pw-1")
REVIEWER = ("rita", "reviewer", "reviewer-pw-1")
#: a page state after a load, a reload or a push (tests/e2e/waits.py: sized for a loaded,
#: shared 2-core machine running two xdist workers; a wait returns as soon as it holds)
WAIT = PAGE_READY


def sign_in(page, url: str, user: tuple[str, str, str], path: str = "") -> None:
    page.goto(url + path)
    page.get_by_label("username").fill(user[0])
    page.get_by_label("password").fill(user[2])
    page.get_by_role("button", name="Login").click()
    page.wait_for_selector("#signed-in-as", timeout=WAIT)


def open_tab(page, name: str) -> None:
    page.get_by_role("tab", name=name).click()


def player(selector: str = "#run-video") -> str:
    return f"{selector} .rp"


def wait_frame(page, frame: int, selector: str = "#run-video .rp") -> None:
    """Until the player shows `frame`, paused, and the decoder presented that very frame."""
    page.wait_for_function(
        "([sel, f]) => { const r = document.querySelector(sel);"
        " return r && r.dataset.frame === String(f) && r.dataset.paused === '1'"
        " && r.dataset.mediaFrame === String(f); }", arg=[selector, frame], timeout=WAIT)


def wait_ready(page, selector: str) -> None:
    page.wait_for_function(
        "(sel) => { const vs = Array.from(document.querySelectorAll(sel));"
        " return vs.length > 0 && vs.every(v => v.readyState >= 2 && v.videoWidth > 0); }",
        arg=selector, timeout=WAIT)


def png(data_url: str) -> Image.Image:
    return Image.open(io.BytesIO(base64.b64decode(data_url.split(",", 1)[1]))).convert("RGB")


def video_frame(page, selector: str) -> Image.Image:
    """What a <video> shows now, at its own resolution (drawn into a canvas by the page)."""
    return png(page.evaluate(
        "(sel) => { const v = document.querySelector(sel); const c = document.createElement"
        "('canvas'); c.width = v.videoWidth; c.height = v.videoHeight;"
        " c.getContext('2d').drawImage(v, 0, 0); return c.toDataURL('image/png'); }",
        selector))


def canvas_image(page, selector: str) -> Image.Image:
    return png(page.evaluate("(sel) => document.querySelector(sel).toDataURL('image/png')",
                             selector))


def mean_diff(a: Image.Image, b: Image.Image, box: tuple[int, int, int, int] | None = None
              ) -> float:
    """Mean absolute difference per channel (0-255) of two images, optionally in `box`."""
    if box is not None:
        a, b = a.crop(box), b.crop(box)
    if a.size != b.size:
        b = b.resize(a.size)
    pa, pb = a.tobytes(), b.tobytes()
    return sum(abs(x - y) for x, y in zip(pa, pb)) / len(pa)


def max_channel(image: Image.Image) -> int:
    return max(image.tobytes())


@contextlib.contextmanager
def signed_in(url: str, user: tuple[str, str, str]):
    with httpx.Client(base_url=url, timeout=30) as client:
        r = client.post("/login", data={"username": user[0], "password": user[2]})
        assert r.status_code == 200 and r.json().get("success"), r.text
        yield client


def call_event(client: httpx.Client, elem_id: str, event: str, *, overrides: dict | None = None,
               event_data: dict | None = None) -> tuple[bool, str]:
    """Send `event` of the component `elem_id` (found in /config) through the queue, with
    its inputs' default values except `overrides` (input index -> value)."""
    config = client.get("/config").json()
    comps = {c["id"]: c for c in config["components"]}
    target = next(c for c in config["components"]
                  if c.get("props", {}).get("elem_id") == elem_id)
    fn_index, dep = next((i, d) for i, d in enumerate(config["dependencies"])
                         if [target["id"], event] in [list(t) for t in d["targets"]])
    data = [comps[i].get("props", {}).get("value") for i in dep["inputs"]]
    for index, value in (overrides or {}).items():
        data[index] = value
    session = uuid.uuid4().hex[:10]
    joined = client.post("/gradio_api/queue/join", json={
        "data": data, "event_data": event_data, "fn_index": dep.get("id", fn_index),
        "trigger_id": target["id"], "session_hash": session})
    if joined.status_code != 200:
        return False, joined.text
    with client.stream("GET", "/gradio_api/queue/data",
                       params={"session_hash": session}) as stream:
        for line in stream.iter_lines():
            if not line.startswith("data:"):
                continue
            message = json.loads(line[5:])
            if message.get("msg") == "process_completed":
                return bool(message.get("success")), json.dumps(message)
    return False, "stream ended"
