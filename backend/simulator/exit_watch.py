"""Waking a waiter when a container's state changes or its processes exit, instead of polling.

Why: `docker wait` runs for as long as the container (hours); the executor learns of the exit
from it. Polling the state file every 20 ms for hours costs a JSON parse and /proc reads 50
times a second per waiter and still answers up to 20 ms late (more on a loaded machine).
Two kernel events make the wait free while nothing happens and immediate when something does:

  * inotify on the container's folder: the supervisor records every state change by renaming
    a new state.json into place (IN_MOVED_TO), and removal renames the folder away;
  * pidfds (Linux >= 5.3) of the container process and its supervisor, readable once the
    process exits: if the supervisor is killed nobody writes the state, and state.py infers
    it from the processes, so their deaths must wake us too.

The state is re-read after every wake-up (and once a second as a safety net). Without inotify
(another OS, a file system that does not report changes) the waiter polls every
`poll_seconds`, as before.
"""

from __future__ import annotations

import ctypes
import logging
import os
import select
import time
from pathlib import Path
from types import TracebackType
from typing import Any

from .state import is_alive

log = logging.getLogger(__name__)

#: With the events in place, the state is still re-read this often (a safety net only).
IDLE_RECHECK_SECONDS = 1.0
_IN_MOVED_TO = 0x80
_IN_DELETE_SELF = 0x400
_IN_MOVE_SELF = 0x800
_WATCHED = (("SupervisorPid", "SupervisorStart"), ("Pid", "PidStart"))


def _inotify(folder: Path) -> int | None:
    """An inotify descriptor reporting renames into `folder` and its own removal, or None."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fd = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
    except (OSError, AttributeError):
        return None
    if fd < 0:
        return None
    mask = _IN_MOVED_TO | _IN_DELETE_SELF | _IN_MOVE_SELF
    if libc.inotify_add_watch(fd, os.fsencode(folder), mask) < 0:
        os.close(fd)  # the folder is gone (removed already): polling finds the tombstone
        return None
    return fd


def _pidfd(pid: int) -> int | None:
    opener = getattr(os, "pidfd_open", None)
    if opener is None:
        return None
    try:
        return opener(pid)
    except OSError:  # gone already (ESRCH), or pidfds unsupported here
        return None


class ExitWatch:
    """Events of one container; `pause()` sleeps until one arrives (or a limit)."""

    def __init__(self, folder: Path, poll_seconds: float) -> None:
        """Set up before the first read of the state, so no change can slip in between."""
        self._poll_seconds = poll_seconds
        self._poller = select.poll()
        self._inotify = _inotify(folder)
        self._pidfds: set[int] = set()
        self._seen: set[int] = set()  # pids already looked at (watched, gone or unwatchable)
        if self._inotify is not None:
            self._poller.register(self._inotify, select.POLLIN)

    @property
    def event_driven(self) -> bool:
        return self._inotify is not None

    def follow(self, state: dict[str, Any]) -> None:
        """Watch the processes `state` names that are not watched yet."""
        if self._inotify is None:
            return  # polling sees everything anyway
        for pid_key, start_key in _WATCHED:
            pid = state.get(pid_key)
            if not pid or pid in self._seen:
                continue
            self._seen.add(pid)
            fd = _pidfd(int(pid))
            if fd is None:
                continue
            # after opening, the start time proves the fd is ours and not a recycled pid's
            if not is_alive(int(pid), state.get(start_key)):
                os.close(fd)  # gone already: its state write (or state.py's inference) is next
                continue
            self._poller.register(fd, select.POLLIN)
            self._pidfds.add(fd)

    def pause(self, limit: float | None) -> None:
        """Return when the state may have changed, or after `limit` seconds."""
        wait = IDLE_RECHECK_SECONDS if self._inotify is not None else self._poll_seconds
        if limit is not None:
            wait = max(0.0, min(wait, limit))
        if self._inotify is None:
            time.sleep(wait)
            return
        for fd, _events in self._poller.poll(int(wait * 1000) + 1):
            if fd == self._inotify:
                self._drain()
            else:
                self._poller.unregister(fd)  # an exited process stays readable forever
                self._pidfds.discard(fd)
                os.close(fd)

    def _drain(self) -> None:
        """Read the queued events (which ones does not matter: the state is re-read)."""
        assert self._inotify is not None
        try:
            while os.read(self._inotify, 4096):
                pass
        except BlockingIOError:
            pass

    def close(self) -> None:
        for fd in self._pidfds:
            os.close(fd)
        self._pidfds.clear()
        if self._inotify is not None:
            os.close(self._inotify)
            self._inotify = None

    def __enter__(self) -> "ExitWatch":
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
