"""Integration fixtures: a real OpenSSH server on 127.0.0.1 and a host config that logs into it.

`sshd` is one server for the whole session (throwaway host and client keys, test user
`cosmos-sshtest` with an empty .bashrc). `ssh_host` is a `HostConfig` of kind "ssh" whose
remote_root is a fresh folder owned by the test user and whose docker command is the built-in
simulator engine, run by the test user through the project venv. `ssh_shell` is an `SshShell`
on it, isolated from root's own ~/.ssh (no config, no known_hosts, no agent, no default keys).

Needs root (sshd serves another user's logins); without root these tests are skipped.
"""

from __future__ import annotations

import os
import pwd
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Iterator

import pytest

from backend.config import HostConfig
from tests.sshd import SshdUnavailable, SshServer, ensure_user_can_execute


@pytest.fixture(scope="session")
def sshd() -> Iterator[SshServer]:
    try:
        server = SshServer.start()
    except SshdUnavailable as exc:
        pytest.skip(f"no test sshd: {exc}")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def remote_python(sshd: SshServer) -> str:
    """The venv interpreter, made runnable for the SSH test user (see ensure_user_can_execute:
    the venv's python links into /root/.pyenv, and /root is 0700 here)."""
    python = str(Path(sys.executable))
    ensure_user_can_execute(sshd.user, python)
    return python


@pytest.fixture
def remote_root(sshd: SshServer) -> Iterator[str]:
    """A folder on the "box" owned by the SSH user (pytest's tmp_path is root-only)."""
    path = tempfile.mkdtemp(prefix="cosmos-remote-", dir="/tmp")
    entry = pwd.getpwnam(sshd.user)
    os.chown(path, entry.pw_uid, entry.pw_gid)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def app_known_hosts(tmp_path: Path, sshd: SshServer) -> Path:
    """The app's own known_hosts file, already trusting the test server."""
    path = tmp_path / "known_hosts"
    path.write_text(sshd.known_hosts_line())
    return path


@pytest.fixture
def ssh_host(sshd: SshServer, remote_root: str, remote_python: str) -> HostConfig:
    return HostConfig(
        name="sshbox",
        kind="ssh",
        docker=(remote_python, "-m", "backend.simulator.engine", "--root",
                f"{remote_root}/engine"),
        remote_root=remote_root,
        cosmos_checkout=f"{remote_root}/cosmos-transfer1",
        image="cosmos-sim/transfer1:latest",
        gpus=(0, 1),
        max_concurrent=2,
        simulated=True,
        same_paths_in_container=True,
        hostname=sshd.host,
        port=sshd.port,
        user=sshd.user,
        identity_file=str(sshd.client_key),
    )


@pytest.fixture
def isolated_ssh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict:
    """SshShell keyword arguments that ignore root's own ~/.ssh and any running agent."""
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    monkeypatch.delenv("COSMOS_SSH_CONFIG", raising=False)
    return {"ssh_config": tmp_path / "no-ssh-config", "user_known_hosts": [],
            "use_agent": False, "look_for_keys": False}


@pytest.fixture
def ssh_shell(ssh_host: HostConfig, app_known_hosts: Path, isolated_ssh: dict):
    from backend.remote.ssh import SshShell

    shell = SshShell(ssh_host, app_known_hosts=app_known_hosts, **isolated_ssh)
    yield shell
    shell.close()


# -- whole runs on boxes over SSH: the simulator engine or a real Docker engine ----------------
# Used by test_remote_runs.py and test_real_docker.py. An app config is written as TOML and read
# with load_config, like a person's; its data folder trusts the test sshd's host key.

import json  # noqa: E402
import subprocess  # noqa: E402
from dataclasses import dataclass  # noqa: E402

from tests.dockerd import HOST_BINARY_MOUNTS, DockerDaemon, DockerUnavailable  # noqa: E402

SHIMS = Path(__file__).resolve().parents[2] / "backend" / "simulator" / "shims"
#: Where the fake Cosmos finds its helpers inside a real container.
CONTAINER_SHIMS = "/opt/cosmos-sim/shims"
CONTAINER_FFMPEG_DIR = "/opt/cosmos-sim/ffmpeg"
CONTAINER_PATH = f"{CONTAINER_SHIMS}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@pytest.fixture(scope="session")
def dockerd(sshd: SshServer) -> Iterator[DockerDaemon]:
    """One real dockerd for the session; its socket is usable by the SSH test user."""
    try:
        daemon = DockerDaemon.start(user=sshd.user)
    except DockerUnavailable as exc:
        pytest.skip(f"no test Docker engine: {exc}")
    yield daemon
    daemon.stop()


@pytest.fixture(scope="session")
def docker_image(dockerd: DockerDaemon) -> str:
    """A busybox-static image; host binaries come in through read-only mounts."""
    return dockerd.import_busybox_image("cosmos-test/tiny:latest")


def toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):  # keys that are not bare ("transfer2.5") are quoted
        return "{ " + ", ".join(f"{k if k.replace('_', '').replace('-', '').isalnum() else json.dumps(k)}"
                                f" = {toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"no TOML for {value!r}")


def write_app_config(folder: Path, boxes: dict[str, dict], *, stale_worker_seconds: float = 3.0,
                     poll_interval: float = 0.1, kill_grace: int = 3,
                     telemetry_interval: float = 1.0, trust_sshd: SshServer | None = None
                     ) -> Path:
    """A config.toml with one [hosts.<name>] table per box; data in `folder`/data."""
    lines = [f"data_dir = {toml_value(str(folder / 'data'))}", "[scheduler]",
             f"poll_interval = {poll_interval}", f"kill_grace = {kill_grace}",
             f"telemetry_interval = {telemetry_interval}",
             f"stale_worker_seconds = {stale_worker_seconds}"]
    for name, table in boxes.items():
        lines.append(f"[hosts.{name}]")
        lines += [f"{key} = {toml_value(value)}" for key, value in table.items()]
    path = folder / "config.toml"
    path.write_text("\n".join(lines) + "\n")
    if trust_sshd is not None:
        (folder / "data").mkdir(parents=True, exist_ok=True)
        (folder / "data" / "known_hosts").write_text(trust_sshd.known_hosts_line())
    return path


def ssh_login(sshd: SshServer) -> dict:
    return {"kind": "ssh", "hostname": sshd.host, "port": sshd.port, "user": sshd.user,
            "identity_file": str(sshd.client_key)}


def sim_box_table(sshd: SshServer, remote_root: str, remote_python: str, *,
                  seconds: float = 2.0, **over) -> dict:
    """A box over SSH whose engine is cosmos-sim, run by the SSH user."""
    engine = f"{remote_python} -m backend.simulator.engine --root {remote_root}/engine"
    table = dict(ssh_login(sshd), docker=engine, gpu_query=f"{engine} nvidia-smi",
                 remote_root=remote_root, cosmos_checkout=f"{remote_root}/cosmos-transfer1",
                 image="cosmos-sim/transfer1:latest", gpus=[0, 1], max_concurrent=2,
                 simulated=True, same_paths_in_container=True,
                 env={"COSMOS_SIM_SECONDS": str(seconds)})
    table.update(over)
    return table


def docker_box_table(sshd: SshServer, remote_root: str, daemon: DockerDaemon, image: str, *,
                     seconds: float = 2.0, private_socket: bool = False, **over) -> dict:
    """A box over SSH with a real Docker engine and the fake Cosmos inside the container.

    No GPU flags (docker_gpus = false): the fake Cosmos counts GPUs from COSMOS_SIM_GPUS. The
    busybox image runs the host's bash and python3 from read-only mounts of /usr, /lib, /lib64;
    torchrun is the simulator's shim and ffmpeg the static one from imageio-ffmpeg, each
    mounted read-only.
    """
    import imageio_ffmpeg

    ffmpeg = Path(imageio_ffmpeg.get_ffmpeg_exe())
    table = dict(
        ssh_login(sshd), docker=" ".join(daemon.command(private=private_socket)),
        remote_root=remote_root, cosmos_checkout=f"{remote_root}/cosmos-transfer1",
        image=image, gpus=[0, 1], max_concurrent=2, simulated=True, docker_gpus=False,
        network="none",
        extra_mounts=[*HOST_BINARY_MOUNTS, f"{SHIMS}:{CONTAINER_SHIMS}:ro",
                      f"{ffmpeg.parent}:{CONTAINER_FFMPEG_DIR}:ro"],
        env={"COSMOS_SIM_SECONDS": str(seconds), "COSMOS_SIM_GPUS": "2",
             "COSMOS_SIM_FFMPEG": f"{CONTAINER_FFMPEG_DIR}/{ffmpeg.name}",
             "PATH": CONTAINER_PATH})
    table.update(over)
    return table


@dataclass
class Engine:
    """How a test builds a box of one engine kind and looks at its containers directly."""

    kind: str  # "sim" | "docker"
    sshd: SshServer
    remote_python: str
    daemon: DockerDaemon | None = None
    image: str | None = None

    def table(self, remote_root: str, **over) -> dict:
        if self.kind == "docker":
            return docker_box_table(self.sshd, remote_root, self.daemon, self.image, **over)
        return sim_box_table(self.sshd, remote_root, self.remote_python, **over)

    def containers(self, remote_root: str, label: str) -> list[dict]:
        """Containers carrying `label`, asked of the engine itself (not through our code)."""
        if self.kind == "docker":
            return self.daemon.containers(f"label={label}")
        out = subprocess.run(
            ["runuser", "-u", self.sshd.user, "--", self.remote_python, "-m",
             "backend.simulator.engine", "--root", f"{remote_root}/engine", "ps", "-a",
             "--no-trunc", "--filter", f"label={label}", "--format", "{{json .}}"],
            capture_output=True, text=True, check=True, cwd="/").stdout
        return [json.loads(line) for line in out.splitlines() if line.strip()]


@pytest.fixture(params=["sim", "docker"])
def engine(request, sshd: SshServer, remote_python: str) -> Engine:
    """Each test using it runs twice: cosmos-sim over SSH, and real Docker over SSH."""
    if request.param == "docker":
        image = request.getfixturevalue("docker_image")
        return Engine("docker", sshd, remote_python, request.getfixturevalue("dockerd"), image)
    return Engine("sim", sshd, remote_python)


@pytest.fixture
def no_user_ssh(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict:
    """The app's SSH ignores root's ~/.ssh/config and agent (env for worker processes too)."""
    monkeypatch.setenv("COSMOS_SSH_CONFIG", str(tmp_path / "no-ssh-config"))
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    return {"COSMOS_SSH_CONFIG": str(tmp_path / "no-ssh-config")}
