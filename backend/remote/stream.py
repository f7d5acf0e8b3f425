"""A long-lived command read with a timeout, which any thread can wake or stop.

A shell's `stream(argv)` (a CommandStream: chunks as they arrive, closable from any thread)
is what reads the box; this wraps one for a follower that must also react to other things
while it waits: `read(timeout)` returns b"" when nothing came in time or when another thread
called `wake()` (the job ended, a kill was asked), so the follower never blocks on the stream
alone. A reader thread pumps the chunks into a queue; `close()` stops the command.
"""

from __future__ import annotations

import logging
import queue
import threading
from typing import Any, Protocol, Sequence

from backend.remote.errors import RemoteError

log = logging.getLogger(__name__)

_WAKE = b""


class Stream(Protocol):
    def read(self, timeout: float | None) -> bytes | None:
        """The next bytes of stdout; b"" if none came within `timeout` (or after `wake()`);
        None once the command has ended and everything was read. A command that failed
        (non-zero exit, a dropped connection) raises RemoteError here, after its output."""
        ...

    def wake(self) -> None: ...

    def close(self) -> None: ...


class PumpedStream:
    """A CommandStream read by a thread of its own into a queue."""

    def __init__(self, chunks: Any, name: str) -> None:
        self.name = name
        self._chunks = chunks
        self._queue: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        self._error: str | None = None
        self._ended = False
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._pump, daemon=True, name=f"stream-{name}")
        self._thread.start()

    def _pump(self) -> None:
        try:
            for chunk in self._chunks:
                if chunk:
                    self._queue.put(chunk)
        except RemoteError as exc:
            self._error = str(exc)
        except Exception as exc:  # the connection failed in a way RemoteError did not cover
            self._error = f"{type(exc).__name__}: {exc}"
        finally:
            self._queue.put(None)

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
            self._chunks.close()  # thread-safe: TERM (then KILL) to the command
        except Exception:  # already gone
            log.debug("stopping stream %s", self.name, exc_info=True)
        self.wake()


def open_stream(shell: Any, argv: Sequence[str]) -> PumpedStream:
    """`shell.stream(argv)` as a Stream (long-lived: over SSH it rides a stream lane)."""
    return PumpedStream(shell.stream(argv), str(argv[0]) if argv else "stream")
