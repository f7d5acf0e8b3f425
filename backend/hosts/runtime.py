"""A box as the rest of the app sees it: its settings, its shell, its kind and its engine."""

from __future__ import annotations

import threading
from pathlib import PurePosixPath
from typing import Any

from backend.config.hosts import HostConfig
from backend.extensions import host_kind
from backend.hosts.boxcheck import BoxView
from backend.hosts.kind import Engine, HostKind
from backend.hosts.leases import Leases
from backend.remote.shell import Shell


def run_dir(host: HostConfig, run_id: str) -> str:
    """`<remote_root>/runs/<run or batch id>` on the box."""
    return str(PurePosixPath(host.remote_root) / "runs" / run_id)


class HostRuntime:
    """One per configured host and process, shared by every run on it (one connection)."""

    def __init__(self, host: HostConfig, shell: Shell, *, store: Any = None,
                 kill_grace: int = 10, installation: str = "") -> None:
        self.host = host
        self.shell = shell
        self.kind: HostKind = host_kind(host.kind)
        self.store = store
        self.kill_grace = kill_grace
        self.installation = installation
        #: the GPU leases on the box and the latest look at what uses its GPUs (issue 16)
        self.leases = Leases(shell, host.remote_root, installation or "-")
        self.box = BoxView()
        self._engine: Engine | None = None
        self._engine_lock = threading.Lock()
        self.checkout_ready = False
        self._container_user: str | None = None
        #: runs staged at the same time must not write the same checkout files at once
        self._checkout_lock = threading.Lock()

    @property
    def engine(self) -> Engine:
        with self._engine_lock:
            if self._engine is None:
                self._engine = self.kind.engine(self, self.store, self.kill_grace)
            return self._engine

    @property
    def checks_box(self) -> bool:
        """Whether placement on this box looks at it and leases GPUs there (our scheduler
        places the GPUs, and the host has not turned it off)."""
        return self.kind.places_gpus and self.host.check_box and bool(self.installation)

    @property
    def launch_host(self) -> HostConfig:
        """The host as launch plans see it (the kind may adjust it: Slurm places GPUs)."""
        return self.kind.launch_host(self.host)

    def run_dir(self, run_id: str) -> str:
        return run_dir(self.host, run_id)

    def container_user(self) -> str | None:
        """The SSH user's "uid:gid" for `docker run --user` (asked once), or None when the
        host runs containers as the image's user (run_as_user = false) or elsewhere (Slurm)."""
        if not self.host.run_as_user or not self.kind.runs_images_here(self.host):
            return None
        if self._container_user is None:
            uid = self.shell.run(["id", "-u"], timeout=30)
            gid = self.shell.run(["id", "-g"], timeout=30)
            ok = uid.ok and gid.ok and uid.out.strip().isdigit() and gid.out.strip().isdigit()
            self._container_user = f"{uid.out.strip()}:{gid.out.strip()}" if ok else ""
        return self._container_user or None

    def cache_dir(self) -> str:
        return str(PurePosixPath(self.host.remote_root) / "cache")

    def ensure_sim_checkout(self) -> None:
        """Install the simulator's stand-in checkout of every model the simulated box serves
        (once), each where that model's checkout is configured."""
        if self.checkout_ready or not self.host.simulated:
            return
        from backend.models.profile import get_profile
        from backend.simulator.checkout import checkout_files

        with self._checkout_lock:
            if self.checkout_ready:
                return
            for model in self.host.models:
                place = self.host.for_model(model)
                if not place.cosmos_checkout:
                    continue
                files = checkout_files(get_profile(model).image.sim_checkout)
                for rel, data in files.items():
                    target = str(PurePosixPath(place.cosmos_checkout) / rel)
                    if rel.startswith("checkpoints/") and (
                            self.host.checkpoint_source or self.shell.exists(target)):
                        # a box with a checkpoint mirror gets its checkpoints from `cosmos
                        # setup`; what setup fetched (and its manifest lists) stays
                        continue
                    self.shell.write_file(target, data, 0o755 if rel.endswith(".py") else 0o644)
            self.checkout_ready = True
