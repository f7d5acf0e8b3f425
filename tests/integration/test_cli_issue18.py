"""`cosmos prepare` and `cosmos webhooks` as real subprocesses: exit codes, what they print,
and the --json shapes docs/cli-json.md promises."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from backend.media import probe_video
from tests.helpers import SAMPLE, write_config
from tests.integration.test_cli import Cli
from tests.integration.test_webhooks import endpoint  # noqa: F401 (the fixture)

pytestmark = pytest.mark.integration


def frames(folder: Path, prefix: str, count: int, size=(48, 32)) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        Image.new("RGB", size, (i * 9 % 256, 40, 200)).save(folder / f"{prefix}{i + 1:03d}.png")


def test_prepare_prints_the_videos_and_refuses_a_gap(tmp_path):
    cli = Cli(write_config(tmp_path))
    shot = tmp_path / "shot010"
    frames(shot, "plate.", 20)
    frames(shot / "passes", "plate_seg.", 20)
    result = cli("prepare", str(shot), "--fps", "25", "-o", str(tmp_path / "out.mp4"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"input    {tmp_path / 'out.mp4'}  (20 frames 1-20, 48x32")
    assert f"seg      {tmp_path / 'out.seg.mp4'}" in result.stdout
    assert f"--control seg={tmp_path / 'out.seg.mp4'}" in result.stderr  # the next command
    assert probe_video(tmp_path / "out.seg.mp4").frames == 20

    out = cli.json("prepare", str(shot), "--fps", "30000/1001", "-o", str(tmp_path / "j.mp4"),
                   "--start", "5", "--end", "14")
    assert set(out) == {"input", "controls", "notes", "fps"} and out["fps"] == "30000/1001"
    assert set(out["input"]) == {"path", "pattern", "source", "first", "last", "frames", "fps",
                                 "width", "height", "conversion"}
    assert (out["input"]["first"], out["input"]["last"], out["input"]["frames"]) == (5, 14, 10)
    assert out["controls"]["seg"]["pattern"] == "passes/plate_seg.%03d.png"

    (shot / "plate.007.png").unlink()
    (shot / "plate.008.png").unlink()
    gap = cli("prepare", str(shot), "--fps", "25", "-o", str(tmp_path / "g.mp4"))
    assert gap.returncode == 2 and gap.stdout == ""
    assert "error: path: plate.%03d.png: frames 1-20 have 2 missing: 7-8." in gap.stderr
    bad = cli("prepare", str(shot), "--fps", "fast")
    assert bad.returncode == 2 and "error: fps: fps 'fast' is not valid; allowed:" in bad.stderr


def test_webhooks_verbs_and_a_cli_run_delivers_its_own_notices(tmp_path, endpoint):  # noqa: F811
    state, port = endpoint
    config = write_config(tmp_path, extra_top=f"""
[notify]
backoff_seconds = 0.05
[[notify.webhooks]]
name = "farm"
url = "http://127.0.0.1:{port}/ok"
events = ["queued", "started", "completed"]
secret_env = "COSMOS_TEST_CLI_SECRET"
""")
    cli = Cli(config, env={"COSMOS_TEST_CLI_SECRET": "cli-secret-1"})
    listed = cli.json("webhooks", "list")
    assert listed["webhooks"] == [{"name": "farm", "events": ["queued", "started", "completed"],
                                   "format": "json", "address": f"http://127.0.0.1:{port}/…",
                                   "signed": True, "secret_env": "COSMOS_TEST_CLI_SECRET",
                                   "timeout": 10.0}]
    tested = cli.json("webhooks", "test")
    assert tested["results"][0]["ok"] and tested["results"][0]["status_code"] == 200
    unsigned = Cli(config)("webhooks", "test", "farm")  # the secret's variable is not set
    assert unsigned.returncode == 1 and "never sent unsigned" in unsigned.stdout
    assert len(state.received("/ok")) == 1  # nothing went out unsigned
    missing = cli("webhooks", "test", "nope")
    assert missing.returncode == 3 and "configured: farm" in missing.stderr

    # `run --wait` starts its own scheduler: its notifier hears queued too, and the command
    # ends only after the completed notice went out
    done = cli.json("run", "a quiet harbour", "--input", str(SAMPLE), "--wait", timeout=300)
    run_id = done["run"]["id"]
    log = cli.json("webhooks", "log", run_id)
    assert log["run_id"] == run_id
    assert [(d["event"], d["outcome"], d["status_code"]) for d in log["deliveries"]] == [
        ("queued", "delivered", 200), ("started", "delivered", 200),
        ("completed", "delivered", 200)]
    assert set(log["deliveries"][0]) == {"webhook", "event", "attempt", "at", "outcome",
                                         "status_code", "error", "answered_at"}
    shown = cli("show", run_id)
    assert shown.stdout.count("  webhook    ") == 3 and "farm completed #1 delivered" in \
        shown.stdout
    bodies = [json.loads(r["raw"]) for r in state.received("/ok")[1:]]
    assert [b["event"] for b in bodies] == ["queued", "started", "completed"]
    assert "cli-secret-1" not in shown.stdout + json.dumps(log)
