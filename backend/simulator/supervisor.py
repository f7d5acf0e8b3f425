"""The per-container supervisor: the "daemon" side of one cosmos-sim container.

`run -d` must return at once while the container lives on, and somebody must learn the exit
status (only a parent can). So `run` spawns this supervisor as a detached session leader; it
starts the container command as its child in a new process group (so `stop`/`kill` can signal
the whole container and nothing else), records pid/StartedAt, waits, records
ExitCode/FinishedAt (128+signal on signal death, as docker), kills leftover processes of the
group (docker tears the whole container down when PID 1 exits) and removes the container when
`--rm` was given.

It reports the start outcome to `run` over an inherited pipe so `run -d` returns only once the
container really runs (as docker does), or fails with docker's exec error (exit 127/126).
"""

from __future__ import annotations

import logging
import os
import select
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from . import SHIMS_DIR
from .errors import CliError
from .state import Store, now_rfc3339, process_start_time

log = logging.getLogger(__name__)

#: How long `run` waits for the supervisor to report the start.
START_TIMEOUT_SECONDS = 30.0
_SHIM_FILES = ("torchrun", "torchrun.py", "ffmpeg", "python")


def shims_dir(store: Store) -> Path:
    """The shims folder to put on PATH.

    The package's own folder when its scripts are executable; otherwise (an install that lost
    the exec bits) a copy under the state root with the bits set.
    """
    if all(os.access(SHIMS_DIR / f, os.X_OK) for f in ("torchrun", "ffmpeg", "python")):
        return SHIMS_DIR
    target = store.root / "shims"
    target.mkdir(parents=True, exist_ok=True)
    for name in _SHIM_FILES:
        src = SHIMS_DIR / name
        if src.exists():
            tmp = target / f".{name}.{os.getpid()}"
            shutil.copyfile(src, tmp)
            os.chmod(tmp, 0o755)
            os.replace(tmp, target / name)
    return target


def spawn(store: Store, cid: str) -> None:
    """Start the supervisor of `cid` and wait until the container runs (or failed to)."""
    read_fd, write_fd = os.pipe()
    project_root = str(Path(__file__).resolve().parents[2])
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (project_root, env.get("PYTHONPATH")) if p)
    sup_log = open(store.dir(cid) / "supervisor.log", "ab")
    try:
        subprocess.Popen(
            [sys.executable, "-m", "backend.simulator.engine", "--root", str(store.root),
             "_supervise", cid, str(write_fd)],
            stdin=subprocess.DEVNULL,
            stdout=sup_log,
            stderr=sup_log,
            pass_fds=(write_fd,),
            start_new_session=True,
            cwd="/",
            env=env,
        )
    finally:
        os.close(write_fd)
        sup_log.close()
    message = _read_report(read_fd)
    if message.startswith("ok"):
        return
    if message.startswith("err "):
        code, _, text = message[4:].partition(" ")
        raise CliError(text, int(code))
    raise CliError(
        f"Error response from daemon: cosmos-sim supervisor for {cid[:12]} did not start "
        f"(see {store.dir(cid) / 'supervisor.log'})",
        125,
    )


def _read_report(fd: int) -> str:
    """Read the supervisor's one-line report (EOF without a report means it died)."""
    chunks: list[bytes] = []
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    try:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            ready, _, _ = select.select([fd], [], [], remaining)
            if not ready:
                break
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(fd)
    return b"".join(chunks).decode("utf-8", "replace")


def supervise(store: Store, cid: str, notify_fd: int) -> int:
    """Body of the hidden `_supervise` verb; returns the supervisor's own exit status."""
    for sig in (signal.SIGHUP, signal.SIGINT, signal.SIGPIPE):
        signal.signal(sig, signal.SIG_IGN)
    config = store.config(cid)
    state = store.raw_state(cid)
    if config is None or state is None:
        _report(notify_fd, "err 125 Error response from daemon: container vanished before start")
        return 1
    state["SupervisorPid"] = os.getpid()
    state["SupervisorStart"] = process_start_time(os.getpid())
    log_fd = os.open(store.log_path(cid), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    argv = config["Argv"]
    try:
        child = subprocess.Popen(
            argv,
            cwd=config["WorkingDir"],
            env=dict(item.split("=", 1) for item in config["Env"]),
            stdin=subprocess.DEVNULL,
            stdout=log_fd,
            stderr=log_fd,
            start_new_session=True,
        )
    except OSError as exc:
        code, text = _exec_error(argv[0], exc)
        state.update(ExitCode=code, Error=text)
        store.write_state(cid, state)
        _report(notify_fd, f"err {code} Error response from daemon: {text}")
        if config["HostConfig"].get("AutoRemove"):
            store.remove(cid)
        return 0
    finally:
        os.close(log_fd)
    state.update(
        Status="running",
        Running=True,
        Pid=child.pid,
        PidStart=process_start_time(child.pid),
        StartedAt=now_rfc3339(),
    )
    store.write_state(cid, state)
    _report(notify_fd, "ok")
    log.info("container %s started pid %d", cid[:12], child.pid)
    returncode = child.wait()
    finished = now_rfc3339()
    try:
        os.killpg(child.pid, signal.SIGKILL)  # docker kills the rest when PID 1 exits
    except (ProcessLookupError, PermissionError):
        pass
    exit_code = returncode if returncode >= 0 else 128 - returncode
    state.update(Status="exited", Running=False, Pid=0, ExitCode=exit_code, FinishedAt=finished)
    store.write_state(cid, state)
    log.info("container %s exited with %d", cid[:12], exit_code)
    if config["HostConfig"].get("AutoRemove"):
        store.remove(cid)
    return 0


def _exec_error(program: str, exc: OSError) -> tuple[int, str]:
    """Docker's message and exit code when the container command cannot start."""
    prefix = (
        "failed to create task for container: failed to create shim task: OCI runtime create "
        "failed: runc create failed: unable to start container process: "
    )
    if isinstance(exc, FileNotFoundError) and exc.filename not in (None, program):
        return 127, prefix + f"chdir to cwd (\"{exc.filename}\") set in config.json failed: "
    if isinstance(exc, FileNotFoundError):
        where = "no such file or directory" if "/" in program else "executable file not found in $PATH"
        return 127, prefix + f'exec: "{program}": {where}: unknown'
    return 126, prefix + f'exec: "{program}": permission denied: unknown'


def _report(fd: int, message: str) -> None:
    try:
        os.write(fd, message.encode("utf-8"))
    except OSError:
        pass
    finally:
        try:
            os.close(fd)
        except OSError:
            pass
