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
