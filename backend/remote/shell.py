"""The shell interface: how the executor touches a GPU box, whatever the box is.

Everything above this layer (staging, docker, following, collecting) is written once against
`Shell`; a local box and an SSH box differ only here. Commands are argument lists, never
strings for a shell to parse: user text cannot become code on the way to the box.

Long-lived commands (a log stream, `docker wait` on a run that takes hours) are marked as such:
`stream()` always is, `run(..., long_lived=True)` on request. Over SSH they travel on separate
connections, so they can never use up the sessions that short commands and file transfers need.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Callable, Generator, Protocol, Sequence

from backend.remote import local_process
from backend.remote.command_stream import CommandStream
from backend.remote.errors import CommandResult, RemoteError  # noqa: F401 (their home here)
from backend.remote.stream import Stream, open_stream

log = logging.getLogger(__name__)


class Shell(Protocol):
    """What a box offers: run a command, and read/write files by path."""

    name: str

    def run(self, argv: Sequence[str], *, input: bytes | None = None,
            timeout: float | None = 120, long_lived: bool = False) -> CommandResult:
        """Run one command; a timeout kills it and returns exit code 124.

        long_lived: the command may block for a long time (`docker wait NAME`): it must not
            hold one of the sessions short commands share.
        """
        ...

    def stream(self, argv: Sequence[str], *, timeout: float | None = None) -> CommandStream:
        """Yield the command's stdout chunks as they arrive (no line buffering, no polling).

        Closing the stream (from any thread) sends TERM to the command; a non-zero exit
        raises RemoteError with the last stderr line; the timeout raises RemoteError too.
        """
        ...

    def read_from(self, path: str, offset: int, limit: int = 1 << 20) -> bytes:
        """Bytes of `path` from `offset` (empty if the file does not exist yet)."""
        ...

    def write_file(self, path: str, data: bytes, mode: int = 0o644) -> None: ...

    def put_file(self, local: Path, remote: str,
                 progress: Callable[[int, int], None] | None = None,
                 resume: bool = False) -> None:
        """Copy a local file to the box; `progress(sent, total)` is called as bytes go.

        `resume` continues an interrupted upload of the same content to the same name.
        """
        ...

    def get_file(self, remote: str, local: Path) -> None: ...

    def exists(self, path: str) -> bool: ...

    def open_stream(self, argv: Sequence[str]) -> Stream:
        """`stream(argv)` read with a timeout and woken from any thread (remote/stream.py)."""
        ...

    def close(self) -> None: ...


class LocalShell:
    """The box is this machine (the built-in simulator box, or a workstation with a GPU)."""

    def __init__(self, name: str = "local") -> None:
        self.name = name
        # Commands installed next to our interpreter (cosmos-sim in the venv) must resolve even
        # when the venv is not activated, as with `python launch.py`.
        bin_dir = str(Path(sys.executable).parent)
        path = os.environ.get("PATH", "")
        self._env = dict(os.environ, PATH=bin_dir + os.pathsep + path if path else bin_dir)
        from backend.paths import PROJECT_ROOT

        project_root = str(PROJECT_ROOT)
        pythonpath = os.environ.get("PYTHONPATH")
        self._env["PYTHONPATH"] = (project_root + os.pathsep + pythonpath if pythonpath
                                   else project_root)

    def _resolve(self, argv: tuple[str, ...]) -> tuple[str, ...]:
        """Run the built-in simulator as a module when its script is not installed."""
        if argv and argv[0] == "cosmos-sim" and not shutil.which("cosmos-sim",
                                                                 path=self._env["PATH"]):
            return (sys.executable, "-m", "backend.simulator.engine") + argv[1:]
        return argv

    def run(self, argv: Sequence[str], *, input: bytes | None = None,
            timeout: float | None = 120, long_lived: bool = False) -> CommandResult:
        """Run one command; `long_lived` changes nothing here (no sessions to run out of)."""
        argv = self._resolve(tuple(str(a) for a in argv))
        try:
            proc = subprocess.run(argv, input=input, capture_output=True, timeout=timeout,
                                  env=self._env, stdin=None if input is not None
                                  else subprocess.DEVNULL)
        except FileNotFoundError:
            return CommandResult(argv, 127, b"", f"{argv[0]}: command not found".encode())
        except subprocess.TimeoutExpired:
            return CommandResult(argv, 124, b"", f"{argv[0]}: timed out after {timeout}s".encode())
        return CommandResult(argv, proc.returncode, proc.stdout, proc.stderr)

    def stream(self, argv: Sequence[str], *, timeout: float | None = None) -> CommandStream:
        """See Shell.stream. The command gets its own process group: an early close TERMs the
        whole group, KILLs it if it has not ended within ~1 s, and reaps it."""
        args = self._resolve(tuple(str(a) for a in argv))
        if not args:
            raise ValueError("empty command")
        return CommandStream(lambda control: self._stream_body(args, timeout, control))

    def _stream_body(self, args: tuple[str, ...], timeout: float | None,
                     control: CommandStream) -> Generator[bytes, None, None]:
        what = f"`{args[0]}` on {self.name}"
        try:
            proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, env=self._env,
                                    start_new_session=True)
        except FileNotFoundError:
            raise RemoteError(f"{what} failed (exit 127): {args[0]}: command not found") from None
        control.started(local_process.interrupter(proc))
        err = bytearray()
        deadline = None if timeout is None else time.monotonic() + timeout
        finished = False
        try:
            try:
                for kind, data in local_process.pump_pipes(proc, deadline):
                    if kind == "out":
                        yield data
                    else:
                        err.extend(data)
                        del err[:-local_process.CHUNK]
            except TimeoutError:
                raise RemoteError(f"{what} timed out after {timeout}s") from None
            finished = True
            if control.stopping:  # ended by close() from another thread: no error, no leftovers
                local_process.stop_group(proc)
                return
            code = proc.wait()
            if code < 0:
                err.extend(f"\n{args[0]}: killed by signal {-code}".encode())
                code = 128 - code
            if not control.stopping:
                CommandResult(args, code, b"", bytes(err)).check(what)
        finally:
            if not finished:
                local_process.stop_group(proc)
            for pipe in (proc.stdout, proc.stderr):
                if pipe is not None:
                    pipe.close()

    def read_from(self, path: str, offset: int, limit: int = 1 << 20) -> bytes:
        try:
            with open(path, "rb") as fh:
                fh.seek(offset)
                return fh.read(limit)
        except FileNotFoundError:
            return b""

    def write_file(self, path: str, data: bytes, mode: int = 0o644) -> None:
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f"{target.name}.part-{os.getpid()}-{threading.get_ident()}")
        tmp.write_bytes(data)
        os.chmod(tmp, mode)
        os.replace(tmp, target)

    def put_file(self, local: Path, remote: str,
                 progress: Callable[[int, int], None] | None = None,
                 resume: bool = False) -> None:
        # a local copy is never interrupted by a network: `resume` has nothing to continue
        Path(remote).parent.mkdir(parents=True, exist_ok=True)
        if progress is None:
            shutil.copyfile(local, remote)
            return
        total = os.path.getsize(local)
        sent = 0
        with open(local, "rb") as src, open(remote, "wb") as dst:
            for block in iter(lambda: src.read(1 << 20), b""):
                dst.write(block)
                sent += len(block)
                progress(sent, total)

    def get_file(self, remote: str, local: Path) -> None:
        local.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(remote, local)

    def exists(self, path: str) -> bool:
        return os.path.lexists(path)

    def open_stream(self, argv: Sequence[str]) -> Stream:
        return open_stream(self, argv)

    def close(self) -> None:
        pass
