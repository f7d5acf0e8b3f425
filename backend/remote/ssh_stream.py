"""A Stream (backend/remote/stream.py) over one exec channel of an SshShell's connection."""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

from backend.remote.errors import CommandResult
from backend.remote.ssh_channel import CHUNK, append_line, pump, send_signal
from backend.remote.stream import QueuedStream

if TYPE_CHECKING:
    from backend.remote.ssh import SshShell


class ChannelStream(QueuedStream):
    """`argv` run on the box; stdout as it arrives. close() sends TERM (OpenSSH signals the
    command's process group) and closes the channel."""

    def __init__(self, shell: "SshShell", argv: Sequence[str]) -> None:
        super().__init__(str(argv[0]))
        self._shell = shell
        self._args, self._chan, _ = shell._start(argv, None)
        self._begin()

    def _pump(self) -> str | None:
        err = bytearray()
        try:
            for kind, data in pump(self._chan, None):
                if kind == "out":
                    self._queue.put(data)
                else:
                    err.extend(data)
                    del err[:-CHUNK]
            code, note = self._shell._exit_code(self._chan, self._args)
            append_line(err, note)
        finally:
            self._shell._release(self._chan)
        if code != 0 and not self._closed.is_set():
            try:
                CommandResult(self._args, code, b"", bytes(err)).check(
                    f"`{self._args[0]}` on {self._shell.name}")
            except Exception as exc:
                return str(exc)
        return None

    def _stop(self) -> None:
        send_signal(self._chan, "TERM")
        try:
            self._chan.close()
        except Exception:
            pass
