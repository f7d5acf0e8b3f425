"""Events reach a process that does not drive the run: a `cosmos worker` runs it, this process
(as the app would) hears every status change, log line and the host's telemetry, and the CLI's
`status --stream` prints the log while it is written."""

from __future__ import annotations

import subprocess
import sys

import pytest

from backend import store as st
from backend.media import make_test_clip
from backend.models.transfer1.params import GenerationParams
from backend.wiring import start_backend
from tests.helpers import ROOT, make_settings, wait_for, write_config

pytestmark = pytest.mark.integration


def test_a_worker_s_events_reach_the_app_and_the_cli(tmp_path):
    config = write_config(tmp_path, sim_seconds=3)
    settings = make_settings(tmp_path, sim_seconds=3)
    clip = make_test_clip(tmp_path / "clip.mp4", width=160, height=90, frames=9)
    app = start_backend(settings, with_scheduler=False)  # shows runs, drives none
    seen: list = []
    app.bus.subscribe(seen.append)
    worker = subprocess.Popen([sys.executable, "-m", "backend.cli", "--config", str(config),
                               "worker"], cwd=str(ROOT), stdout=subprocess.DEVNULL,
                              stderr=open(tmp_path / "worker.log", "wb"))
    stream = None
    try:
        wait_for(lambda: app.ops.live_workers(), timeout=60, what="the worker to register")
        run = app.ops.launch(GenerationParams(prompt="a wet street", negative_prompt="bad",
                                              input_video=str(clip), weights={"edge": 1.0}))
        stream = subprocess.Popen([sys.executable, "-m", "backend.cli", "--config", str(config),
                                   "status", "--stream", run.id], cwd=str(ROOT),
                                  stdout=subprocess.PIPE, text=True)
        done = wait_for(lambda: (r := app.store.get_run(run.id)).is_terminal and r,
                        timeout=120, what="the run to end")
        assert done.status == st.COMPLETED, done.failure_cause
        assert done.worker_id != (app.scheduler.worker_id if app.scheduler else None)
        wait_for(lambda: any(e.kind == "status" and e.status == st.COMPLETED
                             and e.run_id == run.id for e in seen), timeout=10,
                 what="the completed event to cross over")
        statuses = [e.status for e in seen if e.kind == "status" and e.run_id == run.id]
        assert statuses == [st.QUEUED, st.STAGING, st.RUNNING, st.COLLECTING, st.COMPLETED]
        logged = sum(e.count for e in seen if e.kind == "log" and e.run_id == run.id)
        assert logged == done.log_lines > 0  # every stored line was announced, once
        assert any(e.kind == "progress" and e.run_id == run.id for e in seen)
        wait_for(lambda: any(e.kind == "telemetry" and e.host == "sim" for e in seen),
                 timeout=30, what="the worker's host telemetry")
        hosts = {h["name"]: h for h in app.ops.hosts_overview()}
        assert hosts["sim"]["reachable"] is True  # the app's Hosts view, from the worker
        out, _ = stream.communicate(timeout=60)
        assert stream.returncode == 0
        assert out.splitlines() == app.store.log_text(run.id)
    finally:
        if stream is not None and stream.poll() is None:
            stream.kill()
        worker.terminate()
        worker.wait(30)
        app.close()
