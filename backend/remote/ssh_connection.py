"""One SSH connection to a box that reconnects: transport chain + session slots + generation.

Split from ssh.py so the main connection and every stream lane (ssh_lanes.py) are the same
object, with the same reconnect rules: when an established connection drops, the next call
reconnects with backoff; a command that was already sent is never re-sent behind the caller's
back (it may have run); a first connect fails fast (a box that was never reachable is a
configuration problem, not a blip). Opening the chain itself (ssh config, host keys, login,
ProxyJump) is the owner's `open_chain`, so there is exactly one code path for it.

Session slots: OpenSSH refuses more than MaxSessions (default 10) channels per connection and
frees a session only after our close reaches it, so each connection holds at most
`max_sessions` (a little below) and a caller waits for a free slot instead of being refused.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence

import paramiko

from backend.remote.shell import RemoteError
from backend.remote.ssh_connect import ConnectError

log = logging.getLogger(__name__)

#: Waits between reconnect attempts after an established connection dropped (~8.7 s in all).
RECONNECT_DELAYS = (0.2, 0.5, 1.0, 2.0, 5.0)
#: How long a caller waits for a free session slot before giving up.
MIN_SLOT_WAIT = 30.0


class Connection:
    """A chain of transports (jump hosts first, the box last) opened on first use.

    name: the host's name, for messages.
    role: what this connection is for, for logs ("" for the main one, "stream lane 2").
    open_chain: logs in hop by hop and returns the transports; raises ConnectError.
    describe: "box (via jumps)" for the log line of a (re)connect.
    free_idle: called when the connection is dropped or the server refuses a session, so
        the owner can close idle channels it keeps (SFTP clients) and give their slots back.
    """

    def __init__(self, name: str, open_chain: Callable[[], list[paramiko.Transport]], *,
                 timeout: float, reconnect_delays: Sequence[float] = RECONNECT_DELAYS,
                 max_sessions: int, role: str = "",
                 describe: Callable[[], str] = lambda: "?",
                 free_idle: Callable[[], None] = lambda: None) -> None:
        self.name = name
        self.role = role
        self._open_chain = open_chain
        self._timeout = float(timeout)
        self._delays = tuple(reconnect_delays)
        self._describe = describe
        self._free_idle = free_idle
        self._lock = threading.Lock()  # guards connect / reconnect / close
        self._transports: list[paramiko.Transport] = []
        self._generation = 0
        self._ever_connected = False
        self._last_failure: tuple[float, ConnectError] | None = None
        self._slots = threading.BoundedSemaphore(max_sessions)
        self._held_lock = threading.Lock()
        self._held = 0
        #: when the last slot was given back (a lane idle since then may be closed)
        self.idle_since = time.monotonic()
        #: how many times this connection was established (tests and the Hosts page read it)
        self.connect_count = 0

    @property
    def transports(self) -> list[paramiko.Transport]:
        """The open chain, jump hosts first (empty before the first connect)."""
        return list(self._transports)

    @property
    def generation(self) -> int:
        """Bumped at every (re)connect: things opened on an older one are dead."""
        return self._generation

    @property
    def held(self) -> int:
        """Session slots in use right now."""
        return self._held

    def _label(self) -> str:
        return f"host {self.name}" + (f" ({self.role})" if self.role else "")

    # -- connecting ---------------------------------------------------------------------------
    def transport(self, call_started: float) -> tuple[paramiko.Transport, int]:
        """The box's transport and its generation, (re)connecting if needed."""
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
                raise ConnectError(str(failed), retryable=failed.retryable,
                                   dropped=failed.dropped)
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
                        log.warning("connecting to %s failed (attempt %d of %d): %s",
                                    self._label(), attempt, len(delays), exc)
                    continue
                self._generation += 1
                self.connect_count += 1
                self._ever_connected = True
                self._last_failure = None
                log.info("%s %s (%s) in %.0f ms", "reconnected to" if dropped else
                         "connected to", self._label(), self._describe(),
                         (time.monotonic() - started) * 1000)
                return self._transports[-1], self._generation
            assert error is not None
            if dropped and error.retryable:
                error = ConnectError(f"the connection to host {self.name} was lost and could "
                                     f"not be re-established after {len(delays)} attempts: "
                                     f"{error}", retryable=True, dropped=True)
            elif self._ever_connected and error.retryable:
                error.dropped = True
            self._last_failure = (time.monotonic(), error)
            raise error

    def _drop_locked(self) -> None:
        self._free_idle()
        for transport in reversed(self._transports):
            transport.close()
        self._transports = []

    def close(self) -> None:
        """Close the connection; a later call opens a new one."""
        with self._lock:
            self._drop_locked()

    # -- session slots and channels -----------------------------------------------------------
    def reserve(self, timeout: float | None) -> bool:
        """Take a session slot (timeout 0: only if one is free now)."""
        if timeout == 0:
            got = self._slots.acquire(blocking=False)
        else:
            got = self._slots.acquire(timeout=timeout)
        if got:
            with self._held_lock:
                self._held += 1
        return got

    def unreserve(self) -> None:
        """Give a slot back (its channel is closed or was never opened)."""
        with self._held_lock:
            self._held -= 1
            if self._held == 0:
                self.idle_since = time.monotonic()
        self._slots.release()

    def open_session(self, call_started: float) -> paramiko.Channel:
        """A new exec channel holding one slot until `release`; waits for a free slot."""
        wait = max(self._timeout, MIN_SLOT_WAIT)
        if not self.reserve(wait):
            raise RemoteError(f"all SSH sessions to host {self.name} stayed busy for {wait:g} s")
        return self.open_reserved(call_started)

    def open_reserved(self, call_started: float) -> paramiko.Channel:
        """A new exec channel on a slot already reserved (given back if this fails).

        Retried on a fresh connection if the old one turned out dead: nothing was sent yet, so
        that is safe.
        """
        try:
            deadline = time.monotonic() + self._timeout
            pause = 0.05
            reconnects = 0
            while True:
                transport, _gen = self.transport(call_started)
                try:
                    return transport.open_session(timeout=self._timeout)
                except (paramiko.SSHException, EOFError, OSError) as exc:
                    if not transport.is_active():
                        reconnects += 1
                        if reconnects > 3:
                            raise RemoteError(f"the connection to host {self.name} keeps "
                                              f"dropping right after login ({exc})") from exc
                        log.info("connection to %s found dead; reconnecting", self._label())
                        continue
                    # Refused: the server still counts sessions we just closed (or its
                    # MaxSessions is below ours). Nothing was sent, so waiting and retrying
                    # is safe; if the connection died instead, the next round sees it.
                    self._free_idle()
                    if time.monotonic() + pause > deadline:
                        raise RemoteError(f"host {self.name} refused a new SSH session "
                                          f"({exc}); too many at once?") from exc
                    time.sleep(pause)
                    pause = min(pause * 2, 0.5)
        except BaseException:
            self.unreserve()
            raise

    def release(self, chan: paramiko.Channel) -> None:
        """Close a channel from open_session/open_reserved and give its slot back."""
        try:
            chan.close()
        except (OSError, EOFError, paramiko.SSHException):
            pass  # the connection is already gone; nothing left to close on the server
        finally:
            self.unreserve()
