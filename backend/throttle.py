"""Slowing down password guessing: growing waits and a temporary lockout per key.

The sign-in page keeps one Throttle for accounts and one for client addresses. Each key
(an account name, an address) may fail `free` times in a row at no cost; after that every
new try must wait twice as long as the one before (1 s, 2 s, 4 s ...), and after
`lockout_after` failures in a row the key is locked for `lockout_seconds`. A successful
sign-in clears the account's and the address's count; a lockout that has run out starts the
count again. A try made while a key must wait is refused without looking at the password,
so waiting it out is the only way on. In memory (the app process is the only one that
serves sign-in); bounded by pruning keys that have been quiet for a lockout's length.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Callable

MAX_KEYS = 100_000


@dataclass
class _Record:
    failures: int = 0
    last: float = 0.0
    locked_until: float = 0.0


@dataclass(frozen=True)
class Verdict:
    """Whether a try may go ahead now; if not, how long to wait and whether it is a lockout."""

    allowed: bool
    wait: float = 0.0
    locked: bool = False
    failures: int = 0


class Throttle:
    def __init__(self, *, free: int, lockout_after: int, lockout_seconds: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if lockout_after <= free:
            raise ValueError("lockout_after must be above free")
        self.free = free
        self.lockout_after = lockout_after
        self.lockout_seconds = lockout_seconds
        self.clock = clock
        self._records: dict[str, _Record] = {}
        self._lock = threading.Lock()

    def _delay(self, failures: int) -> float:
        if failures < self.free:
            return 0.0
        return min(float(2 ** (failures - self.free)), self.lockout_seconds)

    def check(self, key: str) -> Verdict:
        """May `key` try now?"""
        now = self.clock()
        with self._lock:
            record = self._records.get(key)
            if record is None:
                return Verdict(True)
            if record.locked_until:
                if now < record.locked_until:
                    return Verdict(False, record.locked_until - now, True, record.failures)
                del self._records[key]  # the lockout ran out: a fresh start
                return Verdict(True)
            ready = record.last + self._delay(record.failures)
            if now < ready:
                return Verdict(False, ready - now, False, record.failures)
            return Verdict(True, 0.0, False, record.failures)

    def failed(self, key: str) -> Verdict:
        """Count a failure; the wait it imposes on the next try (a lockout past the limit)."""
        now = self.clock()
        with self._lock:
            if len(self._records) >= MAX_KEYS:
                self._prune(now)
            record = self._records.setdefault(key, _Record())
            record.failures += 1
            record.last = now
            if record.failures >= self.lockout_after:
                record.locked_until = now + self.lockout_seconds
                return Verdict(False, self.lockout_seconds, True, record.failures)
            wait = self._delay(record.failures)
            return Verdict(wait == 0, wait, False, record.failures)

    def succeeded(self, key: str) -> None:
        with self._lock:
            self._records.pop(key, None)

    def _prune(self, now: float) -> None:
        quiet = [k for k, r in self._records.items()
                 if max(r.locked_until, r.last + self.lockout_seconds) < now]
        for key in quiet:
            del self._records[key]
        if len(self._records) >= MAX_KEYS:  # under attack from many keys: keep the newest
            for key in sorted(self._records, key=lambda k: self._records[k].last)[
                    :len(self._records) // 2]:
                del self._records[key]
