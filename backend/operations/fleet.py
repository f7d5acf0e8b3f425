"""The fleet: hosts as the Hosts view shows them, the queue, the workers, and doctor."""

from __future__ import annotations

import time
from typing import Any

from backend.events.types import HostAction
from backend.hosts.telemetry import (REMOVE_ORPHAN, RUN_DOCTOR, WATCH, WATCH_SECONDS,
                                     HostSnapshot, orphans,
                                     run_id_of)
from backend.operations.errors import NotFound, Refused
from backend.operations.summary import summarize
from backend.store.models import ACTIVE, HOLDING


class FleetOps:
    """A mixin of Operations (settings, store, telemetry)."""

    #: When this process last asked the monitors to watch (`watch_hosts`): never yet.
    _watch_said_at: float = -WATCH_SECONDS

    def hosts_overview(self) -> list[dict[str, Any]]:
        """Per host: reachability, GPUs, running and queued runs, orphan containers.

        Read from the latest telemetry event of the host (whichever worker watches it) and
        the store: never a network call.
        """
        overview = []
        for name, host in self.settings.hosts.items():
            snap = self._snapshot(name)
            running = [summarize(r) for r in self.store.runs_in(ACTIVE, host=name)]
            queued = [summarize(r) for r in self.store.queued_in_order(name)]

            holding = [r for r in running if r.status in HOLDING]
            overview.append({
                "name": name, "kind": host.kind, "simulated": host.simulated,
                # GPUs in use by our runs: their ids, or (a cluster places them) their count
                "busy_gpus": sum(len(r.gpus) or r.gpu_count for r in holding),
                "box_containers": snap.box_containers if snap else [],
                "taken": snap.taken if snap else {},
                "waits": self.wait_reasons(queued, live=bool(self.live_workers())),
                "reachable": snap.reachable if snap else None,
                "checked_at": snap.checked_at if snap else None,
                "error": snap.error if snap else "no worker has reported on this host yet",
                "gpus": snap.gpus if snap else [], "gpu_ids": list(host.gpus),
                "max_concurrent": host.max_concurrent,
                "running": running, "queued": queued,
                "containers": snap.containers if snap else [],
                "orphans": orphans(snap, self._container_owners(snap).__contains__)
                if snap else [],
                "gpu_error": snap.gpu_error if snap else None,
                "doctor": snap.doctor if snap else None,
                "setup": next((summarize(r) for r in running + queued
                               if r.run_type == "setup"), None),
            })
        return overview

    def _container_owners(self, snap: Any) -> set[str]:
        """The run and batch ids that still own a container of `snap` (one query).

        A run owns its container while active and for a short while after it ends (the
        executor removes the container after collecting).
        """
        ids = [i for i in (run_id_of(c) for c in snap.containers) if i]
        return self.store.container_owners(ids, (snap.checked_at or time.time()) - 30)

    def remove_orphan(self, host: str, container_name: str) -> None:
        """Ask the host's monitor (in whichever process watches it) to remove a container of
        ours that no run owns."""
        snap = self._snapshot(host)
        if snap is None:
            raise Refused(f"No worker has reported on host {host} yet; start the app or "
                          "`cosmos worker`.")
        known = {o["name"] for o in orphans(snap, self._container_owners(snap).__contains__)}
        if container_name not in known:
            raise Refused(f"{container_name} is not an orphan container on {host}.")
        self.store.bus.publish(HostAction(host=host, action=REMOVE_ORPHAN,
                                          target=container_name))

    def recheck(self, host: str) -> None:
        """Ask the host's monitor (whichever process watches it) to run doctor's checks now;
        the result arrives with its next telemetry (the Hosts tab's Re-check)."""
        if host not in self.settings.hosts:
            raise NotFound(host)
        if self._snapshot(host) is None:
            raise Refused(f"No worker has reported on host {host} yet; start the app or "
                          "`cosmos worker`.")
        self.store.bus.publish(HostAction(host=host, action=RUN_DOCTOR, target=""))

    def watch_hosts(self) -> bool:
        """A page shows the Hosts view: every host's monitor (in whichever process watches
        it) looks at full rate for a while. Said at most every third of that while per
        process, however many pages watch; True when it was said now."""
        now = time.monotonic()
        if now < self._watch_said_at + WATCH_SECONDS / 3:
            return False
        self._watch_said_at = now
        for host in self.settings.hosts:
            self.store.bus.publish(HostAction(host=host, action=WATCH, target=""))
        return True

    def _snapshot(self, host: str) -> HostSnapshot | None:
        return self.telemetry.snapshot(host) if self.telemetry is not None else None

    def live_workers(self) -> list[dict[str, Any]]:
        """Schedulers (the app's or `cosmos worker`s) whose heartbeat is fresh."""
        return [{"id": w.id, "pid": w.pid, "hostname": w.hostname, "started_at": w.started_at,
                 "heartbeat_at": w.heartbeat_at}
                for w in self.store.live_workers(self.settings.stale_worker_seconds)]

    def queue_overview(self) -> dict[str, Any]:
        """Counts per status, the runs in progress, the queue in start order, per-host GPUs."""
        counts = self.store.status_counts()
        active = [summarize(r) for r in self.store.runs_in(ACTIVE)]
        queued = [summarize(r) for r in self.store.queued_in_order()]
        hosts = []
        for name, host in self.settings.hosts.items():
            mine = [r for r in active if r.host == name and r.status in HOLDING]
            busy = sorted({g for r in mine for g in r.gpus})
            snap = self._snapshot(name)
            hosts.append({"name": name, "simulated": host.simulated, "gpus": list(host.gpus),
                          "busy_gpus": busy,
                          # a cluster places GPUs itself: count what our running jobs hold
                          "busy_count": sum(len(r.gpus) or r.gpu_count for r in mine),
                          "taken_by_others": snap.taken if snap else {},
                          "max_concurrent": host.max_concurrent,
                          "running": sum(r.host == name for r in active),
                          "queued": sum(r.host == name for r in queued)})
        workers = self.live_workers()
        return {"workers": workers, "counts": counts, "running": active,
                "queued": queued, "hosts": hosts,
                "waits": self.wait_reasons(queued, live=bool(workers))}

    def wait_reasons(self, queued: list, *, live: bool = True) -> dict[str, str]:
        """Why each queued run waits, in the scheduler's words where it examined the run,
        else its place in its host's queue."""
        reasons: dict[str, str] = {}
        ahead: dict[str, int] = {}
        for run in queued:
            if not live:
                reasons[run.id] = "no worker is running (start the app or `cosmos worker`)"
            elif run.wait_reason:
                reasons[run.id] = run.wait_reason
            elif ahead.get(run.host):
                reasons[run.id] = f"waiting its turn: {ahead[run.host]} run(s) ahead on {run.host}"
            else:
                reasons[run.id] = "next to start"
            ahead[run.host] = ahead.get(run.host, 0) + 1
        return reasons

    def doctor(self, hosts: list[str] | None = None) -> list[dict[str, Any]]:
        """Check each host (reachable, docker, image, checkpoints, HF cache, disk, GPUs).

        Unlike everything else here this talks to the boxes (it is what it is for); it is
        called from the CLI, never from a UI event handler.
        """
        from backend.hosts import doctor

        names = list(hosts or self.settings.hosts)
        unknown = [n for n in names if n not in self.settings.hosts]
        if unknown:
            raise NotFound(unknown[0])
        return [r.to_dict() for r in doctor.check_hosts(self.settings, names)]
