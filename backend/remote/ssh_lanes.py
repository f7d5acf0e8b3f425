"""Stream lanes: extra SSH connections to the same box that carry only long-lived channels.

Why: OpenSSH allows MaxSessions (default 10) channels per connection, and the main connection
keeps 8 of them for short commands and SFTP. An 8-GPU box with 8 runs, each following its log
(`tail -F`) and waiting for its container (`docker wait`), needs 16 channels that stay open for
hours; on the main connection they would starve everything else, and past 10 the server
refuses them. So long-lived channels go on lanes: each lane is a `Connection` (same ssh config,
host-key checks, login and ProxyJump chain as the main one, the same reconnect rules), carries
at most LANE_SESSIONS channels, is opened on first need, and is closed after LANE_IDLE_SECONDS
without channels. A dropped lane fails the streams on it (they raise RemoteError); the next
call reconnects it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import paramiko

from backend.remote.shell import RemoteError
from backend.remote.ssh_connection import MIN_SLOT_WAIT, Connection

log = logging.getLogger(__name__)

#: Long-lived channels per lane (below OpenSSH's default MaxSessions of 10, like the main one).
LANE_SESSIONS = 8
#: Lanes per host at most: 64 long-lived channels; past that a caller waits for a free one.
MAX_LANES = 8
#: A lane without channels for this long is closed (the next stream opens a new one).
LANE_IDLE_SECONDS = 60.0


class LanePool:
    """The lanes of one host. `make_lane(number)` builds an unconnected Connection."""

    def __init__(self, name: str, make_lane: Callable[[int], Connection], *,
                 max_lanes: int = MAX_LANES, idle_seconds: float = LANE_IDLE_SECONDS,
                 busy_wait: float = MIN_SLOT_WAIT) -> None:
        self.name = name
        self._make_lane = make_lane
        self._max_lanes = max_lanes
        self._idle_seconds = idle_seconds
        self._busy_wait = busy_wait
        self._cond = threading.Condition()
        self._lanes: list[Connection] = []
        self._numbered = 0
        self._retired_connects = 0  # connects of lanes closed since
        self._timer: threading.Timer | None = None

    @property
    def connect_count(self) -> int:
        """How many lane connections were established, closed lanes included."""
        with self._cond:
            return self._retired_connects + sum(lane.connect_count for lane in self._lanes)

    @property
    def open_lanes(self) -> int:
        """Lanes currently kept (connected or about to be)."""
        with self._cond:
            return len(self._lanes)

    def open_session(self, call_started: float) -> tuple[Connection, paramiko.Channel]:
        """A channel on a lane with a free slot (a new lane if all are full); `release` it."""
        deadline = time.monotonic() + self._busy_wait
        with self._cond:
            while True:
                lane = self._reserve_locked()
                if lane is not None:
                    break
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise RemoteError(f"all {self._max_lanes} stream lanes to host {self.name}"
                                      f" stayed busy for {self._busy_wait:g} s")
                self._cond.wait(remaining)
        try:
            return lane, lane.open_reserved(call_started)  # connects the lane if needed
        except BaseException:
            self._after_release(lane)  # open_reserved gave the slot back
            raise

    def _reserve_locked(self) -> Connection | None:
        """Take a slot on the first lane that has one (packing channels lets the others go
        idle and close), else on a new lane; None when every lane is full."""
        for lane in self._lanes:
            if lane.reserve(0):
                return lane
        if len(self._lanes) >= self._max_lanes:
            return None
        self._numbered += 1
        lane = self._make_lane(self._numbered)  # no I/O: connecting happens outside the lock
        self._lanes.append(lane)
        lane.reserve(0)
        return lane

    def release(self, lane: Connection, chan: paramiko.Channel) -> None:
        """Close a channel from open_session and give its lane slot back."""
        lane.release(chan)
        self._after_release(lane)

    def _after_release(self, lane: Connection) -> None:
        with self._cond:
            self._cond.notify()
            if lane.held == 0:
                self._schedule_sweep_locked(self._idle_seconds)

    # -- closing idle lanes -------------------------------------------------------------------
    def _schedule_sweep_locked(self, delay: float) -> None:
        if self._timer is not None:
            return  # the pending sweep reschedules itself for any lane still idle
        self._timer = threading.Timer(max(delay, 0.0), self._sweep)
        self._timer.daemon = True
        self._timer.name = f"ssh-lane-sweep-{self.name}"
        self._timer.start()

    def _sweep(self) -> None:
        closing: list[Connection] = []
        with self._cond:
            self._timer = None
            now = time.monotonic()
            next_due: float | None = None
            for lane in list(self._lanes):
                if lane.held:
                    continue
                due = lane.idle_since + self._idle_seconds
                if due <= now:
                    self._lanes.remove(lane)
                    self._retired_connects += lane.connect_count
                    closing.append(lane)
                elif next_due is None or due < next_due:
                    next_due = due
            if next_due is not None:
                self._schedule_sweep_locked(next_due - now)
        for lane in closing:
            log.info("closing idle %s of host %s", lane.role, self.name)
            lane.close()

    def close(self) -> None:
        """Close every lane (their streams raise RemoteError); later calls open new ones."""
        with self._cond:
            lanes, self._lanes = self._lanes, []
            self._retired_connects += sum(lane.connect_count for lane in lanes)
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
        for lane in lanes:
            lane.close()
