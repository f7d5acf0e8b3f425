"""Running one command on one Paramiko exec channel: stdin, stdout+stderr, signals, exit.

Split from ssh.py because these are the parts that work around Paramiko's channel internals
(kept in one place so an upgrade has one file to re-check): sending EOF/data/signals only
while the channel is open, RFC 4254 `signal` requests, and draining both output streams
together so neither can fill its window and stall the other.
"""

from __future__ import annotations

import logging
import select
import threading
import time
from typing import Callable, Iterator

import paramiko
from paramiko.common import cMSG_CHANNEL_DATA, cMSG_CHANNEL_REQUEST
from paramiko.message import Message

log = logging.getLogger(__name__)

CHUNK = 1 << 16
#: After the exit status, output still arriving from the pipes is awaited this long; a
#: background child that keeps stdout open must not hang the caller (plain `ssh` would).
EOF_GRACE = 1.0


def transport_dead(transport: paramiko.Transport) -> bool:
    """Did this connection drop? Paramiko closes the channels a moment before it marks the
    transport inactive, so give its thread that moment before deciding."""
    if transport.is_active():
        transport.join(0.5)
    return not transport.is_active()


def append_line(buf: bytearray, line: str) -> None:
    """Add our own note to a command's stderr, on a line of its own."""
    if line:
        if buf and not buf.endswith(b"\n"):
            buf.extend(b"\n")
        buf.extend(line.encode())


def send_while_open(chan: paramiko.Channel, build: Callable[[], Message | None]) -> bool:
    """Send a message on a channel only if the server has not closed it, atomically.

    Paramiko checks `closed` and then sends outside the channel lock. If the server's CLOSE is
    handled in between, Paramiko answers with our CLOSE first, and the late EOF/data/signal
    names a channel the server has already freed: OpenSSH then drops the WHOLE connection
    ("packet referred to nonexistent channel"), killing every other command on it. Seen under
    load with fast commands (`cat file` exits before our stdin EOF goes out). Holding the
    channel lock while sending keeps our message ahead of the transport thread's CLOSE reply.
    (During a rekey the send waits for the key exchange, at most Paramiko's 30 s timeout.)
    """
    with chan.lock:
        if chan.closed or not chan.active:
            return False
        msg = build()
        if msg is None:
            return False
        chan.transport._send_user_message(msg)
        return True


def send_signal(chan: paramiko.Channel, signame: str) -> None:
    """Send an RFC 4254 `signal` request; OpenSSH kills the command's process group.

    Paramiko has no public call for it, and closing a channel alone leaves the command running.
    """
    def build() -> Message:
        msg = Message()
        msg.add_byte(cMSG_CHANNEL_REQUEST)
        msg.add_int(chan.remote_chanid)
        msg.add_string("signal")
        msg.add_boolean(False)
        msg.add_string(signame)
        return msg

    try:
        send_while_open(chan, build)
    except Exception as exc:  # best effort: the channel is closed right after anyway
        log.debug("could not send %s to a command on %s: %s", signame, chan, exc)


#: A stream stopped from another thread that has not ended on TERM within this long gets KILL,
#: and its reader gives up on it, whatever the command (or a server without signals) does.
KILL_GRACE = 1.0


def interrupter(chan: paramiko.Channel, abandon: threading.Event,
                grace: float = KILL_GRACE) -> Callable[[], None]:
    """A callable for another thread: TERM the command now; after `grace`, unless it ended,
    KILL it and set `abandon`, which `pump` obeys at its next wake-up (within EOF_GRACE).

    The channel is not closed from here: closing it under a reader blocked in select() on
    its pipe makes that reader fail with EBADF; the reader closes it on its way out.
    """
    def escalate() -> None:
        if not chan.closed:
            send_signal(chan, "KILL")
            abandon.set()

    def interrupt() -> None:
        send_signal(chan, "TERM")
        timer = threading.Timer(grace, escalate)
        timer.daemon = True
        timer.start()

    return interrupt


def feed_stdin(chan: paramiko.Channel, data: bytes) -> None:
    """Write stdin, then EOF (what subprocess.DEVNULL gives locally), never after a close."""
    view = memoryview(data)
    try:
        while view:
            with chan.lock:  # see send_while_open: data must not follow our CLOSE
                size = chan._wait_for_send_window(len(view))
                if size == 0:
                    return  # closed: the command exited without reading everything
                msg = Message()
                msg.add_byte(cMSG_CHANNEL_DATA)
                msg.add_int(chan.remote_chanid)
                msg.add_string(bytes(view[:size]))
                chan.transport._send_user_message(msg)
            view = view[size:]
        send_while_open(chan, chan._send_eof)
    except (OSError, EOFError, paramiko.SSHException):
        pass  # the connection failed; the reader reports it


def pump(chan: paramiko.Channel, deadline: float | None,
         abandon: threading.Event | None = None) -> Iterator[tuple[str, bytes]]:
    """Yield ('out' | 'err', bytes) as they arrive until the command ends (or `abandon` is
    set: then it returns at its next wake-up, within EOF_GRACE).

    One chunk of each stream per round, so a flood on one cannot starve the other or the
    deadline check. Raises TimeoutError at the deadline.
    """
    exit_seen_at: float | None = None
    fd = chan.fileno()  # a pipe Paramiko pokes whenever data, EOF or a close arrives
    while True:
        if abandon is not None and abandon.is_set():
            return
        got = False
        if chan.recv_ready():
            data = chan.recv(CHUNK)
            if data:
                got = True
                yield "out", data
        if chan.recv_stderr_ready():
            data = chan.recv_stderr(CHUNK)
            if data:
                got = True
                yield "err", data
        drained = not chan.recv_ready() and not chan.recv_stderr_ready()
        if drained and (chan.closed or (chan.eof_received and chan.status_event.is_set())):
            return
        now = time.monotonic()
        if chan.status_event.is_set():
            if exit_seen_at is None or got:
                exit_seen_at = now
            elif now - exit_seen_at > EOF_GRACE:
                return  # exited; a background child still holds stdout open
        if deadline is not None and now >= deadline:
            raise TimeoutError
        if got:
            continue
        wait = EOF_GRACE if deadline is None else max(0.0, min(EOF_GRACE, deadline - now))
        if chan.eof_received and drained:
            chan.status_event.wait(wait)
        else:
            select.select([fd], [], [], wait)
