"""What a box answers: a command's result, and the error that means "the box could not"."""

from __future__ import annotations

from dataclasses import dataclass


class RemoteError(RuntimeError):
    """A box could not do what we asked; the message is meant for a person."""


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
