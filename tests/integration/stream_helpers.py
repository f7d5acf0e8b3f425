"""Reading a stream in a thread, as the executor will, so a test can wait on what arrived.

A test must never block in `next()` itself: a stream that buffers or stalls would then hang
the test instead of failing it. The Collector's thread does the reading; the test waits on its
condition with a timeout, and stops the stream with `close()` from its own thread (which is
how the executor will stop a log stream when the container exits).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from typing import Iterator

#: Appends `count` records to argv[1]: lines with a NUL and a non-UTF-8 byte, and `\r`-only
#: progress updates, with a short pause between writes (it is the workload, not a wait).
WRITER = r"""
import os, sys, time
path, count = sys.argv[1], int(sys.argv[2])
pause = float(sys.argv[3]) if len(sys.argv) > 3 else 0.002
fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
for i in range(count):
    os.write(fd, (b"step %d of %d\r" % (i, count)) if i % 3 else (b"line %05d \xff\x00 ok\n" % i))
    time.sleep(pause)
os.close(fd)
"""


def start_writer(path: str, count: int, pause: float = 0.002) -> subprocess.Popen[bytes]:
    """Another process appending to `path` (created if missing)."""
    return subprocess.Popen([sys.executable, "-c", WRITER, path, str(count), str(pause)])


class Collector:
    """Reads a stream in a daemon thread; `data`, `error` and `done` say what happened."""

    def __init__(self, stream: Iterator[bytes]) -> None:
        self.stream = stream
        self.chunks: list[tuple[float, bytes]] = []  # (arrival time.monotonic(), chunk)
        self.error: BaseException | None = None
        self.done = False
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._read, daemon=True, name="collector")
        self._thread.start()

    def _read(self) -> None:
        try:
            for chunk in self.stream:
                with self._cond:
                    self.chunks.append((time.monotonic(), chunk))
                    self._cond.notify_all()
        except BaseException as exc:  # noqa: BLE001 - the test looks at it
            self.error = exc
        finally:
            with self._cond:
                self.done = True
                self._cond.notify_all()

    @property
    def data(self) -> bytes:
        with self._cond:
            return b"".join(chunk for _, chunk in self.chunks)

    def wait_bytes(self, count: int, timeout: float = 15.0) -> bytes:
        """The data once at least `count` bytes arrived (or the stream ended)."""
        with self._cond:
            self._cond.wait_for(lambda: self.done or sum(len(c) for _, c in self.chunks)
                                >= count, timeout)
        data = self.data
        assert len(data) >= count or self.done, \
            f"only {len(data)} of {count} bytes arrived in {timeout}s"
        return data

    def wait_for(self, tail: bytes, timeout: float = 15.0) -> float:
        """When the data first ended with `tail` (arrival time of the chunk that did it)."""
        with self._cond:
            ok = self._cond.wait_for(lambda: self.done or self._ends_with(tail), timeout)
            assert ok and self._ends_with(tail), \
                f"{tail!r} did not arrive within {timeout}s (error: {self.error!r})"
            return self.chunks[-1][0]

    def _ends_with(self, tail: bytes) -> bool:
        return b"".join(chunk for _, chunk in self.chunks).endswith(tail)

    def join(self, timeout: float = 15.0) -> None:
        """Wait for the stream to end by itself (an error, or the command's exit)."""
        self._thread.join(timeout)
        assert not self._thread.is_alive(), f"the stream did not end within {timeout}s"

    def stop(self, timeout: float = 5.0) -> None:
        """Close the stream from this thread while the reader is blocked; it must end."""
        self.stream.close()  # type: ignore[attr-defined]
        self.join(timeout)


def gone_or_zombie(pid: int) -> bool:
    """The process has exited (a zombie waiting for PID 1 to reap it holds nothing)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            raw = fh.read()
    except OSError:
        return True
    return raw[raw.rindex(b")") + 2:].split()[0] in (b"Z", b"X")


def reaped(pid: int) -> bool:
    """Not even a zombie is left: its parent collected the exit status."""
    return not os.path.exists(f"/proc/{pid}")
