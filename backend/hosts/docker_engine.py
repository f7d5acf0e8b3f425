"""The Engine of a box with Docker (or podman, or the simulator's cosmos-sim): containers.

Exit is noticed by `docker wait` held open on the box (the engine answers the moment the
container stops), not by polling inspect; the wait runs as a Stream, so a follower that stops
early closes it instead of leaving it behind.
"""

from __future__ import annotations

import logging
from typing import Any, Mapping, Sequence

from backend.hosts.kind import Cancel
from backend.remote.docker import ContainerState, DockerClient
from backend.remote.shell import CommandResult, RemoteError, Shell

log = logging.getLogger(__name__)


class DockerEngine:
    def __init__(self, shell: Shell, docker: Sequence[str]) -> None:
        self.shell = shell
        self.client = DockerClient(shell, docker)

    def launch(self, plan, runs) -> str:
        """`docker run -d`; if the call fails, ask the box whether the container started anyway.

        A connection can drop after the box received `docker run` but before its answer came
        back: the container then runs and must be followed, not reported as failed (and a retry
        would clash on its name). A container left merely "created" by a failed start is
        removed, so it does not linger as an orphan.
        """
        try:
            return self.client.run_detached(plan.docker_argv)
        except RemoteError as exc:
            try:
                state = self.client.inspect(plan.container_name)
            except RemoteError:
                raise exc from None
            if state is None:
                raise
            if state.status != "created":
                log.warning("docker run reported %r, but container %s is %s: following it",
                            str(exc), plan.container_name, state.status)
                return state.id
            removed = self.client.remove(plan.container_name)
            if not removed.ok:
                log.warning("could not remove the unstarted container %s: %s",
                            plan.container_name, removed.err.strip())
            raise

    def state(self, name: str) -> ContainerState | None:
        return self.client.inspect(name)

    def wait_exit(self, name: str, cancel: Cancel) -> ContainerState | None:
        state = self.client.inspect(name)
        if state is None or not state.running:
            return state
        stream = self.shell.open_stream([*self.client.docker, "wait", name])
        cancel.on_cancel(stream.close)
        printed = b""
        try:
            while (chunk := stream.read(None)) is not None:
                printed += chunk
        except RemoteError:
            if cancel.cancelled:
                return None
            state = self.client.inspect(name)  # `wait` refused: no such container?
            if state is not None and state.running:
                raise
            return state
        finally:
            stream.close()
        if cancel.cancelled:
            return None
        code = printed.decode("utf-8", "replace").strip().splitlines()
        if code and code[-1].strip().lstrip("-").isdigit():
            # what `wait` printed is all the lifecycle needs: no second call to the engine
            return ContainerState(id=state.id, name=state.name, status="exited",
                                  exit_code=int(code[-1]), labels=state.labels)
        return self.client.inspect(name)

    def stop(self, name: str, grace: int) -> CommandResult:
        return self.client.stop(name, grace)

    def kill(self, name: str) -> CommandResult:
        return self.client.kill(name)

    def remove(self, name: str) -> CommandResult:
        return self.client.remove(name)

    def list_ours(self, label: str) -> list[dict[str, str]]:
        return self.client.list_by_label(label)

    def list_all(self) -> list[dict[str, str]]:
        return self.client.list_all()

    def explain_end(self, name: str, ends: Mapping[str, str]) -> dict[str, dict[str, Any]]:
        """A container's end is said by its exit code and log: nothing to add."""
        return {}
