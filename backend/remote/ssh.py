"""The SSH box: the `Shell` interface over ONE main Paramiko connection per host, plus lanes.

Why one connection: earlier tools opened a connection per command (~120 ms each, a host-key
bypass each time) and lost jobs when one blocking SSH command dropped. Here every thread shares
one transport (exec channels run concurrently on it), the connection is kept alive, and when it
drops the next call reconnects with backoff (ssh_connection.py). A command that was already
sent is never re-sent behind the caller's back (it may have run); idempotent file operations
are retried once (ssh_sftp_pool.py).

Long-lived channels (`stream()`, `run(..., long_lived=True)`) do not use the main connection:
they go on "stream lanes", extra connections to the same box opened and closed as needed
(ssh_lanes.py), so hours-long log streams and `docker wait`s can never take the sessions that
short commands and transfers need, nor exceed the server's MaxSessions.

Why TCP_NODELAY: Paramiko does not set it, and Nagle + delayed ACK then cost ~40 ms per
request/response (measured: `true` 48 ms -> 3.7 ms; serial SFTP 1-5 MB/s -> ~50 MB/s).
SFTP transfers keep Paramiko's defaults (pipelined put, prefetching get): bigger windows or
`max_concurrent_prefetch_requests` were measured to be 20x slower.
"""

from __future__ import annotations

import logging
import os
import shlex
import threading
import time
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any, Sequence, TypeVar

import paramiko

from backend.config import HostConfig
from backend.remote import openssh, ssh_files
from backend.remote.command_stream import CommandStream
from backend.remote.errors import ConnectionLost
from backend.remote.shell import CommandResult, RemoteError
from backend.remote.ssh_channel import (
    CHUNK,
    append_line,
    feed_stdin,
    interrupter,
    pump,
    send_signal,
    transport_dead,
)
from backend.remote.ssh_config import SshTarget, resolve_target
from backend.remote.ssh_connect import ConnectError, KnownHosts, open_hop
from backend.remote.ssh_connection import RECONNECT_DELAYS, Connection
from backend.remote.ssh_files import Progress
from backend.remote.ssh_lanes import LANE_IDLE_SECONDS, LANE_SESSIONS, LanePool
from backend.remote.ssh_sftp_pool import SftpPool

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Concurrent channels on the main connection. OpenSSH refuses more than MaxSessions
#: (default 10) and frees a session only after our close reaches it, so stay a little below.
MAX_SESSIONS = 8

#: (args, channel, stdin writer thread, give the channel back)
_Started = tuple[tuple[str, ...], paramiko.Channel, "threading.Thread | None",
                 Callable[[], None]]


class SshShell:
    """A GPU box reached over SSH; thread-safe, one main connection, opened on first use.

    app_known_hosts: the app's own known_hosts file (trusted next to ~/.ssh/known_hosts and
        /etc/ssh/ssh_known_hosts; trust-on-first-use appends here). Pass <data_dir>/known_hosts.
    ssh_config: the ssh config to honour; default $COSMOS_SSH_CONFIG, else ~/.ssh/config.
    user_known_hosts, use_agent, look_for_keys: let tests ignore the user's own ~/.ssh.
    reconnect_delays: backoff after an established connection dropped (a first connect
        fails fast: a box that was never reachable is a configuration problem).
    max_sessions: concurrent channels (commands + SFTP) on the main connection.
    lane_sessions, lane_idle: long-lived channels per stream lane, and how long a lane
        without channels stays open.
    """

    def __init__(self, host: HostConfig, *, app_known_hosts: Path | None,
                 connect_timeout: float = 10,
                 ssh_config: str | Path | None = None,
                 user_known_hosts: Sequence[Path] | None = None, use_agent: bool = True,
                 look_for_keys: bool = True,
                 reconnect_delays: Sequence[float] = RECONNECT_DELAYS,
                 max_sessions: int = MAX_SESSIONS, lane_sessions: int = LANE_SESSIONS,
                 lane_idle: float = LANE_IDLE_SECONDS) -> None:
        """No I/O here: the scheduler builds shells at start-up, and a box that is down must
        turn into a failed run with a cause, not into a crashed scheduler."""
        self.name = host.name
        self.host = host
        if app_known_hosts is None:  # callers should pass <data_dir>/known_hosts
            config_home = os.environ.get("XDG_CONFIG_HOME") or "~/.config"
            app_known_hosts = Path(config_home) / "cosmos-workflow" / "known_hosts"
        self._known_hosts = KnownHosts(
            app_file=Path(app_known_hosts).expanduser(),
            user_files=[Path(p) for p in user_known_hosts] if user_known_hosts is not None
            else [Path("~/.ssh/known_hosts").expanduser(), Path("/etc/ssh/ssh_known_hosts")])
        self._timeout = float(connect_timeout)
        self._ssh_config = ssh_config
        self._use_agent = use_agent
        self._look_for_keys = look_for_keys
        self._main = Connection(self.name, self._open_chain, timeout=self._timeout,
                                reconnect_delays=reconnect_delays, max_sessions=max_sessions,
                                describe=self._describe, free_idle=lambda: self._sftp.trim())
        self._sftp = SftpPool(self.name, self._main)
        self._lanes = LanePool(
            self.name, lambda number: Connection(
                self.name, self._open_chain, timeout=self._timeout,
                reconnect_delays=reconnect_delays, max_sessions=lane_sessions,
                role=f"stream lane {number}", describe=self._describe),
            idle_seconds=lane_idle, busy_wait=max(self._timeout, 30.0))
        #: What went to the box through SFTP: uploads started (put_file) and payload bytes of
        #: uploads and written files (a cached input adds nothing here).
        self.files_sent = 0
        self.bytes_sent = 0
        self._counter_lock = threading.Lock()
        self.target: SshTarget | None = None

    # -- connection ---------------------------------------------------------------------------
    @property
    def connect_count(self) -> int:
        """How many times the main connection was established (tests and the Hosts page)."""
        return self._main.connect_count

    @property
    def lane_connect_count(self) -> int:
        """How many times a stream lane connection was established (all lanes together)."""
        return self._lanes.connect_count

    @property
    def open_lanes(self) -> int:
        """Stream lanes currently kept open (or being opened)."""
        return self._lanes.open_lanes

    def _transport(self, call_started: float) -> tuple[paramiko.Transport, int]:
        return self._main.transport(call_started)

    def _describe(self) -> str:
        target = self.target
        if target is None:
            return "?"
        return target.box.describe() + (" via " + ", ".join(h.address for h in target.jumps)
                                        if target.jumps else "")

    def _open_chain(self) -> list[paramiko.Transport]:
        """Resolve the ssh config (re-read each time) and log in hop by hop.

        The one way to reach the box: the main connection and every lane use it.
        """
        try:
            self.target = target = resolve_target(self.host, self._ssh_config)
        except RemoteError as exc:
            raise ConnectError(str(exc), retryable=False) from exc
        opened: list[paramiko.Transport] = []
        try:
            for index, hop in enumerate(target.hops):
                opened.append(open_hop(
                    hop, known_hosts=self._known_hosts, host_label=self.name,
                    trust_on_first_use=self.host.trust_on_first_use, timeout=self._timeout,
                    via=opened[-1] if opened else None,
                    via_hop=target.hops[index - 1] if index else None,
                    use_agent=self._use_agent, look_for_keys=self._look_for_keys))
        except BaseException:
            for transport in reversed(opened):
                transport.close()
            raise
        return opened

    def close(self) -> None:
        """Close every connection; a later call opens a new one (as LocalShell keeps working).

        Streams still open fail with RemoteError.
        """
        self._main.close()
        self._lanes.close()

    def __enter__(self) -> "SshShell":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- channels -----------------------------------------------------------------------------
    def _start(self, argv: Sequence[str], input: bytes | None, long_lived: bool) -> _Started:
        """Open a channel (on a lane if long-lived) and start the command on it."""
        args = tuple(str(a) for a in argv)
        if not args:
            raise ValueError("empty command")
        command = shlex.join(args)  # every argument quoted: user text never becomes code
        release: Callable[[], None]
        if long_lived:
            lane, chan = self._lanes.open_session(time.monotonic())
            release = lambda: self._lanes.release(lane, chan)  # noqa: E731
        else:
            chan = self._main.open_session(time.monotonic())
            release = lambda: self._main.release(chan)  # noqa: E731
        try:
            chan.exec_command(command)
        except (paramiko.SSHException, EOFError, OSError) as exc:
            release()
            raise ConnectionLost(f"connection to host {self.name} lost while starting "
                              f"`{args[0]}`: {str(exc) or type(exc).__name__}") from exc
        writer = None
        if input and len(input) > CHUNK:
            # a large stdin is written by a thread, so a command that prints a lot before
            # reading its input cannot deadlock against us
            writer = threading.Thread(target=feed_stdin, args=(chan, input), daemon=True,
                                      name=f"ssh-stdin-{self.name}")
            writer.start()
        else:
            feed_stdin(chan, input or b"")
        return args, chan, writer, release

    def _exit_code(self, chan: paramiko.Channel, args: tuple[str, ...]) -> tuple[int, str]:
        code = chan.recv_exit_status() if chan.status_event.is_set() else -1
        if code != -1:
            return code, ""
        if transport_dead(chan.get_transport()):
            raise ConnectionLost(f"connection to host {self.name} lost while `{args[0]}` was "
                              "running; it may or may not have finished")
        # OpenSSH sends exit-signal instead of exit-status; `ssh` reports 255 then too
        return 255, f"{args[0]}: ended without an exit status (killed by a signal?)"

    # -- the Shell interface: commands --------------------------------------------------------
    def run(self, argv: Sequence[str], *, input: bytes | None = None,
            timeout: float | None = 120, long_lived: bool = False) -> CommandResult:
        """Run one command on the box; a timeout kills it and returns exit code 124.

        long_lived: the command may block for hours (`docker wait NAME`); it then runs on a
            stream lane and holds none of the main connection's session slots.
        """
        args, chan, writer, release = self._start(argv, input, long_lived)
        out, err = bytearray(), bytearray()
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            try:
                for kind, data in pump(chan, deadline):
                    (out if kind == "out" else err).extend(data)
            except TimeoutError:
                send_signal(chan, "KILL")
                log.warning("`%s` on host %s timed out after %ss", args[0], self.name, timeout)
                append_line(err, f"{args[0]}: timed out after {timeout}s")
                return CommandResult(args, 124, bytes(out), bytes(err))
            code, note = self._exit_code(chan, args)
            append_line(err, note)
            return CommandResult(args, code, bytes(out), bytes(err))
        finally:
            release()
            if writer is not None:
                writer.join(timeout=1)

    def stream(self, argv: Sequence[str], *, timeout: float | None = None) -> CommandStream:
        """Yield the command's stdout as it arrives (e.g. `tail -F log`), on a stream lane.

        Closing the stream early (from any thread) sends TERM to the command. A non-zero
        exit raises RemoteError with the last stderr line, and so does a dropped connection.
        """
        return CommandStream(lambda control: self._stream_body(argv, timeout, control))

    def _stream_body(self, argv: Sequence[str], timeout: float | None,
                     control: CommandStream) -> Generator[bytes, None, None]:
        args, chan, _, release = self._start(argv, None, long_lived=True)
        abandon = threading.Event()
        control.started(interrupter(chan, abandon))
        err = bytearray()
        deadline = None if timeout is None else time.monotonic() + timeout
        finished = False
        try:
            try:
                for kind, data in pump(chan, deadline, abandon):
                    if kind == "out":
                        yield data
                    else:
                        err.extend(data)
                        del err[:-CHUNK]
            except TimeoutError:
                raise RemoteError(f"`{args[0]}` on host {self.name} timed out after "
                                  f"{timeout}s") from None
            finished = True
            if control.stopping:
                return  # it ended because close() interrupted it: not an error
            code, note = self._exit_code(chan, args)
            append_line(err, note)
            CommandResult(args, code, b"", bytes(err)).check(f"`{args[0]}` on {self.name}")
        finally:
            if not finished:
                send_signal(chan, "TERM")
            release()

    def open_stream(self, argv: Sequence[str]):
        """`stream(argv)` read with a timeout and woken from any thread (remote/stream.py)."""
        from backend.remote.stream import open_stream

        return open_stream(self, argv)

    # -- SFTP ---------------------------------------------------------------------------------
    def _with_sftp(self, what: str, fn: Callable[[paramiko.SFTPClient], T]) -> T:
        return self._sftp.run(what, fn)

    # -- the Shell interface: files -----------------------------------------------------------
    def read_from(self, path: str, offset: int, limit: int = 1 << 20) -> bytes:
        """Bytes of `path` from `offset` (empty if the file does not exist yet)."""
        return self._with_sftp(f"reading {path}",
                               lambda sftp: ssh_files.read_from(sftp, path, offset, limit))

    def _count_sent(self, files: int, data: int) -> None:
        with self._counter_lock:
            self.files_sent += files
            self.bytes_sent += data

    def write_file(self, path: str, data: bytes, mode: int = 0o644) -> None:
        """Write atomically: `<path>.part`, chmod, then posix-rename over the target."""
        self._with_sftp(f"writing {path}",
                        lambda sftp: ssh_files.write_atomic(sftp, path, data, mode))
        self._count_sent(0, len(data))

    def _bulk_route(self, size: int) -> tuple[Any, list[Path]] | None:
        """The box and trusted key files for OpenSSH `sftp`, when a transfer should use it."""
        if (size < openssh.BULK_THRESHOLD or not openssh.sftp_exe()
                or os.environ.get("COSMOS_TRANSFER") == "paramiko"):
            return None
        self._transport(time.monotonic())  # connect first: the host key is checked (or TOFU)
        target = self.target
        if target is None or target.jumps:
            return None  # jump hosts stay on Paramiko, which already reaches them
        return target.box, self._known_hosts._files(target.box)

    def put_file(self, local: Path, remote: str, progress: Progress | None = None,
                 resume: bool = False) -> None:
        """Upload via `<remote>.part`, then rename; `progress(sent, total)` is optional.

        Large files go through OpenSSH's `sftp` when installed (about twice Paramiko's speed
        here), the rest and any OpenSSH failure through pipelined Paramiko writes. With
        `resume`, an interrupted upload of the same content is continued.
        """
        size = Path(local).stat().st_size
        route = self._bulk_route(size)
        if route is not None:
            hop, known = route
            part = remote + ".part"
            offset = self._with_sftp(f"preparing {remote}", lambda sftp: ssh_files.prepare_put(
                sftp, remote, size if resume else 0))
            ok, error = openssh.upload(hop, known, Path(local), part, resume=offset > 0)
            if ok and self._with_sftp(f"finishing {remote}", lambda sftp: ssh_files.finish_put(
                    sftp, part, remote, size)):
                self._count_sent(1, size - offset)
                if progress is not None:
                    progress(size, size)
                return
            log.warning("OpenSSH sftp upload to %s failed (%s); sending with Paramiko",
                        self.name, error or "size mismatch")
        last = [0]

        def count(done: int, total: int) -> None:
            # bytes that left since the previous call (a retry after a drop starts at 0 again)
            self._count_sent(0, done - last[0] if done >= last[0] else done)
            last[0] = done
            if progress is not None:
                progress(done, total)

        self._count_sent(1, 0)
        self._with_sftp(f"uploading {Path(local).name} to {remote}",
                        lambda sftp: ssh_files.put(sftp, Path(local), remote, count, resume,
                                                   started=lambda offset: last.__setitem__(
                                                       0, offset)))

    def get_file(self, remote: str, local: Path, progress: Progress | None = None) -> None:
        """Download via `<local>.part` (size-checked), then rename; OpenSSH for large files."""
        size = self._with_sftp(f"checking {remote}", lambda sftp: sftp.stat(remote).st_size)
        route = self._bulk_route(size or 0)
        if route is not None:
            hop, known = route
            local = Path(local)
            local.parent.mkdir(parents=True, exist_ok=True)
            tmp = local.with_name(local.name + ".part")
            ok, error = openssh.download(hop, known, remote, tmp)
            if ok and tmp.exists() and tmp.stat().st_size == size:
                os.replace(tmp, local)
                if progress is not None:
                    progress(size, size)
                return
            tmp.unlink(missing_ok=True)
            log.warning("OpenSSH sftp download from %s failed (%s); using Paramiko", self.name,
                        error or "size mismatch")
        self._with_sftp(f"downloading {remote}",
                        lambda sftp: ssh_files.get(sftp, remote, Path(local), progress))

    def exists(self, path: str) -> bool:
        """Like os.path.lexists on the box."""
        return self._with_sftp(f"checking {path}", lambda sftp: ssh_files.exists(sftp, path))
