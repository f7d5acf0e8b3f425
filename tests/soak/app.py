"""The app under soak: `python launch.py`, SIGKILLed and started again, and the `cosmos` CLI.

Why its own session: the app is killed the way a crash kills it (SIGKILL to the app's own
process, nothing else), but at the end the harness must also reap whatever it left behind
(ssh/sftp helpers), so it gets a process group of its own to kill as a whole.
Each incarnation logs to its own file, kept in the report folder as evidence.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests.sshd import free_port

ROOT = Path(__file__).resolve().parents[2]


def child_env(workdir: Path) -> dict[str, str]:
    """The environment of the app and the CLI: no user ssh config, no agent, no analytics."""
    env = dict(os.environ, PYTHONUNBUFFERED="1", GRADIO_ANALYTICS_ENABLED="False",
               COSMOS_SSH_CONFIG=str(workdir / "no-ssh-config"))
    env.pop("SSH_AUTH_SOCK", None)
    return env


class App:
    """One `launch.py` at a time; `incarnations` counts every start."""

    def __init__(self, config: Path, data_dir: Path, log_dir: Path, env: dict[str, str]) -> None:
        self.config, self.data_dir, self.log_dir, self.env = config, data_dir, log_dir, env
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0
        self.incarnations = 0
        self.ready = False
        self.started_at = 0.0

    def start(self) -> None:
        self.incarnations += 1
        self.port = free_port()  # a fresh port: the killed one's socket may linger
        log = open(self.log_dir / f"app-{self.incarnations}.log", "wb")
        self.proc = subprocess.Popen(
            [sys.executable, str(ROOT / "launch.py"), "--skip-install", "--config",
             str(self.config), "--data-dir", str(self.data_dir), "--port", str(self.port)],
            cwd=str(ROOT), env=self.env, stdin=subprocess.DEVNULL, stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        self.ready = False
        self.started_at = time.monotonic()

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def poll_ready(self) -> bool:
        """True once this incarnation serves HTTP (checked without blocking for long)."""
        if not self.ready and self.alive:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/", timeout=1) as r:
                    self.ready = r.status == 200
            except OSError:
                pass
        return self.ready

    def sigkill(self) -> None:
        """A crash: SIGKILL the app process only; its containers live on, on the boxes."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        self.ready = False

    def stop(self) -> None:
        """The end: SIGTERM the app's process group, then SIGKILL what is left of it.

        The leader is not reaped until the group is dead, so its id cannot be reused by a
        stranger's group in between.
        """
        if self.proc is None or self.proc.returncode is not None:
            return
        pid = self.proc.pid
        _signal_group(pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None:
                break
            time.sleep(0.1)
        _signal_group(pid, signal.SIGKILL)
        self.proc.wait(10)
        self.ready = False


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass


def cosmos(config: Path, env: dict[str, str], *args: str, timeout: float = 120
           ) -> tuple[int, dict | None, str]:
    """`cosmos --config CFG ARGS --json`: (exit code, parsed stdout or None, stderr tail)."""
    try:
        done = subprocess.run([sys.executable, "-m", "backend.cli", "--config", str(config),
                               *args, "--json"], cwd=str(ROOT), env=env, capture_output=True,
                              text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return -1, None, f"timed out after {timeout}s"
    try:
        out = json.loads(done.stdout) if done.returncode == 0 else None
    except json.JSONDecodeError:
        out = None
    return done.returncode, out, done.stderr[-1000:]
