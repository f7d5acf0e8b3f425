"""Whole runs on a GPU box over real SSH, with both engines.

Each test marked with the `engine` fixture runs twice: once on a box whose docker command is
the simulator engine (cosmos-sim, run by the SSH user), once on a box with a real Docker
engine (our own dockerd; the fake Cosmos runs inside a busybox container with the host's
binaries mounted read-only). The app is the real backend (store, scheduler, executor, SshShell)
reading a real config file; the box is this machine, reached through a real OpenSSH server, so
the tests can also look at the box's files directly. Nothing of ours is mocked.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import pytest

from backend import store as st
from backend.config import load_config
from backend.media import make_test_clip, probe_video
from backend.wiring import start_backend
from tests.helpers import RUN_STARTS, wait_for
from tests.integration.conftest import sim_box_table, write_app_config
from tests.integration.remote_helpers import (Stopwatch, assert_log_complete_and_unduplicated,
                                              log_lines, params, remote_log, start_worker,
                                              stop_worker, transfers, wait_terminal)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    """A small 16:9 input: Cosmos (and the fake) still renders 1280x704 from it."""
    return make_test_clip(tmp_path_factory.mktemp("clip") / "street.mp4", width=320,
                          height=180, frames=25)


@pytest.fixture
def app(tmp_path, engine, remote_root, no_user_ssh):
    """Start a backend on one box of the engine under test; yields (backend, events)."""
    started = []

    def start(**table):
        seconds = table.pop("seconds", 1.5)
        config = write_app_config(tmp_path, {"box": engine.table(remote_root, seconds=seconds,
                                                                 **table)},
                                  trust_sshd=engine.sshd)
        backend = start_backend(load_config(config))
        events: list = []
        backend.bus.subscribe(events.append)
        started.append(backend)
        return backend, events

    yield start
    for backend in started:
        backend.close()


def test_full_run_then_the_same_input_sends_no_bytes(app, engine, remote_root, clip):
    b, events = app(seconds=1.5)
    first = wait_terminal(b, b.ops.launch(params(clip), host="box", name="over ssh").id)
    assert first.status == st.COMPLETED, (first.failure_cause, b.store.log_text(first.id)[-15:])
    info = probe_video(first.output_path)
    assert (info.width, info.height, info.codec) == (1280, 704, "h264")
    assert info.frames == probe_video(clip).frames
    assert Path(first.thumbnail_path).stat().st_size > 0
    # the full log: stored line by line, and the file itself downloaded byte for byte
    remote = remote_log(remote_root, first.id)
    assert_log_complete_and_unduplicated(b.store, first.id, remote)
    assert (Path(first.output_path).parent / "run.log").read_bytes() == remote
    assert any("Saved video to" in line for line in log_lines(remote))
    # the upload was reported as it went, ending with every byte
    size = clip.stat().st_size
    sent = transfers(events, first.id)
    assert sent and sent[-1] == {"file": "input.mp4", "sent": size, "total": size, "host": "box"}

    shell = b.scheduler.runtime("box").shell
    files_before, bytes_before = shell.files_sent, shell.bytes_sent
    second = wait_terminal(b, b.ops.launch(params(clip, seed=7), host="box").id)
    assert second.status == st.COMPLETED, second.failure_cause
    assert transfers(events, second.id) == []
    assert shell.files_sent == files_before  # no upload started at all
    control_bytes = len(second.spec.encode()) + len(second.job_script.encode())
    assert shell.bytes_sent - bytes_before == control_bytes  # spec.json + job.sh, nothing else
    cache = Path(remote_root) / "cache"
    assert len(list(cache.iterdir())) == 1
    links = {os.path.realpath(Path(remote_root) / "runs" / r.id / "inputs" / "input.mp4")
             for r in (first, second)}
    assert links == {str(next(cache.iterdir()))}
    assert shell.connect_count == 1  # two runs, follow, collect, telemetry: one connection
    if engine.kind == "docker":  # what the real engine was asked for
        assert first.command.split(" run -d ")[1].startswith("--pull never --name cosmos-")
        assert "--network none" in first.command and "--gpus" not in first.command
        assert len(first.container_id) == 64
    print(f"\n[{engine.kind}] first run uploaded {size} B of input; second run sent "
          f"{shell.bytes_sent - bytes_before} B (spec.json + job.sh), 0 B of input")


def test_connection_cut_mid_run_loses_and_doubles_no_line(app, engine, remote_root, clip):
    b, _ = app(seconds=6)
    run_id = b.ops.launch(params(clip), host="box").id
    shell = b.scheduler.runtime("box").shell
    wait_for(lambda: (r := b.store.get_run(run_id)).status == st.RUNNING and r.log_lines > 3,
             timeout=RUN_STARTS, what="the run to be running")
    recoveries = []
    for _ in range(2):  # twice: once early, once while the video is being made
        lines_before = b.store.get_run(run_id).log_lines
        connects = shell.connect_count
        clock = Stopwatch()
        assert engine.sshd.kill_connections() > 0
        wait_for(lambda: shell.connect_count > connects, interval=0.01,
                 what="a new connection")
        reconnected = clock()
        wait_for(lambda: b.store.get_run(run_id).log_lines > lines_before or
                 b.store.get_run(run_id).status != st.RUNNING, interval=0.01,
                 what="the log to move again")
        recoveries.append((reconnected, clock()))
        # the run goes on a little before the next cut (two more lines, or its end)
        moved_on = b.store.get_run(run_id).log_lines + 2
        wait_for(lambda: (r := b.store.get_run(run_id)).log_lines >= moved_on
                 or r.status != st.RUNNING, what="the run to go on before the next cut")
    run = wait_terminal(b, run_id)
    assert run.status == st.COMPLETED, (run.failure_cause, b.store.log_text(run_id)[-15:])
    remote = remote_log(remote_root, run_id)
    assert_log_complete_and_unduplicated(b.store, run_id, remote)
    assert (Path(run.output_path).parent / "run.log").read_bytes() == remote
    assert probe_video(run.output_path).width == 1280
    print(f"\n[{engine.kind}] after a cut: reconnected in "
          + ", ".join(f"{a * 1000:.0f} ms (next log line stored after {c * 1000:.0f} ms)"
                      for a, c in recoveries))


def test_app_killed_mid_run_restarts_and_the_run_completes(tmp_path, engine, remote_root, clip,
                                                           no_user_ssh):
    config = write_app_config(tmp_path, {"box": engine.table(remote_root, seconds=6)},
                              stale_worker_seconds=3, trust_sshd=engine.sshd)
    settings = load_config(config)
    queued = start_backend(settings, with_scheduler=False)
    try:
        run_id = queued.ops.launch(params(clip), host="box").id
    finally:
        queued.close()
    worker = start_worker(config)
    store = st.Store(settings.db_path)
    try:
        wait_for(lambda: (r := store.get_run(run_id)).status == st.RUNNING and r.log_lines > 3,
                 timeout=RUN_STARTS, what="the run to be running in the worker")
        dead_worker = store.get_run(run_id).worker_id
        worker.kill()  # SIGKILL: no goodbye; the container keeps running on the box
        worker.wait()
        clock = Stopwatch()
        lines_before = store.get_run(run_id).log_lines
        b = start_backend(settings)
        try:
            wait_for(lambda: b.store.get_run(run_id).worker_id == b.scheduler.worker_id,
                     what="the run to be adopted")
            adopted = clock()
            run = wait_terminal(b, run_id)
            assert run.status == st.COMPLETED, (run.failure_cause,
                                                b.store.log_text(run_id)[-15:])
            assert run.worker_id != dead_worker and run.output_path
            assert probe_video(run.output_path).height == 704
            remote = remote_log(remote_root, run_id)
            assert b.store.get_run(run_id).log_lines >= lines_before
            assert_log_complete_and_unduplicated(b.store, run_id, remote)
            assert (Path(run.output_path).parent / "run.log").read_bytes() == remote
            assert engine.containers(remote_root, f"cosmos.run={run_id}") == []
            print(f"\n[{engine.kind}] restarted app adopted the run {adopted:.1f} s after the "
                  f"SIGKILL (stale_worker_seconds = 3)")
        finally:
            b.close()
    finally:
        stop_worker(worker)


def test_unknown_host_key_is_refused_and_nothing_starts(tmp_path, sshd, remote_root,
                                                        remote_python, clip, no_user_ssh):
    config = write_app_config(tmp_path, {"box": sim_box_table(sshd, remote_root, remote_python)})
    settings = load_config(config)  # no known_hosts in the data folder: the key is unknown
    logins = sshd.accepted_logins()
    b = start_backend(settings)
    try:
        run = wait_terminal(b, b.ops.launch(params(clip), host="box").id)
        assert run.status == st.FAILED
        cause = run.failure_cause
        assert "host key" in cause and "not known" in cause and "refusing" in cause, cause
        # ...and it says how to trust it
        assert f"ssh-keyscan -p {sshd.port} {sshd.host}" in cause
        assert str(settings.data_dir / "known_hosts") in cause
        assert "trust_on_first_use" in cause
        assert [t.status for t in b.store.transitions(run.id)] == ["queued", "staging", "failed"]
    finally:
        b.close()
    assert os.listdir(remote_root) == []  # no folder, no checkout, no engine, no container
    assert sshd.accepted_logins() == logins  # refused before logging in
    assert not (settings.data_dir / "known_hosts").exists()  # nothing trusted silently


def test_hostile_prompt_and_names_execute_nothing(app, engine, remote_root, clip, tmp_path):
    canary_dir = tempfile.mkdtemp(prefix="cosmos-canary-", dir="/tmp")
    try:
        _hostile_run(app, engine, remote_root, clip, tmp_path, canary_dir)
    finally:
        shutil.rmtree(canary_dir, ignore_errors=True)


def _hostile_run(app, engine, remote_root, clip, tmp_path, canary_dir):
    os.chmod(canary_dir, 0o777)  # anyone (the SSH user, a container's root) could create it
    canary = f"{canary_dir}/CANARY"
    # absolute canaries for shells on the box; /cosmos/CANARY is remote_root as a real
    # container sees it (its own /tmp is not the box's)
    hostile = (f"$(touch {canary}) `touch {canary}`; touch {canary} && touch CANARY || "
               f"$(touch /cosmos/CANARY) `touch {remote_root}/CANARY` "
               f"echo 'single' \"double\" \\ $HOME ${{IFS}} > {canary}\n"
               f"touch {canary} | newline; ünïcödé 日本語 ✓ ")
    # a file name cannot hold '/': these use a relative CANARY, looked for everywhere below
    strange_name = tmp_path / "$(touch CANARY);`touch CANARY`'\"\n ü 日本.mp4"
    shutil.copyfile(clip, strange_name)
    control_name = tmp_path / "edge; touch CANARY #.mp4"
    shutil.copyfile(clip, control_name)
    b, _ = app(seconds=1)
    summary = b.ops.launch(params(strange_name, prompt=hostile, negative_prompt=hostile,
                                  control_videos={"edge": str(control_name)}),
                           host="box", name=hostile, prompt_name=hostile)
    run = wait_terminal(b, summary.id)
    assert run.status == st.COMPLETED, (run.failure_cause, b.store.log_text(run.id)[-15:])
    # the prompt reached Cosmos verbatim, inside the spec file and nowhere else
    on_box = json.loads((Path(remote_root) / "runs" / run.id / "spec.json")
                        .read_text(encoding="utf-8"))
    assert on_box["prompt"] == hostile.strip()
    assert on_box["negative_prompt"] == hostile.strip()
    assert "touch" not in run.command and "touch" not in run.job_script
    assert not os.path.exists(canary)
    for top in (remote_root, os.path.expanduser(f"~{engine.sshd.user}"), canary_dir):
        for folder, _dirs, files in os.walk(top):
            assert "CANARY" not in files, folder


def test_an_outage_while_staging_waits_for_the_box_instead_of_failing_the_run(
        app, engine, remote_root, clip):
    """The box goes away (connections dropped, new ones refused) after it has answered once and
    before a run's inputs are staged; it stays away longer than the SSH layer's own reconnect
    backoff (~9 s). The run waits (still `staging`) and completes once the box is back."""
    b, _ = app(seconds=1.5)
    wait_for(lambda: {h["name"]: h for h in b.ops.hosts_overview()}["box"]["reachable"],
             timeout=60, what="the box to have answered once")
    with engine.sshd.outage():
        run_id = b.ops.launch(params(clip), host="box", name="staged in an outage").id
        time.sleep(12)  # longer than the reconnect backoff that used to fail the run
        during = b.store.get_run(run_id)
        assert during.status in (st.QUEUED, st.STAGING), (during.status, during.failure_cause)
    run = wait_terminal(b, run_id)
    assert run.status == st.COMPLETED, run.failure_cause
    assert_log_complete_and_unduplicated(b.store, run_id, remote_log(remote_root, run_id))
