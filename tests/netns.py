"""A network namespace of its own for a test process: only a loopback interface, nobody else.

Why: with pytest-xdist, several workers start servers and runs on the same machine at once.
Test ports are picked free, but some are not ours to pick: the fake Cosmos' torchrun binds the
master port the app derives from the run id (29500-30499), so two workers' runs collided now and
then ("torchrun's master port ... is already in use (another job on this host?)"), and a free
port probed by one worker could be bound by another before its server started. In a namespace
of its own, a worker and everything it starts (sshd, dockerd, slurmctld/slurmd and their jobs,
the app, Chromium, the simulator's containers) has a loopback of its own: no port is shared
with another worker or with anything else on the machine, and nothing can listen on any
address but loopback, because there is no other.

Linux only, needs root (CAP_SYS_ADMIN). Called from tests/conftest.py in xdist workers only;
a serial run stays in the machine's namespace.
"""

from __future__ import annotations

import ctypes
import fcntl
import os
import socket
import struct

CLONE_NEWNET = 0x40000000
SIOCGIFFLAGS = 0x8913
SIOCSIFFLAGS = 0x8914
SIOCSIFADDR = 0x8916
IFF_UP = 0x1


def enter_own_network_namespace() -> None:
    """Move this process (its calling thread, and every thread and child it starts from now
    on) into a new network namespace, and bring its loopback up. Raises OSError on failure."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"unshare(CLONE_NEWNET): {os.strerror(err)}")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        request = struct.pack("16sH22x", b"lo", 0)  # struct ifreq: name, flags, padding
        flags = struct.unpack("16sH22x", fcntl.ioctl(sock, SIOCGIFFLAGS, request))[1]
        fcntl.ioctl(sock, SIOCSIFFLAGS, struct.pack("16sH22x", b"lo", flags | IFF_UP))
        # A second loopback address (lo:1 127.0.0.2/8). glibc's getaddrinfo with AI_ADDRCONFIG
        # (Slurm uses it to resolve its node name) returns no IPv4 address unless some IPv4
        # address other than 127.0.0.1 is configured; with only 127.0.0.1, slurmd could not
        # resolve `hostname -s` and failed to bind. It is still loopback.
        address = struct.pack("HH4s8x", socket.AF_INET, 0, socket.inet_aton("127.0.0.2"))
        fcntl.ioctl(sock, SIOCSIFADDR, struct.pack("16s16s8x", b"lo:1", address))


def interfaces() -> list[str]:
    """The network interfaces this process sees (just ['lo'] in its own namespace)."""
    return sorted(name for _, name in socket.if_nameindex())
