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
LABEL_APP = "cosmos.app"


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


def explain_docker_failure(result: CommandResult, docker: Sequence[str]) -> str:
    """Turn a failed docker call into a cause a person can act on."""
    text = (result.err + "\n" + result.out).strip()
    lower = text.lower()
    if result.exit_code == 127 or "command not found" in lower or "no such file" in lower and \
            docker[0] in lower:
        return (f"'{' '.join(docker)}' is not installed on this box (or not on PATH); install "
                "Docker or set the host's docker command in config.toml")
    if "permission denied" in lower and "docker.sock" in lower:
        return ("permission denied on the Docker socket: add the SSH user to the 'docker' group "
                "or set docker = \"sudo docker\" for this host")
    if "unable to find image" in lower or "no such image" in lower or "pull access denied" in lower:
        return "the Docker image is missing on this box: build or load it there first"
    if "no space left" in lower:
        return "the box's disk is full (no space left on device)"
    if "could not select device driver" in lower:
        return ("Docker cannot give this container GPUs (NVIDIA Container Toolkit missing?); "
                "for a box without GPUs set docker_gpus = false")
    last = text.splitlines()[-1] if text else f"exit {result.exit_code}"
    return last


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

    def stop(self, name: str, grace: int) -> CommandResult:
        return self._run("stop", "-t", str(int(grace)), name, timeout=grace + 60)

    def kill(self, name: str) -> CommandResult:
        return self._run("kill", name, timeout=60)

    def remove(self, name: str) -> CommandResult:
        return self._run("rm", "-f", name, timeout=60)
