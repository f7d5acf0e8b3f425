"""Sign-in and roles (issue 6) against the launched app: `launch.py --sign-in` on 127.0.0.1 is
the same server with the same settings as `--share` (the tunnel needs the internet)."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import uuid

import httpx
import pytest

from tests.e2e.conftest import AppProcess
from tests.e2e.waits import PAGE_READY, UI_REACTS
from tests.helpers import APP_STARTS, ROOT, write_config

OPERATOR = ("olga", "operator", "operator-pw-1")
REVIEWER = ("rita", "reviewer", "reviewer-pw-1")


def _make_run(app: AppProcess) -> None:
    app.cli("run", "a red car in the rain", "--input",
            str(ROOT / "assets" / "sample_testcard_640x360.mp4"), "--wait")


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    proc = AppProcess(tmp_path_factory.mktemp("signin"), sim_seconds=0.5,
                      extra_args=["--sign-in"], users=[OPERATOR, REVIEWER], before=_make_run)
    yield proc
    proc.stop()


#: an HTTP request to the app is answered (httpx: seconds), e.g. a queued event's next message
HTTP_ANSWERS = UI_REACTS / 1000


def runs(app: AppProcess) -> list[dict]:
    data = json.loads(app.cli("--json", "list", "runs").stdout)
    return data if isinstance(data, list) else data.get("runs", data.get("items", []))


@contextlib.contextmanager
def signed_in(app: AppProcess, user: tuple[str, str, str]):
    with httpx.Client(base_url=app.url, timeout=HTTP_ANSWERS) as client:
        r = client.post("/login", data={"username": user[0], "password": user[2]})
        assert r.status_code == 200 and r.json().get("success"), r.text
        yield client


def test_anonymous_requests_are_refused(app):
    with httpx.Client(base_url=app.url, timeout=HTTP_ANSWERS) as anon:
        page = anon.get("/")
        assert page.status_code in (200, 401)
        assert "run-button" not in page.text and "a red car" not in page.text
        for path in ("/config", "/gradio_api/info"):
            assert anon.get(path).status_code == 401, path
        bad = anon.post("/login", data={"username": REVIEWER[0], "password": "wrong-password"})
        assert bad.status_code != 200 or not bad.json().get("success")
        assert anon.get("/config").status_code == 401


def _launch_call(client: httpx.Client) -> tuple[bool, str]:
    """Call the Create form's Run handler directly through the queue, as a script would."""
    return _click(client, "run-button", {0: "sneaky",  # run name
                                         2: "a launch the reviewer must not make"})


def _click(client: httpx.Client, elem_id: str, overrides: dict) -> tuple[bool, str]:
    """Send the click event of the button `elem_id` (found in /config) through the queue."""
    config = client.get("/config").json()
    comps = {c["id"]: c for c in config["components"]}
    button = next(c for c in config["components"]
                  if c.get("props", {}).get("elem_id") == elem_id)
    fn_index, dep = next((i, d) for i, d in enumerate(config["dependencies"])
                         if [button["id"], "click"] in [list(t) for t in d["targets"]])
    data = [comps[i].get("props", {}).get("value") for i in dep["inputs"]]
    for index, value in overrides.items():
        data[index] = value
    session = uuid.uuid4().hex[:10]
    joined = client.post("/gradio_api/queue/join", json={
        "data": data, "event_data": None, "fn_index": dep.get("id", fn_index),
        "trigger_id": button["id"], "session_hash": session})
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


def test_reviewer_cannot_launch_through_the_api(app):
    before = len(runs(app))
    with signed_in(app, REVIEWER) as reviewer:
        ok, detail = _launch_call(reviewer)
    assert not ok and "reviewer" in detail and "may not" in detail, detail
    assert len(runs(app)) == before
    victim = runs(app)[0]["id"]
    with signed_in(app, REVIEWER) as reviewer:
        for elem_id, overrides in (("kill-confirm", {0: victim, 1: True}),
                                   ("delete-confirm", {0: victim}),
                                   ("rerun-button", {0: victim}),
                                   # issue 18: a webhook test, an image sequence prepared
                                   ("webhook-test", {}), ("prepare-button", {1: "/tmp"})):
            ok, detail = _click(reviewer, elem_id, overrides)
            assert not ok and "may not" in detail, (elem_id, detail)
    assert len(runs(app)) == before and victim in [r["id"] for r in runs(app)]
    with signed_in(app, OPERATOR) as operator:  # the same call works for an operator
        ok, detail = _launch_call(operator)
    assert ok, detail
    assert len(runs(app)) == before + 1


def test_file_routes_serve_outputs_only(app):
    data_dir = app.tmp_path / "data"
    (data_dir / "known_hosts").write_text("sim ssh-ed25519 AAAASECRETKNOWNHOSTS\n")
    secret_paths = [data_dir / "cosmos.db", app.config, data_dir / "known_hosts",
                    __import__("pathlib").Path.home() / ".ssh" / "id_ed25519",
                    __import__("pathlib").Path("/etc/passwd")]
    output = next(r.get("output_path") for r in runs(app) if r.get("output_path"))
    with signed_in(app, REVIEWER) as client:
        for path in secret_paths:
            for prefix in ("/gradio_api/file=", "/file="):
                r = client.get(prefix + str(path))
                assert r.status_code != 200 or (
                    b"root:" not in r.content and b"SQLite" not in r.content
                    and b"SECRET" not in r.content and b"data_dir" not in r.content), (prefix,
                                                                                       path)
        video = client.get("/gradio_api/file=" + output)
        assert video.status_code == 200 and len(video.content) > 1000


def test_reviewer_in_the_browser_sees_no_controls_and_can_review(app, page):
    page.goto(app.url)
    page.get_by_label("username").fill(REVIEWER[0])
    page.get_by_label("password").fill(REVIEWER[2])
    page.get_by_role("button", name="Login").click()
    page.wait_for_selector("#signed-in-as", timeout=PAGE_READY)
    assert "rita" in page.inner_text("#signed-in-as")
    for name in ("Runs", "Gallery", "Compare"):
        assert page.get_by_role("tab", name=name).is_visible(), name
    for name in ("Create", "Hosts"):
        assert not page.get_by_role("tab", name=name).is_visible(), name
    for button in ("#rerun-button", "#kill-button", "#delete-button", "#upscale-button",
                   "#load-settings-button"):
        assert not page.locator(button).is_visible(), button
    page.wait_for_selector("#reviews-empty")
    page.locator("#review-rating").get_by_label("4").check()
    page.locator("#review-comment textarea").fill("lovely reflections")
    page.locator("#review-submit").click()
    page.wait_for_selector("#reviews-list")
    text = page.inner_text("#reviews-box")
    assert "lovely reflections" in text and "you" in text and "4.0" in text


def test_share_without_users_exits_with_the_message(tmp_path):
    config = write_config(tmp_path)
    done = subprocess.run([sys.executable, str(ROOT / "launch.py"), "--skip-install",
                           "--config", str(config), "--share"], capture_output=True, text=True,
                          timeout=APP_STARTS, cwd=str(tmp_path))
    assert done.returncode != 0
    assert "user add" in done.stderr and "--share" in done.stderr
