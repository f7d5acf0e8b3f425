"""What a box answers: a command's result, and the error that means "the box could not"."""

from __future__ import annotations

from dataclasses import dataclass


class RemoteError(RuntimeError):
    """A box could not do what we asked; the message is meant for a person."""


class ConnectionLost(RemoteError):
    """The connection to the box dropped while a command or transfer was under way: the box
    may or may not have done it. Steps that are safe to repeat are retried after this."""


def is_transient(exc: BaseException) -> bool:
    """True when trying again later can help: the connection dropped, or a box that answered
    before cannot be reached for a reason that may pass. A box that never answered (a wrong
    hostname, a refused key) is a configuration problem: that fails at once, with its cause."""
    if isinstance(exc, ConnectionLost):
        return True
    return (isinstance(exc, RemoteError) and bool(getattr(exc, "retryable", False))
            and bool(getattr(exc, "dropped", False)))


@dataclass(frozen=True)
class CommandResult:
    argv: tuple[str, ...]
    exit_code: int
    stdout: bytes
    stderr: bytes

    @property
    def out(self) -> str:
        return self.stdout.decode("utf-8", "replace")

    @property
    def err(self) -> str:
        return self.stderr.decode("utf-8", "replace")

    @property
    def ok(self) -> bool:
        return self.exit_code == 0

    def check(self, what: str) -> "CommandResult":
        """Raise a RemoteError that says what failed and why, unless the command succeeded."""
        if self.exit_code != 0:
            detail = (self.err.strip() or self.out.strip() or "no output").splitlines()[-1]
            raise RemoteError(f"{what} failed (exit {self.exit_code}): {detail}")
        return self
