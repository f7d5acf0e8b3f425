"""Reading a local child's stdout and stderr as they come, and stopping the child for good.

Split from shell.py because these are the parts that touch the OS directly: a poll on both pipes
(so neither can fill up and stall the other, and nothing sleeps between reads), a pidfd that
says "the command exited" without polling, and process-group signals, so that a shell
pipeline's children die with it. The child must be started with `start_new_session=True`, so
its pid is also its process group id and nothing outside it is ever signalled.
"""

from __future__ import annotations

import logging
import os
import select
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator

log = logging.getLogger(__name__)

CHUNK = 1 << 16
#: After the command exited, output still arriving from the pipes is awaited this long; a
#: background child that keeps stdout open must not hang the caller (as in ssh_channel).
EOF_GRACE = 1.0
#: A stopped command that has not ended on TERM within this long gets KILL.
KILL_GRACE = 1.0


def _pidfd(pid: int) -> int | None:
    """A descriptor that turns readable when `pid` exits (Linux >= 5.3), else None."""
    opener = getattr(os, "pidfd_open", None)
    if opener is None:
        return None
    try:
        return opener(pid)
    except OSError:
        return None


def pump_pipes(proc: subprocess.Popen[bytes], deadline: float | None
               ) -> Iterator[tuple[str, bytes]]:
    """Yield ('out' | 'err', bytes) as they arrive until both pipes close (or the command
    exited and EOF_GRACE passed). Raises TimeoutError at the deadline."""
    assert proc.stdout is not None and proc.stderr is not None
    streams = {proc.stdout.fileno(): "out", proc.stderr.fileno(): "err"}
    poller = select.poll()
    for fd in streams:
        poller.register(fd, select.POLLIN)
    pidfd = _pidfd(proc.pid)
    if pidfd is not None:
        poller.register(pidfd, select.POLLIN)
    exited_at: float | None = None
    try:
        while streams:
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                raise TimeoutError
            if pidfd is None and exited_at is None and proc.poll() is not None:
                exited_at = now
            limits = [] if deadline is None else [deadline - now]
            if exited_at is not None:
                limits.append(exited_at + EOF_GRACE - now)
            elif pidfd is None:
                limits.append(EOF_GRACE)  # no pidfd: look at the process once a second
            wait_ms = None if not limits else max(0, int(min(limits) * 1000) + 1)
            got = False
            for fd, _events in poller.poll(wait_ms):
                if fd == pidfd:
                    poller.unregister(pidfd)  # stays readable forever once exited
                    exited_at = time.monotonic()
                    continue
                data = os.read(fd, CHUNK)
                if not data:
                    poller.unregister(fd)
                    del streams[fd]
                    continue
                got = True
                yield streams[fd], data
            if (exited_at is not None and not got
                    and time.monotonic() - exited_at >= EOF_GRACE):
                return  # exited; a background child still holds a pipe open
    finally:
        if pidfd is not None:
            os.close(pidfd)


def signal_group(proc: subprocess.Popen[bytes], sig: int) -> None:
    """Send `sig` to the command's process group (best effort: it may be gone already)."""
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _exited_within(proc: subprocess.Popen[bytes], timeout: float) -> bool:
    """Wait up to `timeout` for the command to exit WITHOUT reaping it (a zombie keeps its pid,
    so signalling its group afterwards cannot hit a recycled pid). Falls back to reaping."""
    pidfd = _pidfd(proc.pid)
    if pidfd is None:
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return False
        return True
    try:
        ready, _, _ = select.select([pidfd], [], [], timeout)
        return bool(ready)
    finally:
        os.close(pidfd)


def _name(proc: subprocess.Popen[bytes]) -> str:
    args = proc.args
    return str(args[0]) if isinstance(args, (list, tuple)) and args else str(args)


def stop_group(proc: subprocess.Popen[bytes], grace: float = KILL_GRACE) -> None:
    """TERM the group, KILL it if the command has not ended after `grace`, reap the command.

    Leftover members of the group (a child that ignored TERM) are killed too: stopping the
    command means all of it, as docker tears a container down when its PID 1 exits.
    """
    if proc.returncode is not None:
        return  # reaped already: its pid may belong to someone else by now
    signal_group(proc, signal.SIGTERM)
    if not _exited_within(proc, grace):
        log.info("`%s` (pid %d) ignored TERM for %gs; killing it", _name(proc), proc.pid,
                 grace)
    if proc.returncode is None:  # not reaped: the pid (and so the group id) is still ours
        signal_group(proc, signal.SIGKILL)  # the leader if still running, and any leftovers
    proc.wait()


def interrupter(proc: subprocess.Popen[bytes], grace: float = KILL_GRACE
                ) -> Callable[[], None]:
    """A callable for another thread: TERM now, KILL after `grace` unless the command ended.

    The reader thread reaps the command; the KILL is sent only while it is unreaped, so a
    recycled pid is never signalled.
    """
    def kill_if_running() -> None:
        if proc.returncode is None and proc.poll() is None:
            signal_group(proc, signal.SIGKILL)

    def interrupt() -> None:
        if proc.returncode is None:
            signal_group(proc, signal.SIGTERM)
            timer = threading.Timer(grace, kill_if_running)
            timer.daemon = True
            timer.start()

    return interrupt
