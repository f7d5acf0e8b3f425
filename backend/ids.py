"""Collision-free, time-sortable identifiers that are safe in paths and container names.

A ULID-style id: 48 bits of milliseconds then 80 random bits, in lowercase Crockford base32
(26 characters of [0-9a-z] without i, l, o, u). Lowercase because Docker container names and
some filesystems are happier with it; time-first so `ORDER BY id` is creation order. Within one
process ids are strictly increasing even inside one millisecond, by a random step so that
siblings made together do not share a long prefix.
"""

from __future__ import annotations

import re
import secrets
import threading
import time

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
_ID_RE = re.compile(r"^[0-9abcdefghjkmnpqrstvwxyz]{26}$")
_lock = threading.Lock()
_last = (0, 0)
#: ids made in one millisecond differ from about the third random character on
_STEP_BITS = 66


def _encode(value: int, length: int) -> str:
    chars = []
    for _ in range(length):
        chars.append(_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def new_id() -> str:
    """A fresh id; monotonic within the process."""
    global _last
    with _lock:
        ms = int(time.time() * 1000)
        last_ms, last_rand = _last
        if ms <= last_ms:
            # Still increasing, but by a random step so ids made in one millisecond (a batch)
            # differ early: a short prefix typed from `cosmos list` stays unambiguous.
            ms, rand = last_ms, last_rand + 1 + secrets.randbits(_STEP_BITS)
            if rand >> 80:
                ms, rand = ms + 1, secrets.randbits(79)
        else:
            rand = secrets.randbits(79)  # headroom for the steps above
        _last = (ms, rand)
    return _encode(ms, 10) + _encode(rand & ((1 << 80) - 1), 16)


def is_valid_id(text: str) -> bool:
    """True for strings new_id could have made (used before an id reaches a path or command)."""
    return bool(_ID_RE.match(text or ""))


def id_time(identifier: str) -> float:
    """Creation time (epoch seconds) encoded in an id."""
    ms = 0
    for ch in identifier[:10]:
        ms = (ms << 5) | _ALPHABET.index(ch)
    return ms / 1000.0


def instance_id(data_dir) -> str:
    """A stable id for this installation (data directory), written once; it labels our
    containers, so two installations on one box can tell theirs apart."""
    path = data_dir / "instance_id"
    if path.exists():
        return path.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    value = new_id()
    path.write_text(value)
    return value
