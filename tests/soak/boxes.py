"""The soak's two simulator boxes and the sshd in front of one of them.

Why this module exists: the soak looks at the boxes from *outside* the product. It reads each
run's `run.log` straight from the box's folder and lists or kills containers with the
`cosmos-sim` command itself, never through backend/ code (which is being refactored and is the
thing under test). The SSH box's engine state belongs to the SSH login user, so every engine
command for it runs as that user (a root-written state file could lock the app out).

The sshd can be restarted on the same port with the same host key, so the app's recorded
host key still matches and only the connection drop is tested, not a host-key change.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from tests.sshd import SSHD, SshServer, ensure_user_can_execute

ROOT = Path(__file__).resolve().parents[2]
COSMOS_SIM = str(Path(sys.executable).parent / "cosmos-sim")


def toml_value(value: object) -> str:
    """TOML for the few value types a config needs (json strings are valid TOML strings)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"no TOML for {value!r}")


class RestartableSshd:
    """A test sshd that can go away and come back on the same port with the same keys."""

    def __init__(self) -> None:
        self.server = SshServer.start()
        self.restarts = 0

    @property
    def up(self) -> bool:
        return self.server.proc.poll() is None

    def stop(self) -> None:
        """Drop every connection and the listener: new connections are refused until start.

        Like a network drop or an sshd restart, this kills only sshd's own processes (the
        listener and the per-connection ones), never the commands they were running: those
        see their pipes close, as on a real box, and an engine starting a container is not
        killed half-way (SshServer.kill_connections would SIGKILL the whole tree).
        The listener is frozen first, so the app cannot reconnect before it is gone.
        """
        proc = self.server.proc
        proc.send_signal(signal.SIGSTOP)
        pids = sshd_processes_under(proc.pid)
        for pid in pids:
            _kill(pid)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and any(_running(pid) for pid in pids):
            time.sleep(0.01)
        proc.kill()
        proc.wait(10)
        self.server.stop(remove=False)  # closes its log file

    def start(self) -> None:
        """A new listener from the same sshd_config (same port, host key, authorized keys)."""
        old = self.server
        config = old.workdir / "sshd_config"
        log_fh = open(old.log_path, "ab")
        proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(config)], stdin=subprocess.DEVNULL,
                                stdout=log_fh, stderr=subprocess.STDOUT)
        self.server = SshServer(old.workdir, old.port, old.user, old.host_key, old.client_key,
                                old.log_path, proc, log_fh)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with socket.create_connection(("127.0.0.1", old.port), timeout=1) as sock:
                    if sock.recv(64).startswith(b"SSH-2.0-"):
                        self.restarts += 1
                        return
            except OSError:
                time.sleep(0.02)
        raise RuntimeError(f"sshd did not come back on port {old.port}: "
                           f"{old.log_path.read_text(errors='replace')[-500:]}")

    def close(self) -> None:
        """Stop for good and delete the keys (the harness's cleanup)."""
        self.server.stop(remove=True)


def _proc_table() -> tuple[dict[int, list[int]], dict[int, str]]:
    """Children per parent pid, and each process's command name, from /proc."""
    children: dict[int, list[int]] = {}
    names: dict[int, str] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            raw = Path(f"/proc/{entry}/stat").read_bytes()
        except OSError:
            continue
        # "pid (comm) state ppid ...": comm may hold spaces and parens, so cut at the last ')'
        pid, rest = int(entry), raw[raw.rindex(b")") + 2:].split()
        names[pid] = raw[raw.index(b"(") + 1:raw.rindex(b")")].decode(errors="replace")
        children.setdefault(int(rest[1]), []).append(pid)
    return children, names


def sshd_processes_under(listener: int) -> list[int]:
    """The per-connection sshd processes below the listener, not the commands they run."""
    children, names = _proc_table()
    found: list[int] = []
    level = children.get(listener, [])
    while level:
        level = [pid for pid in level if names.get(pid) == "sshd"]
        found += level
        level = [child for pid in level for child in children.get(pid, [])]
    return found


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _running(pid: int) -> bool:
    """Alive and not a zombie (a zombie holds no socket any more)."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return False
    return raw[raw.rindex(b")") + 2:].split()[0] != b"Z"


def kill_processes_mentioning(marker: str) -> list[str]:
    """SIGKILL every process whose command line contains `marker` (a unique temp folder of
    this soak): remote commands orphaned by dropped connections. Returns their commands."""
    killed = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode(
                errors="replace")
        except OSError:
            continue
        if marker in cmdline and _running(int(entry)):
            _kill(int(entry))
            killed.append(cmdline.strip()[:200])
    return killed


@dataclass
class Box:
    """One simulator box as the soak sees it: its folder, its engine, who owns them."""

    name: str
    remote_root: Path
    run_as: str | None = None  # the SSH login user owns the SSH box's folder and engine

    @property
    def engine_root(self) -> Path:
        return self.remote_root / "engine"

    def cosmos_sim(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """`cosmos-sim --root <engine root> ARGS`, as the box's owner."""
        argv = [COSMOS_SIM, "--root", str(self.engine_root), *args]
        if self.run_as:
            argv = ["runuser", "-u", self.run_as, "--", *argv]
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, cwd="/")

    def containers(self, running_only: bool = True) -> list[str]:
        """Names of the engine's containers (running ones unless told otherwise)."""
        args = ["ps", "--format", "{{.Names}}"] + ([] if running_only else ["-a"])
        done = self.cosmos_sim(*args)
        if done.returncode != 0:
            raise RuntimeError(f"cosmos-sim ps on {self.name}: {done.stderr.strip()}")
        return [line.strip() for line in done.stdout.splitlines() if line.strip()]

    def kill(self, container: str) -> tuple[bool, int | None]:
        """SIGKILL a container from outside; (killed, exit code the engine recorded)."""
        done = self.cosmos_sim("kill", container)
        if done.returncode != 0:
            return False, None
        shown = self.cosmos_sim("inspect", "--format", "{{.State.ExitCode}}", container)
        code = shown.stdout.strip()
        return True, int(code) if shown.returncode == 0 and code.lstrip("-").isdigit() else None

    def run_folder(self, run_id: str) -> Path:
        return self.remote_root / "runs" / run_id

    def run_log(self, run_id: str) -> bytes | None:
        """The box's own `runs/<id>/run.log`, the ground truth the stored log must equal."""
        try:
            return (self.run_folder(run_id) / "run.log").read_bytes()
        except FileNotFoundError:
            return None

    def cleanup(self) -> list[str]:
        """Kill and remove every container left on the engine; the names that were running."""
        if not self.engine_root.exists():
            return []
        try:
            running = self.containers()
            every = self.containers(running_only=False)
        except (RuntimeError, subprocess.TimeoutExpired):
            return []
        if every:
            self.cosmos_sim("rm", "-f", *every, timeout=120)
        return running


def make_boxes(workdir: Path, sshd: RestartableSshd) -> tuple[Box, Box, list[Path]]:
    """The local box (in workdir) and the SSH box (its own /tmp folder, owned by the login
    user: the work dir is root-only); also the folders to delete at the end."""
    local = Box("local", workdir / "local-box")
    user = sshd.server.user
    ensure_user_can_execute(user, sys.executable)
    ssh_root = Path(tempfile.mkdtemp(prefix="cosmos-soak-box-", dir="/tmp"))
    entry = pwd.getpwnam(user)
    os.chown(ssh_root, entry.pw_uid, entry.pw_gid)
    return local, Box("ssh", ssh_root, run_as=user), [ssh_root]


def write_config(workdir: Path, local: Box, ssh: Box, sshd: RestartableSshd, *,
                 local_seconds: float, ssh_seconds: float, local_slots: int,
                 ssh_slots: int) -> Path:
    """A config.toml with both boxes; the data folder already trusts the sshd's host key."""
    server = sshd.server
    remote_engine = f"{sys.executable} -m backend.simulator.engine --root {ssh.engine_root}"
    hosts: dict[str, dict[str, object]] = {
        local.name: dict(
            kind="local", docker="cosmos-sim --root {remote_root}/engine",
            gpu_query="cosmos-sim --root {remote_root}/engine nvidia-smi",
            remote_root=str(local.remote_root), image="cosmos-sim/transfer1:latest",
            gpus=list(range(local_slots)), max_concurrent=local_slots, simulated=True,
            same_paths_in_container=True, env={"COSMOS_SIM_SECONDS": str(local_seconds)}),
        ssh.name: dict(
            kind="ssh", hostname=server.host, port=server.port, user=server.user,
            identity_file=str(server.client_key), docker=remote_engine,
            gpu_query=f"{remote_engine} nvidia-smi", remote_root=str(ssh.remote_root),
            cosmos_checkout=f"{ssh.remote_root}/cosmos-transfer1",
            image="cosmos-sim/transfer1:latest", gpus=list(range(ssh_slots)),
            max_concurrent=ssh_slots, simulated=True, same_paths_in_container=True,
            env={"COSMOS_SIM_SECONDS": str(ssh_seconds)}),
    }
    data = workdir / "data"
    lines = [f"data_dir = {toml_value(str(data))}", "[generation]", f'host = "{local.name}"',
             "[scheduler]", "poll_interval = 0.2", "kill_grace = 3", "telemetry_interval = 2.0",
             # a SIGKILLed app's runs are adopted by its successor after this long
             "stale_worker_seconds = 3.0"]
    for name, table in hosts.items():
        lines.append(f"[hosts.{name}]")
        lines += [f"{key} = {toml_value(value)}" for key, value in table.items()]
    path = workdir / "config.toml"
    path.write_text("\n".join(lines) + "\n")
    data.mkdir(parents=True, exist_ok=True)
    (data / "known_hosts").write_text(server.known_hosts_line())
    return path


def remove_dirs(paths: list[Path]) -> None:
    for path in paths:
        shutil.rmtree(path, ignore_errors=True)
