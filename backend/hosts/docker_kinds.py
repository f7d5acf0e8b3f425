"""The host kinds whose jobs are containers on one box: `local` (this machine) and `ssh`.

Both drive a docker-compatible command (`docker`, `sudo docker`, `podman`, `cosmos-sim`)
through the same DockerEngine; they differ only in how the box is reached.
"""

from __future__ import annotations

from backend.extensions import register_host_kind
from backend.hosts.docker_engine import DockerEngine
from backend.hosts.kind import HostKind


class DockerHostKind(HostKind):
    def engine(self, runtime, store, kill_grace):
        return DockerEngine(runtime.shell, runtime.host.docker)

    def doctor_steps(self):
        from backend.hosts import doctor as d

        from backend.hosts import doctor_setup as ds

        return (d.check_docker, d.check_image, ds.check_gpu_runtime, ds.check_root,
                d.check_checkout, d.check_checkpoints, d.check_models, ds.check_manifests,
                ds.check_hf_token, d.check_hf_cache, d.check_disk, d.check_gpus, ds.check_vram)


class LocalKind(DockerHostKind):
    """The box is this machine (the built-in simulator box, or a workstation with a GPU)."""

    name = "local"

    def remote(self, table) -> bool:
        return False

    def open_shell(self, host, known_hosts):
        from backend.remote.shell import LocalShell

        return LocalShell(host.name)


class SshKind(DockerHostKind):
    """A GPU box reached over SSH (one shared connection; host keys verified)."""

    name = "ssh"

    def remote(self, table) -> bool:
        return True

    def check_table(self, reader) -> None:
        if not reader.table.get("hostname"):
            raise reader.fail("hostname", None, "the SSH host name or ~/.ssh/config alias "
                              "(required for kind = \"ssh\")")

    def open_shell(self, host, known_hosts):
        from backend.remote.ssh import SshShell  # imported lazily: paramiko is slow to import

        return SshShell(host, app_known_hosts=known_hosts)


register_host_kind(LocalKind())
register_host_kind(SshKind())
