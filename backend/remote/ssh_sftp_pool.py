"""A small pool of SFTP clients on one connection, and the retry rule for file operations.

Why a pool: a Paramiko SFTPClient is not safe to share between threads (a thread can swallow
another thread's response), and a log read must not wait for an upload; opening a client per
operation costs a round trip. Each client holds one of the connection's session slots, idle
ones included, so the pool stays small and gives them back when the server refuses a session.
Split from ssh.py to keep the command path and the file path apart.
"""

from __future__ import annotations

import errno
import logging
import threading
import time
from collections.abc import Callable
from typing import TypeVar

import paramiko

from backend.remote import ssh_files
from backend.remote.errors import ConnectionLost
from backend.remote.shell import RemoteError
from backend.remote.ssh_channel import transport_dead
from backend.remote.ssh_connection import Connection

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Idle SFTP clients kept open for reuse (each holds one of the server's sessions).
SFTP_IDLE = 2
#: A stalled SFTP request (no reply for this long) fails instead of hanging a thread forever.
SFTP_STALL_TIMEOUT = 120.0
#: SFTP status replies that say "the file", not "the connection", is the problem.
_FILE_ERRNOS = (errno.ENOENT, errno.EACCES)  # the only errnos Paramiko maps statuses to


class SftpPool:
    """SFTP clients of `connection`, reused while its generation lasts."""

    def __init__(self, name: str, connection: Connection) -> None:
        self.name = name
        self._conn = connection
        self._lock = threading.Lock()
        self._idle: list[tuple[int, paramiko.SFTPClient]] = []

    def _take(self, generation: int) -> paramiko.SFTPClient:
        """An idle client of this connection, or a new SFTP session (holding a slot)."""
        with self._lock:
            while self._idle:
                gen, client = self._idle.pop()
                if gen == generation and not client.get_channel().closed:
                    return client
                self._close(client)
        chan = self._conn.open_session(time.monotonic())  # holds a session slot from here on
        try:
            chan.settimeout(SFTP_STALL_TIMEOUT)  # before the version exchange can stall
            chan.invoke_subsystem("sftp")
            client = paramiko.SFTPClient(chan)
        except BaseException:
            self._conn.release(chan)
            raise
        return client

    def _give_back(self, client: paramiko.SFTPClient, generation: int) -> None:
        with self._lock:
            if len(self._idle) < SFTP_IDLE and generation == self._conn.generation:
                self._idle.append((generation, client))
                return
        self._close(client)

    def _close(self, client: paramiko.SFTPClient) -> None:
        try:
            client.close()
        except Exception:  # already dead with its connection
            pass
        self._conn.unreserve()

    def trim(self) -> None:
        """Close the idle clients, giving their session slots back."""
        with self._lock:
            idle, self._idle = self._idle, []
        for _, client in idle:
            self._close(client)

    def run(self, what: str, fn: Callable[[paramiko.SFTPClient], T]) -> T:
        """Run an idempotent file operation; once more on a new connection if it dropped."""
        call_started = time.monotonic()
        for attempt in (1, 2):
            transport, generation = self._conn.transport(call_started)
            try:
                client = self._take(generation)
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
                    raise ConnectionLost(f"connection to host {self.name} lost during {what}: "
                                      f"{str(exc) or type(exc).__name__}") from exc
                log.warning("connection to host %s lost during %s; reconnecting", self.name,
                            what)
            finally:
                if healthy:
                    self._give_back(client, generation)
                else:
                    self._close(client)
        raise AssertionError("unreachable")
