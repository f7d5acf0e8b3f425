"""Sign-in attacked as an attacker would (issue 16): raw HTTP against the launched app
(`launch.py --sign-in` on 127.0.0.1, the same server as with --share): guessing passwords,
an old cookie after its user was removed or changed password, a cross-site login form,
cookie flags, a server path smuggled into an input, a non-number sent to a number field."""

from __future__ import annotations

import html
import json
import re
import shutil
import threading
import time
import uuid

import httpx
import pytest

from components.form_values import FIELDS
from tests.e2e.conftest import AppProcess
from tests.helpers import ROOT, SAMPLE, wait_for

OPERATOR = ("olga", "operator", "operator-pw-1")
TEMP = ("tim", "operator", "temporary-pw-1")
PAT = ("pat", "reviewer", "first-password-1")
VICTIM = ("vic", "reviewer", "victim-password-1")


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    proc = AppProcess(tmp_path_factory.mktemp("attacks"), sim_seconds=0.5,
                      extra_args=["--sign-in"], users=[OPERATOR, TEMP, PAT, VICTIM],
                      extra_ui="sign_in_free_attempts = 3\nsign_in_lockout_after = 6\n"
                               "sign_in_lockout_minutes = 0.05")
    yield proc
    proc.stop()


def sign_in(app: AppProcess, user, **headers) -> httpx.Client:
    client = httpx.Client(base_url=app.url, timeout=30)
    r = client.post("/login", data={"username": user[0], "password": user[2]}, headers=headers)
    assert r.status_code == 200 and r.json().get("success"), r.text
    return client


def event(client: httpx.Client, elem_id: str, trigger: str, overrides=None,
          *, shows: str | None = None):
    """Send the `trigger` event of the component `elem_id` (found in /config) through the
    queue, inputs at their defaults but `overrides` {input index: value}; `shows`: the one
    of its handlers whose outputs include that elem_id. Returns (HTTP status of the join,
    success, outputs or error message, the dependency, the config)."""
    config = client.get("/config")
    assert config.status_code == 200, config.text
    config = config.json()
    comps = {c["id"]: c for c in config["components"]}
    target = next(c["id"] for c in config["components"]
                  if c.get("props", {}).get("elem_id") == elem_id)
    wanted = {c["id"] for c in config["components"]
              if shows and c.get("props", {}).get("elem_id") == shows}
    dep = next(d for d in config["dependencies"] if [target, trigger] in
               [list(t) for t in d["targets"]] and (not shows or wanted & set(d["outputs"])))
    data = [comps[i].get("props", {}).get("value") for i in dep["inputs"]]
    for index, value in (overrides or {}).items():
        data[index] = value
    return _send(client, dep, data, target) + (dep, config)


def _send(client, dep, data, target):
    session = uuid.uuid4().hex[:10]
    joined = client.post("/gradio_api/queue/join", json={
        "data": data, "event_data": None, "fn_index": dep["id"], "trigger_id": target,
        "session_hash": session})
    if joined.status_code != 200:
        return joined.status_code, False, joined.text
    with client.stream("GET", "/gradio_api/queue/data", params={"session_hash": session}) as s:
        for line in s.iter_lines():
            if line.startswith("data:"):
                msg = json.loads(line[5:])
                if msg.get("msg") == "process_completed":
                    out = msg.get("output") or {}
                    return 200, bool(msg.get("success")), out.get("data", out.get("error"))
    return 200, False, "stream ended"


def output_of(dep, config, data, elem_id):
    comps = {c["id"]: c for c in config["components"]}
    for index, cid in enumerate(dep["outputs"]):
        if comps[cid].get("props", {}).get("elem_id") == elem_id:
            value = data[index]
            value = value.get("value", value) if isinstance(value, dict) else value
            return html.unescape(value) if isinstance(value, str) else value
    raise KeyError(elem_id)


def runs(app: AppProcess) -> list[dict]:
    return json.loads(app.cli("--json", "list", "runs", "--limit", "100").stdout)["runs"]


def test_guessing_is_slowed_then_locked_out_with_a_message_and_a_log_line(app):
    waits, locked, tries = [], None, 0
    while locked is None and tries < 40:  # a fresh client address each try: the account
        tries += 1  # throttle alone must stop it
        r = httpx.post(app.url + "login", data={"username": VICTIM[0], "password": "guess"},
                       headers={"X-Forwarded-For": f"198.51.100.{tries}"}, timeout=30)
        detail = r.json()["detail"]
        if r.status_code == 429:
            assert "wait" in detail.lower() or "locked" in detail, detail
            time.sleep(float(r.headers["Retry-After"]))
            continue
        assert r.status_code == 400 and detail.startswith("Wrong user name or password")
        if "locked" in detail:
            locked = detail
        elif (m := re.search(r"Wait (\d+) second", detail)):
            waits.append(int(m.group(1)))
    assert locked and "Too many failed sign-ins" in locked, (waits, locked)
    assert waits == sorted(waits) and len(set(waits)) >= 2, waits  # growing delays
    # even the right password is refused while locked, saying so
    r = httpx.post(app.url + "login", data={"username": VICTIM[0], "password": VICTIM[2]},
                   timeout=30)
    assert r.status_code == 429 and "locked" in r.json()["detail"]
    log = app.log_path.read_text()
    assert "failed sign-in for 'vic'" in log and "locked for" in log
    assert VICTIM[2] not in log and "guess" not in log  # no password reaches the log
    # the lockout is temporary: after it, the right password works
    wait_for(lambda: httpx.post(app.url + "login", timeout=30, data={
        "username": VICTIM[0], "password": VICTIM[2]}).status_code == 200, timeout=60,
        interval=1, what="the lockout to end")


def test_one_address_guessing_many_accounts_is_throttled(app):
    refused = None
    for i in range(60):
        r = httpx.post(app.url + "login", data={"username": f"nobody{i}", "password": "x"},
                       headers={"X-Forwarded-For": "203.0.113.9"}, timeout=30)
        if r.status_code == 429:
            refused = r.json()["detail"]
            break
    assert refused and "Too many failed sign-ins" in refused, refused
    ok = httpx.post(app.url + "login", data={"username": OPERATOR[0], "password": OPERATOR[2]},
                    headers={"X-Forwarded-For": "192.0.2.1"}, timeout=30)
    assert ok.status_code == 200  # another address is not held up


def test_a_cross_site_login_form_is_refused(app):
    for headers in ({"Origin": "https://evil.example"}, {"Origin": "null"},
                    {"Referer": "https://evil.example/page.html"}):
        r = httpx.post(app.url + "login", data={"username": OPERATOR[0],
                                                 "password": OPERATOR[2]},
                       headers=headers, timeout=30)
        assert r.status_code == 403 and "another site" not in r.text.lower() or \
            "posted from" in r.json()["detail"], (headers, r.text)
        assert "set-cookie" not in r.headers
    same = httpx.post(app.url + "login", data={"username": OPERATOR[0],
                                                "password": OPERATOR[2]},
                      headers={"Origin": app.url.rstrip("/")}, timeout=30)
    assert same.status_code == 200


def test_cookie_flags(app):
    r = httpx.post(app.url + "login", data={"username": OPERATOR[0], "password": OPERATOR[2]},
                   timeout=30)
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "max-age=" in cookie
    assert "secure" not in cookie.replace("access-token", "")  # plain http on loopback
    behind_https = httpx.post(app.url + "login", data={"username": OPERATOR[0],
                                                        "password": OPERATOR[2]},
                              headers={"X-Forwarded-Proto": "https"}, timeout=30)
    assert "; secure" in behind_https.headers["set-cookie"].lower()


def test_a_removed_users_cookie_is_refused_on_read_events_and_config(app):
    client = sign_in(app, TEMP)
    status, ok, data, dep, _ = event(client, "live-runs", "change")
    assert status == 200 and ok and "history-table" in json.dumps(data)
    # a page left open: its live stream is running when the user is removed
    stream_end: dict = {}
    stream = threading.Thread(target=lambda: stream_end.update(result=_open_stream(client)))
    stream.start()
    time.sleep(2)
    app.cli("user", "remove", TEMP[0])
    assert client.get("/config").status_code == 401
    status, ok, data = _send(client, dep, [None] * len(dep["inputs"]), dep["targets"][0][0])
    assert status == 401 and not ok
    stream.join(60)
    assert not stream.is_alive() and stream_end["result"][0] is False
    assert "sign-in has ended" in stream_end["result"][1]


def _open_stream(client: httpx.Client):
    """The page's live stream (the load event whose outputs feed the run view)."""
    config = client.get("/config").json()
    live = next(c["id"] for c in config["components"]
                if c.get("props", {}).get("elem_id") == "live-runs")
    dep = next(d for d in config["dependencies"] if live in d["outputs"]
               and any(t[1] == "load" for t in d["targets"]))
    session = uuid.uuid4().hex[:10]
    client.post("/gradio_api/queue/join", json={
        "data": [], "event_data": None, "fn_index": dep["id"], "trigger_id": None,
        "session_hash": session})
    with client.stream("GET", "/gradio_api/queue/data", params={"session_hash": session},
                       timeout=90) as s:
        for line in s.iter_lines():
            if line.startswith("data:"):
                msg = json.loads(line[5:])
                if msg.get("msg") == "process_completed":
                    return bool(msg.get("success")), json.dumps(msg)
    return None, "stream ended without an answer"


def test_a_password_change_ends_old_sessions(app):
    old = sign_in(app, PAT)
    other = sign_in(app, PAT)
    assert old.get("/config").status_code == 200
    done = app.cli("user", "passwd", PAT[0], "--password-stdin", input="second-password-2")
    assert "2 signed-in session(s) ended" in done.stdout
    assert old.get("/config").status_code == 401 and other.get("/config").status_code == 401
    refused = httpx.post(app.url + "login", data={"username": PAT[0], "password": PAT[2]},
                         timeout=30)
    assert refused.status_code in (400, 429)
    sign_in(app, (PAT[0], PAT[1], "second-password-2"))


def test_a_server_path_outside_the_roots_is_refused(app):
    outside = app.tmp_path / "elsewhere"
    outside.mkdir(exist_ok=True)
    secret = outside / "private.mp4"
    shutil.copyfile(SAMPLE, secret)
    uploads = app.tmp_path / "data" / "uploads"
    uploads.mkdir(parents=True, exist_ok=True)
    link = uploads / "innocent.mp4"  # a symlink inside uploads that leads outside
    link.unlink(missing_ok=True)
    link.symlink_to(secret)
    before = runs(app)
    listing = sorted(p.name for p in uploads.iterdir())
    client = sign_in(app, OPERATOR)
    choice = FIELDS.index("input_choice")
    for path in (str(secret), str(link), "/etc/passwd"):
        status, ok, data, dep, config = event(client, "run-button", "click",
                                              {0: "smuggle", 2: "a smuggled input", choice: path})
        assert status == 200 and ok, data
        message = output_of(dep, config, data, "err-input_video")
        assert "Not an allowed input" in message or "no such file" in message, (path, message)
        status, ok, data, dep, config = event(client, "input-choice", "change", {0: path},
                                              shows="err-input_video")
        assert ok and "Not an allowed input" in output_of(dep, config, data, "err-input_video")
    assert runs(app) == before
    assert sorted(p.name for p in uploads.iterdir()) == listing  # nothing copied in
    # the shipped samples are inside the roots
    sample = str(ROOT / "assets" / "sample_testcard_640x360.mp4")
    status, ok, data, dep, config = event(client, "input-choice", "change", {0: sample},
                                          shows="err-input_video")
    assert ok and output_of(dep, config, data, "err-input_video") == ""


def test_a_non_numeric_value_is_answered_with_a_message(app):
    client = sign_in(app, OPERATOR)
    before = len(runs(app))
    steps, weight = FIELDS.index("num_steps"), FIELDS.index("weight.edge")
    status, ok, data, dep, config = event(client, "run-button", "click",
                                          {2: "a prompt", steps: "abc", weight: "lots"})
    assert status == 200 and ok, data
    assert "Steps is 'abc'" in output_of(dep, config, data, "err-num_steps")
    assert "lots" in output_of(dep, config, data, "err-weights-edge")
    status, ok, data, dep, config = event(client, "run-button", "click",
                                          {2: "a prompt", steps: 10 ** 9})
    assert ok and "from 1 to 200" in output_of(dep, config, data, "err-num_steps")
    assert len(runs(app)) == before
    # a control without a field slot says which control and what it allows
    # (the runs table's render, as its live signal calls it: page, size, ... then filters)
    status, ok, message, _, _ = event(client, "live-runs", "change", {1: "abc"},
                                      shows="history-box")
    assert status == 200 and not ok
    assert "Per page" in str(message) and "10" in str(message), message


def test_the_log_channel_needs_a_session_and_a_page_of_its_own(app):
    """The run log's own channel (cosmos_ui/log_channel.py) is not Gradio's: it checks the
    session itself, and serves only a page token the server handed out."""
    anonymous = httpx.Client(base_url=app.url, timeout=30)
    refused = anonymous.get("/cosmos/log-stream", params={"page": "x", "run": "y"})
    assert refused.status_code == 401 and "sign-in has ended" in refused.text
    client = sign_in(app, OPERATOR)
    unknown = client.get("/cosmos/log-stream", params={"page": "guessed-token", "run": "y"})
    assert unknown.status_code == 404
    assert client.get("/cosmos/log-stream", params={"page": "p", "after": "x"}).status_code \
        == 400
    assert client.post("/cosmos/log-stream").status_code == 405
