"""A running command's stdout as an iterator of chunks that any thread can stop.

Why not a bare generator: a generator cannot be closed while another thread is blocked in its
`next()` ("generator already executing"). The executor's follower thread sits in `next()` on a
log stream for hours, and the thread that learns of the container's exit (a blocking
`docker wait`) is the one that wants the stream to end. `CommandStream.close()` works from any
thread: when nobody is reading it closes the generator (which stops the command and cleans up),
and when a reader is blocked it interrupts the command (TERM) so the reader's `next()` ends with
StopIteration (a body checks `stopping` before raising: an exit we caused is no error). Used
exactly like a generator otherwise: iterate, `close()`, or `with`.

Nothing runs before the first `next()`: a stream that is never read starts no command.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Generator, Iterator
from types import TracebackType


class CommandStream(Iterator[bytes]):
    """Chunks of one command's stdout; `close()` (from any thread) stops the command.

    body: a generator function taking this object; it yields stdout chunks, calls
        `started(interrupt)` once the command runs, and raises RemoteError on failure unless
        `stopping` is set (then the failure is the interrupt's doing and it just returns).
    """

    def __init__(self, body: Callable[["CommandStream"], Generator[bytes, None, None]]) -> None:
        self.stopping = False  # set by close(): an error from here on is our own doing
        self._interrupt: Callable[[], None] | None = None
        self._reading = threading.Lock()  # held by the thread inside next()
        self._chunks = body(self)

    def started(self, interrupt: Callable[[], None]) -> None:
        """Called by the body once the command runs: how another thread makes it end."""
        self._interrupt = interrupt
        if self.stopping:  # close() came while the command was being started
            interrupt()

    def __iter__(self) -> "CommandStream":
        return self

    def __next__(self) -> bytes:
        with self._reading:
            if self.stopping:
                self._chunks.close()  # the command may have been interrupted: clean up now
                raise StopIteration
            return next(self._chunks)

    def close(self) -> None:
        """Stop the command; safe from any thread and more than once."""
        self.stopping = True
        if self._reading.acquire(blocking=False):
            try:
                self._chunks.close()  # runs the body's cleanup: TERM, reap, free the channel
            finally:
                self._reading.release()
            return
        interrupt = self._interrupt  # a reader is blocked in next(): make the command end
        if interrupt is not None:
            interrupt()

    def __enter__(self) -> "CommandStream":
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
