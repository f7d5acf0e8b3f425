"""Helpers shared by the whole-run tests over SSH (test_remote_runs.py, test_real_docker.py)."""

from __future__ import annotations

import os
import pwd
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from backend import store as st
from backend.models.transfer1.params import GenerationParams
from backend.events import Event
from tests.helpers import ROOT, RUN_FINISHES, STATE_CHANGES, wait_for

_LINE_SPLIT = re.compile(r"\r\n|\r|\n")

WORKER = """
import sys, time, signal
from backend.config import load_config
from backend.wiring import start_backend
b = start_backend(load_config(sys.argv[1]))
signal.signal(signal.SIGTERM, lambda *a: (b.close(), sys.exit(0)))
while True:
    time.sleep(0.5)
"""


def params(clip: Path | str, prompt: str = "a sunlit street, photorealistic",
           **kw) -> GenerationParams:
    base = dict(prompt=prompt, negative_prompt="blurry", input_video=str(clip),
                weights={"edge": 1.0})
    base.update(kw)
    return GenerationParams(**base)


def wait_terminal(backend, run_id: str, timeout: float = RUN_FINISHES) -> st.Run:
    return wait_for(lambda: (r := backend.store.get_run(run_id)).is_terminal and r,
                    timeout=timeout, interval=0.1, what=f"run {run_id} to end")


def remote_log(remote_root: str, run_id: str) -> bytes:
    """The run's log file as the box has it (the box is this machine)."""
    return (Path(remote_root) / "runs" / run_id / "run.log").read_bytes()


def log_lines(data: bytes) -> list[str]:
    """Lines as the executor stores them: split at \\r\\n, \\r or \\n; blank ones dropped."""
    text = data.decode("utf-8", "replace")
    return [line for line in _LINE_SPLIT.split(text) if line.strip()]


def assert_log_complete_and_unduplicated(store: st.Store, run_id: str, remote: bytes) -> None:
    """Every line of the remote log is stored once, in order, at the byte offset it has there."""
    rows = store.log_since(run_id, -1, limit=100000)
    assert [r.seq for r in rows] == list(range(len(rows)))
    assert [r.text for r in rows] == log_lines(remote)
    offsets = [r.offset for r in rows]
    assert offsets == sorted(set(offsets)), "a byte offset was stored twice"
    for row in rows:
        assert remote[row.offset:].decode("utf-8", "replace").startswith(row.text)


def transfers(events: list[Event], run_id: str) -> list[dict]:
    return [e.data for e in events if e.kind == "transfer" and e.run_id == run_id]


def make_remote_root(user: str, prefix: str = "cosmos-remote-") -> str:
    """A fresh folder on the box owned by the SSH user."""
    path = tempfile.mkdtemp(prefix=prefix, dir="/tmp")
    entry = pwd.getpwnam(user)
    os.chown(path, entry.pw_uid, entry.pw_gid)
    return path


def remove_tree(path: str) -> None:
    subprocess.run(["umount", "-l", path], capture_output=True)
    shutil.rmtree(path, ignore_errors=True)


def start_worker(config: Path) -> subprocess.Popen:
    """The app's backend in a process of its own, as `cosmos worker` or the UI would run it.

    Its stderr goes to `worker.log` beside the config (a pipe nobody reads could fill up and
    stall it)."""
    with open(config.parent / "worker.log", "ab") as log_file:
        return subprocess.Popen([sys.executable, "-c", WORKER, str(config)], cwd=str(ROOT),
                                env=dict(os.environ, PYTHONPATH=str(ROOT)),
                                stdout=subprocess.DEVNULL, stderr=log_file)


def stop_worker(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(STATE_CHANGES)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class Stopwatch:
    def __init__(self) -> None:
        self.t0 = time.monotonic()

    def __call__(self) -> float:
        return time.monotonic() - self.t0
