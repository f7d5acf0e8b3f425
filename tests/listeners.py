"""Which sockets a process listens on, read from /proc (no `ss` or `lsof` needed).

Used by tests/integration/test_loopback.py to prove that every server the test fixtures start
(sshd, dockerd + containerd, slurmctld, slurmd, slurmstepd, the app) is bound to loopback only.

A listener is a TCP socket in state LISTEN, or any bound UDP socket, from /proc/net/tcp, tcp6,
udp and udp6 of our network namespace. Its owner is found by matching the socket inode against
the `socket:[inode]` links in /proc/<pid>/fd.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

_TCP_LISTEN = "0A"


@dataclass(frozen=True)
class Listener:
    proto: str  # "tcp", "tcp6", "udp", "udp6"
    address: str
    port: int
    inode: int

    @property
    def loopback(self) -> bool:
        ip = ipaddress.ip_address(self.address)
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        return ip.is_loopback

    def __str__(self) -> str:
        return f"{self.proto} {self.address}:{self.port}"


def _address(hex_addr: str) -> str:
    """/proc/net's address: 32-bit words in host (little-endian) byte order."""
    raw = bytes.fromhex(hex_addr)
    swapped = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
    return str(ipaddress.ip_address(swapped))


def all_listeners() -> list[Listener]:
    found = []
    for proto in ("tcp", "tcp6", "udp", "udp6"):
        path = Path("/proc/net") / proto
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            fields = line.split()
            local, state, inode = fields[1], fields[3], int(fields[9])
            if proto.startswith("tcp") and state != _TCP_LISTEN:
                continue
            if inode == 0:  # a TIME_WAIT-like leftover owned by nobody
                continue
            host, port = local.split(":")
            found.append(Listener(proto, _address(host), int(port, 16), inode))
    return found


def socket_inodes(pid: int) -> set[int]:
    """Inodes of the sockets open in process `pid` (empty if it is gone)."""
    inodes = set()
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return inodes
    for fd in fds:
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(int(target[8:-1]))
    return inodes


def _parents() -> dict[int, int]:
    parents = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            raw = Path(f"/proc/{entry}/stat").read_bytes()
        except OSError:
            continue
        # the command name may contain spaces and parens: the ppid follows the last ')'
        parents[int(entry)] = int(raw[raw.rindex(b")") + 2:].split()[1])
    return parents


def with_descendants(pids: set[int] | list[int]) -> set[int]:
    """`pids` and every process below them."""
    children: dict[int, list[int]] = {}
    for pid, ppid in _parents().items():
        children.setdefault(ppid, []).append(pid)
    found, todo = set(), list(pids)
    while todo:
        pid = todo.pop()
        if pid not in found:
            found.add(pid)
            todo.extend(children.get(pid, []))
    return found


def processes_with_env(name: str, value: str) -> set[int]:
    """Processes whose environment has name=value (e.g. the slurmstepds of one cluster, which
    slurmd double-forks, so they are not its descendants)."""
    wanted = f"{name}={value}".encode()
    found = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            env = Path(f"/proc/{entry}/environ").read_bytes()
        except OSError:
            continue
        if wanted in env.split(b"\0"):
            found.add(int(entry))
    return found


def processes_mentioning(text: str) -> set[int]:
    """Processes with `text` in their command line (e.g. the containerd shims of one dockerd,
    which name its exec root and hang off PID 1 too)."""
    wanted = text.encode()
    found = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if wanted in Path(f"/proc/{entry}/cmdline").read_bytes():
                found.add(int(entry))
        except OSError:
            continue
    return found


def command_name(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return "?"


def listeners_of(pids: set[int] | list[int]) -> dict[int, list[Listener]]:
    """{pid: its listeners} for the given processes (those with none are left out)."""
    by_inode = {sock.inode: sock for sock in all_listeners()}
    owned = {}
    for pid in pids:
        mine = sorted((by_inode[i] for i in socket_inodes(pid) if i in by_inode),
                      key=lambda s: (s.proto, s.port))
        if mine:
            owned[pid] = mine
    return owned


def describe(owned: dict[int, list[Listener]]) -> str:
    return "; ".join(f"{command_name(pid)}[{pid}]: " + ", ".join(map(str, socks))
                     for pid, socks in sorted(owned.items()))


def non_loopback(owned: dict[int, list[Listener]]) -> dict[int, list[Listener]]:
    bad = {pid: [s for s in socks if not s.loopback] for pid, socks in owned.items()}
    return {pid: socks for pid, socks in bad.items() if socks}
