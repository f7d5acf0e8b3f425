"""The SSH box: the `Shell` interface over ONE long-lived Paramiko connection per host.

Why one connection: earlier tools opened a connection per command (~120 ms each, a host-key
bypass each time) and lost jobs when one blocking SSH command dropped. Here every thread shares
one transport (exec channels run concurrently on it), the connection is kept alive, and when it
drops the next call reconnects with backoff. A command that was already sent is never re-sent
behind the caller's back (it may have run); idempotent file operations are retried once.

Why TCP_NODELAY: Paramiko does not set it, and Nagle + delayed ACK then cost ~40 ms per
request/response (measured: `true` 48 ms -> 3.7 ms; serial SFTP 1-5 MB/s -> ~50 MB/s).
Why a small pool of SFTP clients: a Paramiko SFTPClient is not safe to share between threads
(a thread can swallow another thread's response), and a log read must not wait for an upload.
SFTP transfers keep Paramiko's defaults (pipelined put, prefetching get): bigger windows or
`max_concurrent_prefetch_requests` were measured to be 20x slower.
"""

from __future__ import annotations

import errno
import logging
import os
import shlex
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence, TypeVar

import paramiko

from backend.config import HostConfig
from backend.remote import openssh, ssh_files
from backend.remote.shell import CommandResult, RemoteError
from backend.remote.ssh_channel import (
    CHUNK,
    append_line,
    feed_stdin,
    pump,
    send_signal,
    transport_dead,
)
from backend.remote.ssh_config import SshTarget, resolve_target
from backend.remote.ssh_connect import ConnectError, KnownHosts, open_hop
from backend.remote.ssh_files import Progress

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Waits between reconnect attempts after an established connection dropped (~8.7 s in all).
RECONNECT_DELAYS = (0.2, 0.5, 1.0, 2.0, 5.0)
#: Concurrent channels per connection. OpenSSH refuses more than MaxSessions (default 10) and
#: frees a session only after our close reaches it, so stay a little below.
MAX_SESSIONS = 8
#: Idle SFTP clients kept open for reuse (each holds one of the server's sessions).
SFTP_IDLE = 2
#: A stalled SFTP request (no reply for this long) fails instead of hanging a thread forever.
SFTP_STALL_TIMEOUT = 120.0
#: SFTP status replies that say "the file", not "the connection", is the problem.
_FILE_ERRNOS = (errno.ENOENT, errno.EACCES)  # the only errnos Paramiko maps statuses to


class SshShell:
    """A GPU box reached over SSH; thread-safe, one connection, opened on first use.

    app_known_hosts: the app's own known_hosts file (trusted next to ~/.ssh/known_hosts and
        /etc/ssh/ssh_known_hosts; trust-on-first-use appends here). Pass <data_dir>/known_hosts.
    ssh_config: the ssh config to honour; default $COSMOS_SSH_CONFIG, else ~/.ssh/config.
    user_known_hosts, use_agent, look_for_keys: let tests ignore the user's own ~/.ssh.
    reconnect_delays: backoff after an established connection dropped (a first connect
        fails fast: a box that was never reachable is a configuration problem).
    max_sessions: concurrent channels (commands + SFTP) on the one connection.
    """

    def __init__(self, host: HostConfig, *, app_known_hosts: Path | None,
                 connect_timeout: float = 10,
                 ssh_config: str | Path | None = None,
                 user_known_hosts: Sequence[Path] | None = None, use_agent: bool = True,
                 look_for_keys: bool = True,
                 reconnect_delays: Sequence[float] = RECONNECT_DELAYS,
                 max_sessions: int = MAX_SESSIONS) -> None:
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
        self._delays = tuple(reconnect_delays)
        self._lock = threading.Lock()  # guards connect / reconnect / close
        self._transports: list[paramiko.Transport] = []  # jump hosts first, the box last
        self._generation = 0
        self._ever_connected = False
        self._last_failure: tuple[float, ConnectError] | None = None
        self._slots = threading.BoundedSemaphore(max_sessions)
        self._sftp_lock = threading.Lock()
        self._sftp_idle: list[tuple[int, paramiko.SFTPClient]] = []
        #: how many times a connection was established (tests and the Hosts page read it)
        self.connect_count = 0
        #: What went to the box through SFTP: uploads started (put_file) and payload bytes of
        #: uploads and written files (a cached input adds nothing here).
        self.files_sent = 0
        self.bytes_sent = 0
        self._counter_lock = threading.Lock()
        self.target: SshTarget | None = None

    # -- connection ---------------------------------------------------------------------------
    def _transport(self, call_started: float) -> tuple[paramiko.Transport, int]:
        transports, generation = self._transports, self._generation
        if transports and transports[-1].is_active():
            return transports[-1], generation
        return self._connect(call_started)

    def _connect(self, call_started: float) -> tuple[paramiko.Transport, int]:
        with self._lock:
            if self._transports and self._transports[-1].is_active():
                return self._transports[-1], self._generation
            if self._last_failure and self._last_failure[0] >= call_started:
                # another thread just tried (with backoff) while we waited: do not pile on
                failed = self._last_failure[1]
                raise ConnectError(str(failed), retryable=failed.retryable)
            dropped = bool(self._transports)
            self._drop_locked()
            delays = (0.0,) + self._delays if self._ever_connected else (0.0,)
            error: ConnectError | None = None
            for attempt, delay in enumerate(delays, 1):
                if delay:
                    time.sleep(delay)
                started = time.monotonic()
                try:
                    self._transports = self._open_chain()
                except ConnectError as exc:
                    error = exc
                    if not exc.retryable:
                        break
                    if attempt < len(delays):
                        log.warning("connecting to host %s failed (attempt %d of %d): %s",
                                    self.name, attempt, len(delays), exc)
                    continue
                self._generation += 1
                self.connect_count += 1
                self._ever_connected = True
                self._last_failure = None
                log.info("%s host %s (%s%s) in %.0f ms", "reconnected to" if dropped else
                         "connected to", self.name, self.target.box.describe() if self.target
                         else "?", " via " + ", ".join(h.address for h in self.target.jumps)
                         if self.target and self.target.jumps else "",
                         (time.monotonic() - started) * 1000)
                return self._transports[-1], self._generation
            assert error is not None
            if dropped and error.retryable:
                error = ConnectError(f"the connection to host {self.name} was lost and could "
                                     f"not be re-established after {len(delays)} attempts: "
                                     f"{error}", retryable=True)
            self._last_failure = (time.monotonic(), error)
            raise error

    def _open_chain(self) -> list[paramiko.Transport]:
        """Resolve the ssh config (re-read each time) and log in hop by hop."""
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

    def _drop_locked(self) -> None:
        with self._sftp_lock:
            idle, self._sftp_idle = self._sftp_idle, []
        for _, client in idle:
            self._close_sftp(client)
        for transport in reversed(self._transports):
            transport.close()
        self._transports = []

    def close(self) -> None:
        """Close the connection; a later call opens a new one (as LocalShell keeps working)."""
        with self._lock:
            self._drop_locked()

    def __enter__(self) -> "SshShell":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- channels -----------------------------------------------------------------------------
    def _open_session(self, call_started: float) -> paramiko.Channel:
        """A new exec channel; retried on a fresh connection if the old one turned out dead
        (nothing was sent yet, so that is safe). Holds one session slot until released."""
        if not self._slots.acquire(timeout=max(self._timeout, 30.0)):
            raise RemoteError(f"all SSH sessions to host {self.name} stayed busy for "
                              f"{max(self._timeout, 30.0):g} s")
        try:
            deadline = time.monotonic() + self._timeout
            pause = 0.05
            reconnects = 0
            while True:
                transport, _gen = self._transport(call_started)
                try:
                    return transport.open_session(timeout=self._timeout)
                except (paramiko.SSHException, EOFError, OSError) as exc:
                    if not transport.is_active():
                        reconnects += 1
                        if reconnects > 3:
                            raise RemoteError(f"the connection to host {self.name} keeps "
                                              f"dropping right after login ({exc})") from exc
                        log.info("connection to host %s found dead; reconnecting", self.name)
                        continue
                    # Refused: the server still counts sessions we just closed (or its
                    # MaxSessions is below ours). Nothing was sent, so waiting and retrying
                    # is safe; if the connection died instead, the next round sees it.
                    self._trim_sftp_pool()
                    if time.monotonic() + pause > deadline:
                        raise RemoteError(f"host {self.name} refused a new SSH session "
                                          f"({exc}); too many at once?") from exc
                    time.sleep(pause)
                    pause = min(pause * 2, 0.5)
        except BaseException:
            self._slots.release()
            raise

    def _release(self, chan: paramiko.Channel) -> None:
        try:
            chan.close()
        except (OSError, EOFError, paramiko.SSHException):
            pass  # the connection is already gone; nothing left to close on the server
        finally:
            self._slots.release()

    def _start(self, argv: Sequence[str], input: bytes | None
               ) -> tuple[tuple[str, ...], paramiko.Channel, threading.Thread | None]:
        args = tuple(str(a) for a in argv)
        if not args:
            raise ValueError("empty command")
        command = shlex.join(args)  # every argument quoted: user text never becomes code
        chan = self._open_session(time.monotonic())
        try:
            chan.exec_command(command)
        except (paramiko.SSHException, EOFError, OSError) as exc:
            self._release(chan)
            raise RemoteError(f"connection to host {self.name} lost while starting "
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
        return args, chan, writer

    def _exit_code(self, chan: paramiko.Channel, args: tuple[str, ...]) -> tuple[int, str]:
        code = chan.recv_exit_status() if chan.status_event.is_set() else -1
        if code != -1:
            return code, ""
        if transport_dead(chan.get_transport()):
            raise RemoteError(f"connection to host {self.name} lost while `{args[0]}` was "
                              "running; it may or may not have finished")
        # OpenSSH sends exit-signal instead of exit-status; `ssh` reports 255 then too
        return 255, f"{args[0]}: ended without an exit status (killed by a signal?)"

    # -- the Shell interface: commands --------------------------------------------------------
    def run(self, argv: Sequence[str], *, input: bytes | None = None,
            timeout: float | None = 120) -> CommandResult:
        """Run one command on the box; a timeout kills it and returns exit code 124."""
        args, chan, writer = self._start(argv, input)
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
            self._release(chan)
            if writer is not None:
                writer.join(timeout=1)

    def stream(self, argv: Sequence[str], *, timeout: float | None = None) -> Iterator[bytes]:
        """Yield the command's stdout as it arrives (e.g. `tail -F log`).

        Closing the generator early sends TERM to the command. A non-zero exit raises
        RemoteError with the last stderr line.
        """
        args, chan, _ = self._start(argv, None)
        err = bytearray()
        deadline = None if timeout is None else time.monotonic() + timeout
        finished = False
        try:
            try:
                for kind, data in pump(chan, deadline):
                    if kind == "out":
                        yield data
                    else:
                        err.extend(data)
                        del err[:-CHUNK]
            except TimeoutError:
                raise RemoteError(f"`{args[0]}` on host {self.name} timed out after "
                                  f"{timeout}s") from None
            finished = True
            code, note = self._exit_code(chan, args)
            append_line(err, note)
            CommandResult(args, code, b"", bytes(err)).check(f"`{args[0]}` on {self.name}")
        finally:
            if not finished:
                send_signal(chan, "TERM")
            self._release(chan)

    def open_stream(self, argv: Sequence[str]):
        """A long-lived command whose output is read as it comes (a Stream, closable from any
        thread); see backend/remote/stream.py."""
        from backend.remote.ssh_stream import ChannelStream

        return ChannelStream(self, argv)

    # -- SFTP ---------------------------------------------------------------------------------
    def _take_sftp(self, generation: int) -> paramiko.SFTPClient:
        """An idle client of this connection, or a new SFTP session (holding a slot)."""
        with self._sftp_lock:
            while self._sftp_idle:
                gen, client = self._sftp_idle.pop()
                if gen == generation and not client.get_channel().closed:
                    return client
                self._close_sftp(client)
        chan = self._open_session(time.monotonic())  # holds a session slot from here on
        try:
            chan.settimeout(SFTP_STALL_TIMEOUT)  # before the version exchange can stall
            chan.invoke_subsystem("sftp")
            client = paramiko.SFTPClient(chan)
        except BaseException:
            self._release(chan)
            raise
        return client

    def _give_back(self, client: paramiko.SFTPClient, generation: int) -> None:
        with self._sftp_lock:
            if len(self._sftp_idle) < SFTP_IDLE and generation == self._generation:
                self._sftp_idle.append((generation, client))
                return
        self._close_sftp(client)

    def _close_sftp(self, client: paramiko.SFTPClient) -> None:
        try:
            client.close()
        except Exception:  # already dead with its connection
            pass
        self._slots.release()

    def _trim_sftp_pool(self) -> None:
        with self._sftp_lock:
            idle, self._sftp_idle = self._sftp_idle, []
        for _, client in idle:
            self._close_sftp(client)

    def _with_sftp(self, what: str, fn: Callable[[paramiko.SFTPClient], T]) -> T:
        """Run an idempotent file operation; once more on a new connection if it dropped."""
        call_started = time.monotonic()
        for attempt in (1, 2):
            transport, generation = self._transport(call_started)
            try:
                client = self._take_sftp(generation)
            except (paramiko.SSHException, EOFError, OSError) as exc:
                if not transport_dead(transport) or attempt == 2:
                    raise RemoteError(f"cannot open SFTP on host {self.name}: {exc}") from exc
                continue
            healthy = False
            try:
                result = fn(client)
                healthy = True
                return result
            except (paramiko.SSHException, EOFError, OSError) as exc:
                # SFTP status replies arrive as OSError(ENOENT|EACCES): the connection is fine
                file_error = isinstance(exc, OSError) and exc.errno in _FILE_ERRNOS
                if file_error or not transport_dead(transport):
                    healthy = file_error
                    if ssh_files.is_missing(exc):
                        raise RemoteError(f"{what} on host {self.name}: no such file "
                                          f"({exc.filename or exc})") from exc
                    raise RemoteError(f"{what} on host {self.name} failed: "
                                      f"{getattr(exc, 'strerror', None) or exc}") from exc
                if attempt == 2:
                    raise RemoteError(f"connection to host {self.name} lost during {what}: "
                                      f"{str(exc) or type(exc).__name__}") from exc
                log.warning("connection to host %s lost during %s; reconnecting", self.name,
                            what)
            finally:
                if healthy:
                    self._give_back(client, generation)
                else:
                    self._close_sftp(client)
        raise AssertionError("unreachable")

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
