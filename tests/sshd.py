"""A real OpenSSH server on 127.0.0.1 with throwaway keys, for integration tests and benchmarks.

Why a real sshd and not a fake: the bugs that hurt (Nagle stalls, host-key handling, quoting,
dropped connections, MaxSessions) live in the interplay with a real server. Debian's sshd is
listening ~30 ms after launch, so one per test session costs nothing.

Pitfalls this module handles (see /work/shared/test-infrastructure.md §1):
  * sshd must be started by absolute path and needs /run/sshd when run as root;
  * with `UsePAM no` a locked account ('!' password) is refused: the user gets '*' instead;
  * `StrictModes no` because the key files may live under world-writable /tmp;
  * `-D -e` as our child, killed and reaped by us (PID 1 here reaps orphans only slowly);
  * the login user has an empty ~/.bashrc and ~/.profile, so a command costs ~4 ms, not 150.

Usage:
    server = SshServer.start()          # needs root
    server.port, server.user, server.client_key, server.known_hosts_line()
    server.kill_connections()           # drop every open connection, keep listening
    server.stop()
"""

from __future__ import annotations

import contextlib
import fcntl
import grp
import logging
import os
import pwd
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

log = logging.getLogger(__name__)

SSHD = "/usr/sbin/sshd"
TEST_USER = "cosmos-sshtest"


class SshdUnavailable(RuntimeError):
    """The machine cannot run the test sshd (not root, or openssh-server missing)."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, check=True, capture_output=True, text=True)


@contextlib.contextmanager
def machine_lock(name: str):
    """An exclusive lock shared by every test process on this machine: the pytest-xdist
    workers of one run, and other runs. Users, groups and /etc/passwd are machine-wide, and
    two workers creating the same user at once would make one `useradd` fail."""
    folder = Path("/run/lock") if os.access("/run/lock", os.W_OK) else Path(tempfile.gettempdir())
    with open(folder / f"cosmos-tests-{name}.lock", "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def ensure_test_user(name: str = TEST_USER) -> pwd.struct_passwd:
    """Create (or repair) the login user: not locked, empty rc files, in group docker."""
    with machine_lock("users"):
        return _ensure_test_user(name)


def _ensure_test_user(name: str) -> pwd.struct_passwd:
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        _run(["useradd", "-m", "-s", "/bin/bash", "-p", "*", name])
        entry = pwd.getpwnam(name)
    else:
        # a locked account ('!...') is refused by sshd with UsePAM no
        locked = True
        for line in Path("/etc/shadow").read_text().splitlines():
            fields = line.split(":")
            if fields[0] == name and len(fields) > 1:
                locked = fields[1].startswith("!")
        if locked:
            _run(["usermod", "-p", "*", name])
    home = Path(entry.pw_dir)
    home.mkdir(parents=True, exist_ok=True)
    os.chown(home, entry.pw_uid, entry.pw_gid)
    for rc in (".bashrc", ".profile", ".bash_profile", ".bash_login"):
        path = home / rc
        if rc in (".bashrc", ".profile") or path.exists():
            # empty, so the remote shell starts fast (root's pyenv init costs 110-160 ms)
            path.write_text("")
            os.chown(path, entry.pw_uid, entry.pw_gid)
    try:
        docker = grp.getgrnam("docker")
    except KeyError:
        pass
    else:
        if name not in docker.gr_mem:
            _run(["usermod", "-aG", "docker", name])
    return pwd.getpwnam(name)


def ensure_user_can_execute(user: str, program: str) -> list[str]:
    """Make `program` (following symlinks) reachable for `user`; return the dirs opened.

    The project venv's interpreter is a symlink into /root/.pyenv and /root is 0700 on these
    machines, so the SSH test user could not start it. Only the search bit (o+x) is added,
    and only on the directories that lack it: nothing becomes listable or readable that was
    not already.
    """
    changed: list[str] = []
    target = Path(os.path.realpath(program))
    for parent in reversed(target.parents):
        mode = parent.stat().st_mode
        if not mode & stat.S_IXOTH:
            os.chmod(parent, stat.S_IMODE(mode) | stat.S_IXOTH)
            changed.append(str(parent))
    probe = subprocess.run(["runuser", "-u", user, "--", program, "-c", "pass"],
                           capture_output=True, text=True)
    if probe.returncode != 0:
        raise SshdUnavailable(f"user {user} cannot run {program}: {probe.stderr.strip()}")
    if changed:
        log.warning("gave other users search (x) permission on %s so %s can run %s",
                    ", ".join(changed), user, program)
    return changed


def _keygen(path: Path, comment: str, passphrase: str = "") -> None:
    _run(["ssh-keygen", "-q", "-t", "ed25519", "-N", passphrase, "-C", comment, "-f", str(path)])


@dataclass
class SshServer:
    """One running `sshd -D -e` on 127.0.0.1 and the throwaway material it uses."""

    workdir: Path
    port: int
    user: str
    host_key: Path
    client_key: Path
    log_path: Path
    proc: subprocess.Popen[bytes]
    _log_fh: object = field(repr=False, default=None)

    # -- construction -------------------------------------------------------------------------
    @classmethod
    def start(cls, user: str = TEST_USER, workdir: Path | None = None) -> "SshServer":
        if os.geteuid() != 0:
            raise SshdUnavailable("the test sshd needs root (it serves another user's logins)")
        if not os.access(SSHD, os.X_OK):
            raise SshdUnavailable(f"{SSHD} is missing: apt-get install openssh-server")
        ensure_test_user(user)
        # not under pytest's tmp_path: /tmp/pytest-of-root is 0700 and sshd reads the
        # authorized_keys file with the login user's rights
        workdir = Path(workdir or tempfile.mkdtemp(prefix="cosmos-sshd-"))
        workdir.mkdir(parents=True, exist_ok=True)
        # sshd reads AuthorizedKeysFile with the user's privileges: the dir must be searchable
        os.chmod(workdir, 0o755)
        host_key = workdir / "host_ed25519"
        client_key = workdir / "client_ed25519"
        _keygen(host_key, "cosmos-test-host")
        _keygen(client_key, "cosmos-test-client")
        authorized = workdir / "authorized_keys"
        shutil.copyfile(client_key.with_suffix(".pub"), authorized)
        os.chmod(authorized, 0o644)
        Path("/run/sshd").mkdir(mode=0o755, parents=True, exist_ok=True)
        last_error = ""
        for _ in range(5):  # a free port may be taken between probing and binding
            port = free_port()
            config = workdir / "sshd_config"
            config.write_text("\n".join([
                f"Port {port}",
                "ListenAddress 127.0.0.1",
                f"HostKey {host_key}",
                f"PidFile {workdir / 'sshd.pid'}",
                f"AuthorizedKeysFile {authorized}",
                "PubkeyAuthentication yes",
                "PasswordAuthentication no",
                "KbdInteractiveAuthentication no",
                "UsePAM no",
                "StrictModes no",
                "Subsystem sftp internal-sftp",
                "LogLevel VERBOSE",
                "PermitRootLogin prohibit-password",
                # Many tests connect at once; the default 10:30:100 drops some of them.
                "MaxStartups 100",
                "",
            ]))
            _run([SSHD, "-t", "-f", str(config)])
            log_path = workdir / "sshd.log"
            log_fh = open(log_path, "ab")
            proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(config)], stdin=subprocess.DEVNULL,
                                    stdout=log_fh, stderr=subprocess.STDOUT)
            server = cls(workdir, port, user, host_key, client_key, log_path, proc, log_fh)
            if server._wait_ready(30.0):  # ~30 ms idle; generous for a loaded machine
                return server
            last_error = log_path.read_text(errors="replace")[-500:]
            server.stop(remove=False)
        raise SshdUnavailable(f"sshd did not start: {last_error}")

    def _wait_ready(self, timeout: float) -> bool:
        """True once the port answers with an SSH banner (~30 ms after launch)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                    if sock.recv(64).startswith(b"SSH-2.0-"):
                        return True
            except OSError:
                time.sleep(0.01)
        return False

    # -- what tests need ----------------------------------------------------------------------
    @property
    def host(self) -> str:
        return "127.0.0.1"

    @property
    def host_public_key(self) -> str:
        """`ssh-ed25519 AAAA... comment` of the server."""
        return self.host_key.with_suffix(".pub").read_text().strip()

    def known_hosts_line(self, host: str | None = None) -> str:
        """A known_hosts line for this server, in OpenSSH's `[host]:port` form."""
        keytype, blob = self.host_public_key.split()[:2]
        return f"[{host or self.host}]:{self.port} {keytype} {blob}\n"

    def make_client_key(self, name: str, passphrase: str = "", authorize: bool = True) -> Path:
        """Another client key (e.g. an encrypted one), optionally authorized for login."""
        path = self.workdir / name
        _keygen(path, f"cosmos-test-{name}", passphrase)
        if authorize:
            with open(self.workdir / "authorized_keys", "a") as fh:
                fh.write(path.with_suffix(".pub").read_text())
        return path

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def accepted_logins(self) -> int:
        """How many connections logged in so far (each is one `Accepted publickey` line)."""
        return self.log_text().count("Accepted publickey for ")

    def _descendants(self) -> list[list[int]]:
        """The listener's descendants, level by level (children first, then grandchildren)."""
        children: dict[int, list[int]] = {}
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat", "rb") as fh:
                    raw = fh.read()
            except OSError:
                continue
            # the command name may contain spaces and parens: the ppid follows the last ')'
            ppid = int(raw[raw.rindex(b")") + 2:].split()[1])
            children.setdefault(ppid, []).append(int(entry))
        levels: list[list[int]] = []
        level = children.get(self.proc.pid, [])
        while level:
            levels.append(level)
            level = [c for pid in level for c in children.get(pid, [])]
        return levels

    def kill_connections(self) -> int:
        """SIGKILL every per-connection sshd process (and its sessions), keep the listener.

        To the client this looks like a dropped network connection: the TCP socket is reset.
        Returns once every killed process is dead (a zombie holds no socket). Orphaned zombies
        are reaped by PID 1, which on these VMs takes a second or two; waiting for that (or
        killing level by level so parents reap) cost 1-2 s per call for nothing.
        Returns how many processes were killed.
        """
        pids = [pid for level in self._descendants() for pid in level]
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 5
        while not all(_dead(pid) for pid in pids) and time.monotonic() < deadline:
            time.sleep(0.005)
        return len(pids)

    @contextlib.contextmanager
    def outage(self) -> Iterator[None]:
        """The box goes away for the block: connections drop and new ones are refused (the
        listener is stopped); afterwards it listens again on the same port with the same keys,
        as a rebooted box or a restarted sshd would."""
        # stopped first, so the listener forks no new session between the cut and its end (a
        # poller reconnecting in that gap kept a live connection through the whole outage)
        os.kill(self.proc.pid, signal.SIGSTOP)
        self.kill_connections()
        self.proc.kill()
        self.proc.wait(5)
        try:
            yield
        finally:
            self.proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(self.workdir / "sshd_config")],
                                         stdin=subprocess.DEVNULL, stdout=self._log_fh,
                                         stderr=subprocess.STDOUT)
            if not self._wait_ready(10.0):
                raise SshdUnavailable("sshd did not come back after the outage")

    def stop(self, remove: bool = True) -> None:
        """Kill the listener and its connections, reap it, and delete the keys."""
        if self.proc.poll() is None:
            self.kill_connections()
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self._log_fh is not None:
            self._log_fh.close()  # type: ignore[attr-defined]
            self._log_fh = None
        if remove:
            shutil.rmtree(self.workdir, ignore_errors=True)


def _dead(pid: int) -> bool:
    """Gone, or a zombie (its sockets are closed; only the exit status is left)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            raw = fh.read()
    except OSError:
        return True
    return raw[raw.rindex(b")") + 2:].split()[0] == b"Z"
