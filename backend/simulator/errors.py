"""The one error type of the cosmos-sim engine: a message plus docker's exit code.

Docker uses 125 for errors of the CLI/daemon around `run`, 126/127 when the command cannot be
executed, and 1 for most other daemon errors. Raising this from deep inside a verb keeps those
codes in one place (`engine.main` prints the message and exits with the code).
"""

from __future__ import annotations


class CliError(Exception):
    """A user-facing error; `message` goes to stderr verbatim, `code` is the exit status."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


class NoSuchContainer(CliError):
    """A reference matched no container (docker: `No such container: X`, exit 1)."""

    def __init__(self, ref: str) -> None:
        super().__init__(f"Error response from daemon: No such container: {ref}", 1)
        self.ref = ref
