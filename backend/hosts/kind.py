"""The contract of a host kind, and of the engine that runs a kind's jobs.

A host kind answers every question whose answer depends on what sort of box a host is: which
config keys it reads, how it is reached (a local shell, SSH), who places GPUs (our scheduler,
or a cluster scheduler such as Slurm), how a job is started, watched and stopped (its
Engine), and which doctor checks prove it ready. The generic code (config, scheduler,
lifecycle, doctor, host monitor) asks the kind and never branches on its name.
Register a new kind in backend/extensions.py.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, ClassVar, Mapping, Protocol, Sequence

from backend.config.hosts import HostConfig
from backend.config.reader import Reader
from backend.remote.docker import ContainerState
from backend.remote.shell import CommandResult, Shell

#: Type names used below that live above this module (kept as names: no import cycle):
#:   HostRuntime  backend/hosts/runtime.py   LaunchPlan  backend/runs/plan.py
#:   Run          backend/store/models.py
HostRuntime = LaunchPlan = Run = Any


class Cancel:
    """A stop signal for a blocking call, that can also close what the call holds open (a
    `docker wait` channel): `on_cancel(fn)` runs fn at cancel time, or at once if already."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._hooks: list[Callable[[], None]] = []
        self._lock = threading.Lock()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def wait(self, seconds: float) -> bool:
        return self._event.wait(seconds)

    def on_cancel(self, hook: Callable[[], None]) -> None:
        with self._lock:
            if not self._event.is_set():
                self._hooks.append(hook)
                return
        hook()

    def cancel(self) -> None:
        with self._lock:
            self._event.set()
            hooks, self._hooks = self._hooks, []
        for hook in hooks:
            hook()


class Engine(Protocol):
    """How one host's jobs (containers, or cluster jobs) are started, watched and stopped.

    A job is named `cosmos-<run or batch id>` (its container name, or its Slurm job name) and
    addressed only by that name, so a kill reaches exactly one run's job.
    """

    def launch(self, plan: LaunchPlan, runs: Sequence[Run]) -> str:
        """Start the job the plan describes for these runs; its id. RemoteError if it did
        not start (and nothing was left running)."""
        ...

    def state(self, name: str) -> ContainerState | None:
        """The job's state now; None if the box knows no job of that name."""
        ...

    def wait_exit(self, name: str, cancel: Cancel) -> ContainerState | None:
        """Block until the job is over (its final state; None if it vanished) or `cancel`
        fires (then return None at once). RemoteError when the box cannot be asked."""
        ...

    def stop(self, name: str, grace: int) -> CommandResult: ...

    def kill(self, name: str) -> CommandResult: ...

    def remove(self, name: str) -> CommandResult: ...

    def list_ours(self, label: str) -> list[dict[str, str]]:
        """Jobs carrying `label` (k=v), as `docker ps --format '{{json .}}'` rows."""
        ...

    def list_all(self) -> list[dict[str, str]]:
        """Every job (container) on the box, ours or not, in the same shape."""
        ...

    def explain_end(self, name: str, ends: Mapping[str, str]) -> dict[str, dict[str, Any]]:
        """Before the job's runs end (`ends`: run id -> the status each is about to get):
        what only the engine knows about why, as extra run fields per run id (a cause, the
        node). Asked before the transition, so the run ends with its true cause at once."""
        ...


@dataclass(frozen=True)
class Placement:
    """Where a run may go now: the GPU ids it gets (empty when the kind places GPUs)."""

    gpus: list[int]


@dataclass(frozen=True)
class SetupEngines:
    """The argv prefixes `cosmos setup`'s steps put before an engine command (`docker ...`)."""

    #: on every machine a run may use (build, pull, inspect, remove): each needs the image
    every: list[str]
    #: on one of them (the checkpoint fetch, which writes the shared folder once)
    once: list[str]


class HostKind:
    """Base of every host kind; subclasses override what differs."""

    name: ClassVar[str] = ""
    #: Config keys only this kind reads; any other kind refuses them, naming this one.
    option_keys: ClassVar[tuple[str, ...]] = ()
    #: True when our scheduler hands out GPU ids; False when the kind's own scheduler does.
    places_gpus: ClassVar[bool] = True
    #: True when a launched job may wait in the kind's own queue first (Slurm): the run is
    #: `pending` until the engine sees it start, then `running` (its GPU time starts then).
    queues_jobs: ClassVar[bool] = False

    # -- config -------------------------------------------------------------------------------
    def remote(self, table: Mapping[str, Any]) -> bool:
        """True when the host's paths are on another machine (no `~` expansion here)."""
        return bool(table.get("hostname"))

    def default_gpus(self) -> list[int]:
        return [0]

    def default_max_concurrent(self, gpus: Sequence[int]) -> int:
        return max(1, len(gpus))

    def check_table(self, reader: Reader) -> None:
        """Refuse a host table this kind cannot work with (raise reader.fail(...))."""

    def read_options(self, reader: Reader, remote_root: str) -> Any:
        """This kind's own settings (an object kept as HostConfig.options), or None."""
        return None

    # -- reaching the box ---------------------------------------------------------------------
    def open_shell(self, host: HostConfig, known_hosts: Path | None) -> Shell:
        """A local shell, or SSH when the host names a hostname (no I/O until first used)."""
        if not host.hostname:
            from backend.remote.shell import LocalShell

            return LocalShell(host.name)
        from backend.remote.ssh import SshShell  # imported lazily: paramiko is slow to import

        return SshShell(host, app_known_hosts=known_hosts)

    def where(self, host: HostConfig) -> str:
        """How the box is reached, in words (doctor and the Hosts view)."""
        if not host.hostname:
            return "this machine"
        return (f"{host.user + '@' if host.user else ''}{host.hostname}"
                f"{':' + str(host.port) if host.port else ''}")

    # -- running jobs -------------------------------------------------------------------------
    def engine(self, runtime: HostRuntime, store: Any, kill_grace: int) -> Engine:
        raise NotImplementedError

    def place(self, host: HostConfig, num_gpus: int, busy: set[int]) -> Placement | None:
        """GPUs for a run asking for `num_gpus`, given those busy; None if they do not fit."""
        if num_gpus > len(host.gpus):
            return None
        free = [g for g in host.gpus if g not in busy]
        return Placement(free[:num_gpus]) if len(free) >= num_gpus else None

    def launch_host(self, host: HostConfig) -> HostConfig:
        """The host as the launch plan must see it (a kind may change what the plan writes)."""
        return host

    # -- readiness ----------------------------------------------------------------------------
    def doctor_steps(self) -> tuple[Callable[[HostConfig, Shell], Any], ...]:
        """The checks of this kind's engine (doctor adds the checkout, model and disk)."""
        return ()

    def runs_images_here(self, host: HostConfig) -> bool:
        """Whether the reached machine's engine runs the job images (so a run can ask it for
        the image digest and run containers as the SSH user)."""
        return True

    # -- setup (backend/runs/setup_run.py) -----------------------------------------------------
    def setup_refusal(self, host: HostConfig) -> str | None:
        """Why `cosmos setup` cannot prepare this host (what to do instead), or None."""
        return None

    def setup_engines(self, host: HostConfig, shell: Shell, run_id: str) -> SetupEngines:
        """Where setup's engine commands run. Here: the reached machine's engine."""
        return SetupEngines(every=list(host.docker), once=list(host.docker))

    def stop_setup(self, host: HostConfig, shell: Shell, run_id: str,
                   container: str | None) -> None:
        """A killed setup: stop its long command's container (`docker kill`; the caller then
        closes the command's stream)."""
        if container:
            shell.run([*host.docker, "kill", container], timeout=60)

    def watches_gpus(self, host: HostConfig) -> bool:
        """Whether nvidia-smi on the reached machine shows the GPUs runs use."""
        return True
