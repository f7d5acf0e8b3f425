"""Issue 18 in a real browser: the Hosts tab's webhook test shows what the endpoint answered,
and Create's "From an image sequence" turns an uploaded zip into the input and a control."""

from __future__ import annotations

import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Iterator

import pytest
from PIL import Image

from tests.e2e.conftest import AppProcess, snapshot
from tests.e2e.waits import RENDER_FINISHES, goto_ready, wait_js

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def received() -> Iterator[tuple[list[bytes], int]]:
    bodies: list[bytes] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            bodies.append(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
            self.send_response(202)
            self.end_headers()
            self.wfile.write(b"queued by the farm")

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield bodies, server.server_address[1]
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def app(tmp_path_factory, received) -> Iterator[AppProcess]:
    _, port = received
    proc = AppProcess(tmp_path_factory.mktemp("issue18"), sim_seconds=2, extra_top=f"""
[notify]
[[notify.webhooks]]
name = "farm"
url = "http://127.0.0.1:{port}/hook"
events = ["completed"]
""")
    yield proc
    proc.stop()


def test_hosts_webhook_test_shows_the_answer(app, page, received):
    bodies, _ = received
    goto_ready(page, app.url)
    page.locator("button[role=tab]:has-text('Hosts')").first.click()
    page.locator("#webhooks-box").get_by_text("Webhooks").first.click()
    page.locator("#webhooks-table tr[data-webhook='farm']").wait_for()
    page.locator("#webhook-test").click()
    result = page.locator("#webhook-test-results li[data-webhook='farm']")
    result.wait_for()
    assert "answered: HTTP 202: queued by the farm" in result.inner_text()
    assert len(bodies) == 1 and b'"test":true' in bodies[0]
    snapshot(page.locator("#webhooks-box"), "ui-webhooks-test.png")


def test_an_image_sequence_zip_becomes_the_input_and_a_control(app, page, tmp_path):
    folder = tmp_path / "shot"
    folder.mkdir()
    for i in range(12):
        Image.new("RGB", (64, 48), (i * 20, 90, 160)).save(folder / f"shot.{i + 1:04d}.png")
        Image.new("L", (64, 48), 255 - i * 20).save(folder / f"shot_depth.{i + 1:04d}.png")
    archive = tmp_path / "shot.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in sorted(folder.iterdir()):
            zf.write(path, f"shot/{path.name}")

    goto_ready(page, app.url)
    page.locator("#prepare-box").get_by_text("From an image sequence").click()
    page.locator("#prepare-zip input[type=file]").set_input_files(str(archive))
    # the uploaded file's row (its name is shown as two spans, "shot" and ".zip", that a
    # text match does not always join; the row's label is the whole name)
    page.locator("#prepare-zip [aria-label='shot.zip']").wait_for()
    page.locator("#prepare-fps input, #prepare-fps textarea").first.fill("12")
    page.locator("#prepare-button").click()
    summary = page.locator("#prepare-summary")
    summary.wait_for(timeout=RENDER_FINISHES)
    text = summary.inner_text()
    assert "12 frames (1-12), 64x48 at 12 fps" in text and "depth control" in text
    page.locator("#input-info").get_by_text("12 frames").wait_for()
    page.locator("#control-videos").get_by_text("Own control videos").click()
    # Gradio shows a file's name in two parts ("shot.depth" and ".mp4")
    wait_js(page, "document.querySelector('#control-depth').innerText.includes('shot.depth')")
    assert "shot." not in page.locator("#control-seg").inner_text()  # there was no seg pass
    snapshot(page.locator("#prepare-box"), "ui-prepare-sequence.png")
