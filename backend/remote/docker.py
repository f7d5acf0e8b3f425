"""Container operations on a box, through whatever docker-compatible command it has.

The docker command is configuration (`docker`, `sudo docker`, `podman`, `cosmos-sim`); the
code path is the same for all of them. Containers are always addressed by their full name or
found by label, never by image, so a kill reaches exactly one run's container.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Sequence

from backend.remote.shell import CommandResult, RemoteError, Shell

log = logging.getLogger(__name__)

LABEL_RUN = "cosmos.run"
LABEL_APP = "cosmos.app"  # the installation (data directory) that started it
LABEL_OWNER = "cosmos.owner"  # who launched the run (shown to other installations)
LABEL_GPUS = "cosmos.gpus"  # the box's GPU ids it was given, "0,1" (other installations avoid them)


@dataclass(frozen=True)
class ContainerState:
    """What `inspect` says about a container, reduced to what the executor decides on."""

    id: str
    name: str
    status: str  # created | running | exited | dead | ...
    exit_code: int | None
    labels: dict[str, str]

    @property
    def running(self) -> bool:
        return self.status in ("created", "running", "restarting", "paused")


#: Lines docker prints after the error that say nothing about it.
_NOISE = ("see 'docker", "run 'docker", "run '", "see '")


def _line_with(text: str, *needles: str) -> str:
    """The first line of `text` that contains one of `needles` (case-insensitive), trimmed."""
    for line in text.splitlines():
        low = line.lower()
        if any(n in low for n in needles):
            return line.strip()
    return ""


def explain_docker_failure(result: CommandResult, docker: Sequence[str]) -> str:
    """Turn a failed docker call into a cause a person can act on.

    Matches what docker (20.10 and later), podman, sudo and the shell actually print; the
    daemon's own words are kept after the explanation so nothing is hidden.
    """
    text = (result.err + "\n" + result.out).strip()
    lower = text.lower()
    command = " ".join(docker)
    from_daemon = "error response from daemon" in lower or "oci runtime" in lower
    if not from_daemon and (result.exit_code == 127 or "command not found" in lower or (
            "no such file or directory" in lower and docker[0].lower() in lower)):
        return (f"'{command}' is not installed on this box (or not on PATH); install "
                "Docker or set the host's docker command in config.toml")
    if "permission denied" in lower and ("docker.sock" in lower or "docker daemon socket" in lower
                                         or "docker api" in lower):
        return ("permission denied on the Docker socket: the SSH user may not use Docker; add "
                "it to the 'docker' group (then log in again) or set docker = \"sudo docker\" "
                "for this host")
    if lower.startswith("sudo:") or "\nsudo:" in lower:
        return (f"'{command}' needs a password for sudo, which the app cannot type; allow "
                "passwordless sudo for docker or add the SSH user to the 'docker' group")
    if "cannot connect to the docker daemon" in lower or "is the docker daemon running" in lower:
        return ("Docker is installed but its daemon is not running (or not at the address "
                "given) on this box; start it, e.g. `sudo systemctl start docker`")
    if any(n in lower for n in ("unable to find image", "no such image", "pull access denied",
                                "manifest unknown", "repository does not exist",
                                "image not known")):
        detail = _line_with(text, "no such image", "pull access denied", "manifest unknown",
                            "repository does not exist", "image not known",
                            "unable to find image")
        return (f"the Docker image is missing on this box ({detail}): build or load it "
                "there first (`docker images` lists what it has)")
    if "no space left" in lower:
        return "the box's disk is full (no space left on device)"
    if "could not select device driver" in lower:
        return ("Docker cannot give this container GPUs (NVIDIA Container Toolkit missing?); "
                "for a box without GPUs set docker_gpus = false")
    if "executable file not found" in lower or "no such file or directory: unknown" in lower:
        detail = _line_with(text, "executable file not found", "no such file or directory")
        return (f"the image cannot start the job: a program is missing inside it ({detail}); "
                "the job runs `bash job.sh`, so the image needs bash")
    if "bind source path does not exist" in lower or "invalid mount config" in lower:
        detail = _line_with(text, "bind source path does not exist", "invalid mount config")
        return (f"a folder to mount into the container does not exist on the box ({detail}); "
                "check remote_root, cosmos_checkout, hf_home and extra_mounts")
    if "is already in use by container" in lower:
        return ("a container with this run's name already exists on the box (left from an "
                "earlier attempt?); remove it with `docker rm -f` and run again")
    lines = [line.strip() for line in text.splitlines()
             if line.strip() and not line.strip().lower().startswith(_NOISE)]
    return lines[-1] if lines else f"exit {result.exit_code}"


class DockerClient:
    def __init__(self, shell: Shell, docker: Sequence[str]) -> None:
        self.shell = shell
        self.docker = tuple(docker)

    def _run(self, *args: str, timeout: float = 120) -> CommandResult:
        return self.shell.run(self.docker + args, timeout=timeout)

    def run_detached(self, run_argv: Sequence[str]) -> str:
        """Start a container from a full `docker run -d ...` argv; return its id."""
        result = self.shell.run(run_argv, timeout=300)
        if not result.ok:
            raise RemoteError(explain_docker_failure(result, self.docker))
        lines = result.out.strip().splitlines()
        if not lines:
            raise RemoteError("docker run printed no container id")
        return lines[-1].strip()

    def inspect(self, name: str) -> ContainerState | None:
        result = self._run("inspect", name, timeout=60)
        if not result.ok:
            if "no such" in (result.err + result.out).lower():
                return None
            raise RemoteError(explain_docker_failure(result, self.docker))
        data = json.loads(result.out)
        if not data:
            return None
        item = data[0]
        state = item.get("State") or {}
        status = state.get("Status") or ("running" if state.get("Running") else "exited")
        exit_code = state.get("ExitCode") if status not in ("created", "running") else None
        return ContainerState(
            id=item.get("Id", ""),
            name=(item.get("Name") or "").lstrip("/"),
            status=status,
            exit_code=exit_code,
            labels=(item.get("Config") or {}).get("Labels") or {},
        )

    def list_by_label(self, label: str) -> list[dict[str, str]]:
        """All containers (running or not) carrying `label` (k or k=v), one dict each."""
        result = self._run("ps", "-a", "--no-trunc", "--filter", f"label={label}",
                           "--format", "{{json .}}", timeout=60)
        if not result.ok:
            raise RemoteError(explain_docker_failure(result, self.docker))
        return [json.loads(line) for line in result.out.splitlines() if line.strip()]

    def list_all(self) -> list[dict[str, str]]:
        """Every container on the box (running or not), ours or anyone's."""
        result = self._run("ps", "-a", "--no-trunc", "--format", "{{json .}}", timeout=60)
        if not result.ok:
            raise RemoteError(explain_docker_failure(result, self.docker))
        return [json.loads(line) for line in result.out.splitlines() if line.strip()]

    def stop(self, name: str, grace: int) -> CommandResult:
        return self._run("stop", "-t", str(int(grace)), name, timeout=grace + 60)

    def kill(self, name: str) -> CommandResult:
        return self._run("kill", name, timeout=60)

    def remove(self, name: str) -> CommandResult:
        return self._run("rm", "-f", name, timeout=60)
