"""What every benchmark row shares: the result line, the run context (scratch folder, the
suite's own sshd, quick mode), a throwaway config, the launched app, and feature detection.

A row module exposes `NAME`, `TITLE` and `run(ctx) -> list[Line]`. A row whose feature has not
landed returns `Line.not_built(...)` lines instead of numbers; it finds out at run time
(import or attribute missing), so rows light up as features land without touching bench/.
"""

from __future__ import annotations

import importlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from bench.stats import (ERROR, NOT_BUILT, Goal, Summary, format_ratio, format_summary,
                         paired_ratio)
from bench.stats import ratio as ratio_of
from bench.stats import summarize, verdict

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "assets" / "sample_testcard_640x360.mp4"


# -- one line of the table --------------------------------------------------------------------
@dataclass
class Line:
    """One table line: our figure, the baseline's, their ratio (ours / baseline) and the goal."""

    row: str
    unit: str
    goal: Goal
    stat: str = "median"  # which statistic is compared: median | p50 | p95
    ours: Summary | None = None
    baseline: Summary | None = None
    ours_label: str = ""  # what "ours" is, in words (results.json)
    baseline_label: str = ""
    status: str | None = None  # NOT_BUILT / ERROR override the computed verdict
    paired: bool = False  # samples are back-to-back pairs: ratio = median of pair ratios
    note: str = ""
    ours_samples: list[float] = field(default_factory=list)
    baseline_samples: list[float] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def measured(cls, row: str, unit: str, goal: Goal, ours: Sequence[float],
                 baseline: Sequence[float], *, stat: str = "median", note: str = "",
                 ours_label: str = "", baseline_label: str = "", paired: bool = False,
                 details: dict[str, Any] | None = None) -> "Line":
        return cls(row=row, unit=unit, goal=goal, stat=stat, paired=paired,
                   ours=summarize(ours) if ours else None,
                   baseline=summarize(baseline) if baseline else None,
                   ours_label=ours_label, baseline_label=baseline_label, note=note,
                   ours_samples=[float(v) for v in ours],
                   baseline_samples=[float(v) for v in baseline], details=details or {})

    @classmethod
    def not_built(cls, row: str, unit: str, goal: Goal, reason: str,
                  stat: str = "median") -> "Line":
        return cls(row=row, unit=unit, goal=goal, stat=stat, status=NOT_BUILT, note=reason)

    @classmethod
    def failed(cls, row: str, unit: str, goal: Goal, reason: str,
               stat: str = "median") -> "Line":
        return cls(row=row, unit=unit, goal=goal, stat=stat, status=ERROR, note=reason)

    @property
    def ours_value(self) -> float | None:
        return self.ours.get(self.stat) if self.ours else None

    @property
    def baseline_value(self) -> float | None:
        return self.baseline.get(self.stat) if self.baseline else None

    @property
    def ratio(self) -> float | None:
        if self.paired and self.stat == "median":
            pairs = paired_ratio(self.ours_samples, self.baseline_samples)
            if pairs is not None:
                return pairs
        return ratio_of(self.ours_value, self.baseline_value)

    @property
    def verdict(self) -> str:
        if self.status:
            return self.status
        return verdict(self.goal, self.ours_value, self.ratio)

    def cells(self) -> list[str]:
        if self.status == NOT_BUILT:
            return [self.row, NOT_BUILT, "-", "-", self.goal.text(self.stat), NOT_BUILT]
        return [self.row, format_summary(self.ours, self.unit, self.stat),
                format_summary(self.baseline, self.unit, self.stat), format_ratio(self.ratio),
                self.goal.text(self.stat), self.verdict]

    def to_dict(self) -> dict[str, Any]:
        return {
            "row": self.row, "unit": self.unit, "stat": self.stat,
            "goal": {"target": self.goal.target, "op": self.goal.op, "value": self.goal.value,
                     "text": self.goal.text(self.stat)},
            "ours": self.ours.to_dict() if self.ours else None,
            "baseline": self.baseline.to_dict() if self.baseline else None,
            "ours_label": self.ours_label, "baseline_label": self.baseline_label,
            "ratio": self.ratio, "ratio_of_medians": ratio_of(self.ours_value,
                                                              self.baseline_value),
            "ratio_kind": "median of pair ratios" if self.paired and self.stat == "median"
            else f"ours {self.stat} / baseline {self.stat}",
            "verdict": self.verdict, "note": self.note,
            "ours_samples": self.ours_samples, "baseline_samples": self.baseline_samples,
            "details": self.details,
        }


# -- feature detection ------------------------------------------------------------------------
def try_import(module: str) -> Any | None:
    """The module, or None when it does not exist yet (a feature that has not landed)."""
    try:
        return importlib.import_module(module)
    except ImportError:
        return None


def missing(obj: Any, *names: str) -> list[str]:
    """The attributes of `obj` that do not exist (yet)."""
    return [n for n in names if not hasattr(obj, n)]


# -- context ----------------------------------------------------------------------------------
class Context:
    """Per-suite state handed to each row: quick mode, a scratch folder, the suite's sshd."""

    def __init__(self, quick: bool, workdir: Path, log: Callable[[str], None]) -> None:
        self.quick = quick
        self.workdir = workdir
        self.log = log
        self._sshd = None
        self._sshd_error: str | None = None
        self._remote_dirs: list[str] = []

    def scratch(self, name: str) -> Path:
        path = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=self.workdir))
        return path

    # the suite's own OpenSSH server on 127.0.0.1 (tests/sshd.py), started on first use
    def sshd(self):
        if self._sshd is None and self._sshd_error is None:
            try:
                from tests.sshd import SshServer
            except ImportError as exc:
                self._sshd_error = f"tests/sshd.py is not importable: {exc}"
            else:
                try:
                    self._sshd = SshServer.start()
                    self.log(f"sshd listening on 127.0.0.1:{self._sshd.port} "
                             f"(user {self._sshd.user})")
                except Exception as exc:  # SshdUnavailable and anything else
                    self._sshd_error = f"cannot start the suite's sshd: {exc}"
        if self._sshd is None:
            raise RuntimeError(self._sshd_error or "no sshd")
        return self._sshd

    def remote_dir(self, name: str) -> str:
        """A folder on the "box" owned by the SSH login user (our scratch is root's)."""
        server = self.sshd()
        path = tempfile.mkdtemp(prefix=f"cosmos-bench-{name}-", dir="/tmp")
        entry = pwd.getpwnam(server.user)
        os.chown(path, entry.pw_uid, entry.pw_gid)
        os.chmod(path, 0o755)
        self._remote_dirs.append(path)
        return path

    def close(self) -> None:
        for path in self._remote_dirs:
            shutil.rmtree(path, ignore_errors=True)
        self._remote_dirs.clear()
        if self._sshd is not None:
            self._sshd.stop()
            self._sshd = None


def ssh_host_config(server, remote_root: str, name: str = "benchbox"):
    """A HostConfig of kind ssh that logs into the suite's sshd as its test user."""
    from backend.config import HostConfig

    return HostConfig(
        name=name, kind="ssh", docker=("docker",), remote_root=remote_root,
        cosmos_checkout=f"{remote_root}/cosmos-transfer1", image="cosmos-sim/transfer1:latest",
        gpus=(0,), max_concurrent=1, simulated=True, same_paths_in_container=True,
        hostname=server.host, port=server.port, user=server.user,
        identity_file=str(server.client_key))


def open_ssh_shell(ctx: Context, remote_root: str, name: str = "benchbox"):
    """Our SshShell on the suite's sshd, isolated from root's ~/.ssh and any agent."""
    from backend.remote.ssh import SshShell

    server = ctx.sshd()
    known = ctx.workdir / "known_hosts"
    known.write_text(server.known_hosts_line())
    return SshShell(ssh_host_config(server, remote_root, name), app_known_hosts=known,
                    ssh_config=ctx.workdir / "no-ssh-config", user_known_hosts=[],
                    use_agent=False, look_for_keys=False)


# -- config and the app -----------------------------------------------------------------------
def shipped_scheduler_defaults() -> dict[str, float]:
    """poll_interval and telemetry_interval as the shipped config.toml sets them."""
    try:
        from backend.config import load_config

        shipped = load_config(ROOT / "config.toml")
        return {"poll_interval": shipped.poll_interval,
                "telemetry_interval": shipped.telemetry_interval}
    except Exception:
        return {"poll_interval": 0.2, "telemetry_interval": 2.0}


def write_config(folder: Path, *, port: int = 7860, sim_seconds: float = 1.0,
                 env: dict[str, str] | None = None, max_concurrent: int = 2,
                 scheduler_extra: str = "", host_extra: str = "",
                 data_dir: Path | None = None) -> Path:
    """A config like the shipped one (its scheduler timings), data in `folder`, sim box only."""
    defaults = shipped_scheduler_defaults()
    host_env = {"COSMOS_SIM_SECONDS": f"{sim_seconds:g}", **(env or {})}
    env_text = ", ".join(f'{k} = "{v}"' for k, v in host_env.items())
    path = folder / "config.toml"
    path.write_text(f"""
data_dir = "{data_dir or folder / 'data'}"
[ui]
host = "127.0.0.1"
port = {port}
[scheduler]
poll_interval = {defaults['poll_interval']}
telemetry_interval = {defaults['telemetry_interval']}
kill_grace = 3
{scheduler_extra}
[hosts.sim]
kind = "local"
docker = "cosmos-sim --root {{remote_root}}/engine"
gpu_query = "cosmos-sim --root {{remote_root}}/engine nvidia-smi"
remote_root = "{{data_dir}}/sim-box"
image = "cosmos-sim/transfer1:latest"
gpus = [0, 1, 2, 3]
max_concurrent = {max_concurrent}
simulated = true
same_paths_in_container = true
offload = ["offload_text_encoder_model", "offload_guardrail_models"]
env = {{ {env_text} }}
{host_extra}
""")
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http_ok(url: str, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status == 200
    except OSError:
        return False


class ServerProcess:
    """A web app started as a person would (its own session), timed until its first HTTP 200."""

    def __init__(self, argv: list[str], port: int, log_path: Path, cwd: Path) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}/"
        self.log_path = log_path
        env = dict(os.environ, PYTHONUNBUFFERED="1", GRADIO_ANALYTICS_ENABLED="False")
        self._log = open(log_path, "wb")
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(argv, cwd=str(cwd), env=env, stdout=self._log,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     start_new_session=True)

    def wait_http(self, timeout: float = 120.0, interval: float = 0.02) -> float:
        """Seconds from spawn to the first HTTP 200 of GET / (polled every `interval`)."""
        deadline = self.started + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.proc.args[1]} exited early (code "
                                   f"{self.proc.returncode}):\n"
                                   + self.log_path.read_text(errors="replace")[-2000:])
            if http_ok(self.url, timeout=1.0):
                return time.perf_counter() - self.started
            if time.perf_counter() > deadline:
                raise RuntimeError(f"no HTTP 200 from {self.url} within {timeout:.0f} s")
            time.sleep(interval)

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self._log.close()


def launch_app(config: Path, port: int, workdir: Path) -> ServerProcess:
    """`python launch.py --skip-install --config <config> --port <port>`."""
    return ServerProcess([sys.executable, str(ROOT / "launch.py"), "--skip-install",
                          "--config", str(config), "--port", str(port)], port,
                         workdir / f"app-{port}.log", workdir)


def sim_engine(host) -> "list[str]":
    """The docker argv of a simulator host (e.g. cosmos-sim --root .../engine)."""
    return list(host.docker)


def stop_sim_containers(host) -> None:
    """Force-remove every container of a simulator host's engine (ours, in our scratch)."""
    from backend.remote.shell import LocalShell

    shell = LocalShell("bench")
    listed = shell.run(list(host.docker) + ["ps", "-a", "-q", "--no-trunc"], timeout=60)
    ids = [line.strip() for line in listed.out.splitlines() if line.strip()]
    if ids:
        shell.run(list(host.docker) + ["rm", "-f", *ids], timeout=120)


def wait_until(predicate: Callable[[], Any], timeout: float, interval: float = 0.02,
               what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)
