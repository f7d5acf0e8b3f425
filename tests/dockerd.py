"""A real Docker engine for integration tests: our own dockerd, socket, data root and image.

Why a real daemon and not the simulator: container semantics (labels, detach, `logs`, stop and
kill exit codes, name clashes, "No such image", socket permissions) are what a GPU box does,
and the simulator only imitates them. Debian's docker.io 20.10 runs in these VMs
(/work/shared/test-infrastructure.md §4): dockerd answers ~0.2 s after launch, and an image is
made with `docker import` of a busybox-static rootfs, since no registry is reachable.

What this module takes care of:
  * its own socket, data root, exec root and pidfile under one folder, so it never touches a
    system dockerd (there is none here) or another test session's daemon;
  * `--bridge=none --iptables=false --ip6tables=false`: no docker0 bridge, no firewall rules;
    containers run with `--network none`;
  * the socket belongs to group `docker` and the SSH test user is put in that group, so the
    user reaches the daemon over SSH as on a real box; a second socket in a root-only folder
    is what "not permitted" looks like to that same user;
  * `--shutdown-timeout 1` and removing every container before stopping, so teardown is quick;
  * dockerd is our child (`Popen`), stopped with SIGTERM and reaped by us; overlay mounts
    it leaves behind are unmounted before the folder is deleted.

Usage:
    daemon = DockerDaemon.start()               # needs root and docker.io
    daemon.cli("ps", "-a")                      # the docker CLI against this daemon
    image = daemon.import_busybox_image("cosmos-test/tiny:latest")
    daemon.stop()
"""

from __future__ import annotations

import grp
import logging
import os
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

BUSYBOX = "/bin/busybox"  # from busybox-static: runs with no libraries at all
#: Applets linked in the image's /bin (the job itself runs the host's bash from /usr).
APPLETS = ("sh", "echo", "sleep", "cat", "ls", "true", "false", "env", "id", "date", "seq")
#: Mounts that let a busybox image run the host's programs (bash, python3, ...).
HOST_BINARY_MOUNTS = ("/usr:/usr:ro", "/usr/lib:/lib:ro", "/usr/lib64:/lib64:ro")


class DockerUnavailable(RuntimeError):
    """This machine cannot run the test Docker engine; the message says why."""


def docker_cli() -> str:
    """The docker.io client (matches the daemon), else any docker on PATH."""
    for path in ("/usr/bin/docker", shutil.which("docker")):
        if path and os.access(path, os.X_OK):
            return path
    raise DockerUnavailable("no docker client: apt-get install docker.io")


def ensure_docker_group(user: str | None) -> None:
    """Group `docker` exists and `user` is in it (takes effect at the user's next login)."""
    from tests.sshd import machine_lock

    with machine_lock("users"):
        _ensure_docker_group(user)


def _ensure_docker_group(user: str | None) -> None:
    try:
        group = grp.getgrnam("docker")
    except KeyError:
        subprocess.run(["groupadd", "--system", "docker"], check=True, capture_output=True)
        group = grp.getgrnam("docker")
    if user and user not in group.gr_mem:
        subprocess.run(["usermod", "-aG", "docker", user], check=True, capture_output=True)


def _mounts_under(folder: Path) -> list[str]:
    prefix = str(folder) + "/"
    with open("/proc/mounts") as fh:
        points = [line.split()[1].replace("\\040", " ") for line in fh]
    return [p for p in points if p.startswith(prefix)]


@dataclass
class DockerDaemon:
    """One running dockerd with its own socket, data root and exec root."""

    workdir: Path
    socket: Path
    #: the same daemon behind a root-only folder: what a user without Docker rights meets
    private_socket: Path
    proc: subprocess.Popen[bytes]
    log_path: Path
    cli_path: str
    _log_fh: object = field(repr=False, default=None)

    @classmethod
    def start(cls, *, user: str | None = None, timeout: float = 60.0) -> "DockerDaemon":
        if os.geteuid() != 0:
            raise DockerUnavailable("the test dockerd needs root")
        dockerd = shutil.which("dockerd") or "/usr/sbin/dockerd"
        if not os.access(dockerd, os.X_OK):
            raise DockerUnavailable("dockerd is missing: apt-get install docker.io iptables")
        cli = docker_cli()
        ensure_docker_group(user)
        # short path: containerd's sockets live under the exec root (108-byte limit)
        workdir = Path(tempfile.mkdtemp(prefix="cosmos-dockerd-", dir="/tmp"))
        os.chmod(workdir, 0o755)  # the SSH user must reach the socket inside
        private = workdir / "private"
        private.mkdir(mode=0o700)
        sock, private_sock = workdir / "docker.sock", private / "docker.sock"
        log_path = workdir / "dockerd.log"
        log_fh = open(log_path, "ab")
        proc = subprocess.Popen(
            [dockerd, "--host", f"unix://{sock}", "--host", f"unix://{private_sock}",
             "--group", "docker", "--data-root", str(workdir / "data"),
             "--exec-root", str(workdir / "exec"), "--pidfile", str(workdir / "dockerd.pid"),
             "--bridge=none", "--iptables=false", "--ip6tables=false", "--shutdown-timeout", "1"],
            stdin=subprocess.DEVNULL, stdout=log_fh, stderr=subprocess.STDOUT,
            start_new_session=True)
        daemon = cls(workdir, sock, private_sock, proc, log_path, cli, log_fh)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                break
            if sock.exists() and daemon.cli("version", check=False, timeout=10).returncode == 0:
                log.info("dockerd up at %s", sock)
                return daemon
            time.sleep(0.05)
        tail = log_path.read_text(errors="replace")[-1500:]
        daemon.stop()
        raise DockerUnavailable(f"dockerd did not start within {timeout:g} s: {tail}")

    # -- using it -----------------------------------------------------------------------------
    @property
    def host_arg(self) -> str:
        return f"unix://{self.socket}"

    def command(self, private: bool = False) -> list[str]:
        """The docker command a box's config would use for this daemon."""
        return [self.cli_path, "-H", f"unix://{self.private_socket if private else self.socket}"]

    def cli(self, *args: str, check: bool = True, timeout: float = 60,
            input: bytes | None = None) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run([*self.command(), *args], capture_output=True, timeout=timeout,
                              input=input.decode() if input is not None else None, text=True)
        if check and proc.returncode != 0:
            raise RuntimeError(f"docker {' '.join(args)} failed ({proc.returncode}): "
                               f"{proc.stderr.strip()}")
        return proc

    def containers(self, *filters: str) -> list[dict[str, str]]:
        """`docker ps -a` rows (as dicts) matching every `--filter` given, e.g. label=k=v."""
        import json

        args = ["ps", "-a", "--no-trunc", "--format", "{{json .}}"]
        for flt in filters:
            args += ["--filter", flt]
        out = self.cli(*args).stdout
        return [json.loads(line) for line in out.splitlines() if line.strip()]

    def import_busybox_image(self, name: str = "cosmos-test/tiny:latest") -> str:
        """A ~2 MB image from a busybox-static rootfs (no registry needed); returns its name."""
        if not os.access(BUSYBOX, os.X_OK):
            raise DockerUnavailable(f"{BUSYBOX} is missing: apt-get install busybox-static")
        build = Path(tempfile.mkdtemp(prefix="rootfs-", dir=self.workdir))
        root = build / "rootfs"
        for sub in ("bin", "tmp", "etc", "proc", "sys", "dev", "usr", "lib", "lib64",
                    "workspace"):
            (root / sub).mkdir(parents=True)
        os.chmod(root / "tmp", 0o1777)
        shutil.copy2(BUSYBOX, root / "bin" / "busybox")
        for applet in APPLETS:
            os.symlink("busybox", root / "bin" / applet)
        tarball = build / "rootfs.tar"
        subprocess.run(["tar", "-C", str(root), "-cf", str(tarball), "."], check=True,
                       capture_output=True)
        self.cli("import", str(tarball), name)
        shutil.rmtree(build, ignore_errors=True)
        return name

    # -- teardown -----------------------------------------------------------------------------
    def stop(self, remove: bool = True) -> None:
        if self.proc.poll() is None:
            ids = self.cli("ps", "-aq", check=False, timeout=30).stdout.split()
            if ids:
                self.cli("rm", "-f", *ids, check=False, timeout=60)
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        if self._log_fh is not None:
            self._log_fh.close()  # type: ignore[attr-defined]
            self._log_fh = None
        for point in sorted(_mounts_under(self.workdir), key=len, reverse=True):
            subprocess.run(["umount", "-l", point], capture_output=True)
        if remove and not _mounts_under(self.workdir):
            shutil.rmtree(self.workdir, ignore_errors=True)
