"""A long-lived command whose output is read as it comes and which any thread may stop.

Why not a generator: a follower reads a log stream (`tail -F`) in one thread while another
thread learns that the container exited (`docker wait`) and must stop the read at once. A
generator cannot be closed from another thread while it is blocked in `next()`, so a Stream is
an object: `read(timeout)` blocks for the next bytes, `wake()` makes a blocked read return
early, `close()` stops the command; all three are safe from any thread.
"""

from __future__ import annotations

import logging
import os
import queue
import signal
import subprocess
import threading
from typing import Protocol, Sequence

from backend.remote.errors import RemoteError

log = logging.getLogger(__name__)

#: Read size per system call.
CHUNK = 1 << 16
_WAKE = b""


class Stream(Protocol):
    def read(self, timeout: float | None) -> bytes | None:
        """The next bytes of stdout; b"" if none came within `timeout` (or after `wake()`);
        None once the command has ended and everything was read. A command that failed
        (non-zero exit, a dropped connection) raises RemoteError here, after its output."""
        ...

    def wake(self) -> None: ...

    def close(self) -> None: ...


class QueuedStream:
    """The common half: a reader thread puts chunks in a queue; `read` takes them.

    Subclasses start the command and implement `_pump()` (put chunks, return the exit problem
    or None) and `_stop()` (end the command so `_pump` returns).
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self._queue: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        self._error: str | None = None
        self._ended = False
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name=f"stream-{name}")

    def _begin(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        try:
            self._error = self._pump()
        except Exception as exc:  # the connection failed: the reader sees it as an error
            self._error = str(exc) or type(exc).__name__
        finally:
            self._queue.put(None)

    def _pump(self) -> str | None:
        raise NotImplementedError

    def _stop(self) -> None:
        raise NotImplementedError

    def read(self, timeout: float | None) -> bytes | None:
        if self._ended:
            return None
        try:
            item = self._queue.get(timeout=timeout)
        except queue.Empty:
            return b""
        if item is None:
            self._ended = True
            if self._error and not self._closed.is_set():
                raise RemoteError(self._error)
            return None
        return item

    def wake(self) -> None:
        self._queue.put(_WAKE)

    def close(self) -> None:
        if self._closed.is_set():
            return
        self._closed.set()
        try:
            self._stop()
        except Exception:  # already gone
            log.debug("stopping stream %s", self.name, exc_info=True)
        self.wake()


class LocalStream(QueuedStream):
    """A command on this machine (its own process group, so close() stops all of it)."""

    def __init__(self, argv: Sequence[str], env: dict[str, str] | None = None) -> None:
        super().__init__(os.path.basename(str(argv[0])))
        try:
            self._proc = subprocess.Popen(list(argv), stdin=subprocess.DEVNULL,
                                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                          env=env, start_new_session=True)
        except FileNotFoundError:
            raise RemoteError(f"{argv[0]}: command not found") from None
        self._stderr = bytearray()
        # stderr is drained by its own thread: a command that writes much of it while its
        # stdout is open must not block on a full pipe
        self._err_thread = threading.Thread(target=self._drain_stderr, daemon=True,
                                            name=f"stream-err-{self.name}")
        self._err_thread.start()
        self._begin()

    def _drain_stderr(self) -> None:
        assert self._proc.stderr is not None
        for chunk in iter(lambda: self._proc.stderr.read1(CHUNK), b""):
            self._stderr.extend(chunk)
            del self._stderr[:-CHUNK]

    def _pump(self) -> str | None:
        out = self._proc.stdout
        assert out is not None
        fd = out.fileno()
        while True:
            data = os.read(fd, CHUNK)
            if not data:
                break
            self._queue.put(data)
        code = self._proc.wait()
        self._err_thread.join(timeout=1.0)
        err = bytes(self._stderr)
        if code != 0 and not self._closed.is_set():
            last = (err.decode("utf-8", "replace").strip().splitlines() or [f"exit {code}"])[-1]
            return f"`{self.name}` failed (exit {code}): {last}"
        return None

    def _stop(self) -> None:
        if self._proc.poll() is not None:
            return
        try:
            os.killpg(self._proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            self._proc.wait(timeout=1.0)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(self._proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self._proc.wait(timeout=5.0)
