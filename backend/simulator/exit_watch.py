"""Waking a waiter the moment a container's processes exit, instead of polling its state.

Why: `docker wait` runs for as long as the container (hours); the executor learns of the exit
from it. Polling the state file every 20 ms for hours costs a JSON parse and /proc reads 50
times a second per waiter, and still answers up to 20 ms late. A pidfd (Linux >= 5.3) turns
readable when its process exits, with no cost before that. The supervisor records the exit a
millisecond or two after the container process ends (it is the parent, blocked in waitpid),
so after a wake-up the state file is re-read every SETTLE_SECONDS for a short while.

Both the container process and its supervisor are watched: if the supervisor is killed, the
state is inferred from the container (state.py), and the container's own exit still wakes us.
Without pidfds (another OS, an old kernel) or before the container has a pid, the caller falls
back to polling every `poll_seconds`.
"""

from __future__ import annotations

import os
import select
import time
from types import TracebackType
from typing import Any

from .state import is_alive

#: After a watched process exited: re-read the state this often, for at most SETTLE_WINDOW.
SETTLE_SECONDS = 0.002
SETTLE_WINDOW = 0.5
#: With every process watched, the state is still re-read this often (a safety net only).
IDLE_RECHECK_SECONDS = 1.0
_WATCHED = (("SupervisorPid", "SupervisorStart"), ("Pid", "PidStart"))


def _pidfd(pid: int) -> int | None:
    opener = getattr(os, "pidfd_open", None)
    if opener is None:
        return None
    try:
        return opener(pid)
    except OSError:  # gone already (ESRCH), or pidfds unsupported here
        return None


class ExitWatch:
    """pidfds of one container's processes; `pause()` sleeps until one exits (or a limit)."""

    def __init__(self, poll_seconds: float) -> None:
        self._poll_seconds = poll_seconds
        self._poller = select.poll()
        self._fds: set[int] = set()
        self._seen: set[int] = set()  # pids already looked at (watched, gone or unwatchable)
        self._container_watched = False
        self._fired_at: float | None = None

    def follow(self, state: dict[str, Any]) -> None:
        """Watch the processes `state` names that are not watched yet."""
        for pid_key, start_key in _WATCHED:
            pid = state.get(pid_key)
            if not pid or pid in self._seen:
                continue
            self._seen.add(pid)
            fd = _pidfd(int(pid))
            # after opening, the start time proves the fd is ours and not a recycled pid's
            if fd is None or not is_alive(int(pid), state.get(start_key)):
                if fd is not None:
                    os.close(fd)
                    self._fired_at = time.monotonic()  # gone: the state is about to change
                continue
            self._poller.register(fd, select.POLLIN)
            self._fds.add(fd)
            if pid_key == "Pid":
                self._container_watched = True

    def pause(self, limit: float | None) -> None:
        """Return when a watched process exits, the state may have changed, or at `limit` s."""
        now = time.monotonic()
        if self._fired_at is not None and now - self._fired_at < SETTLE_WINDOW:
            wait = SETTLE_SECONDS  # an exit was seen: the supervisor is writing the state
        elif self._container_watched and self._fds:
            wait = IDLE_RECHECK_SECONDS  # the exit itself wakes us
        else:
            wait = self._poll_seconds  # no container pid yet, or no pidfds: poll
        if limit is not None:
            wait = max(0.0, min(wait, limit))
        if not self._fds or wait == SETTLE_SECONDS:
            time.sleep(wait)
            return
        for fd, _events in self._poller.poll(int(wait * 1000) + 1):
            self._poller.unregister(fd)  # an exited process stays readable forever
            self._fds.discard(fd)
            os.close(fd)
            self._fired_at = time.monotonic()

    def close(self) -> None:
        for fd in self._fds:
            os.close(fd)
        self._fds.clear()

    def __enter__(self) -> "ExitWatch":
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
