"""Wires settings, store, events, scheduler and operations into one running backend.

The app, the CLI and the tests all start the backend the same way, so there is exactly one
place that decides what runs in this process: the event relay (always: it is how this process
hears of every other's events), the scheduler thread (unless told not to), and the facade.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from backend.config import Settings
from backend.events.bus import EventBus
from backend.events.relay import Relay
from backend.hosts.telemetry import TelemetryView
from backend.notify.notifier import Notifier
from backend.operations import Operations
from backend.runs.scheduler import Scheduler
from backend.store import Store
from backend.store import events as outbox

log = logging.getLogger(__name__)


class LocalWorker:
    """The scheduler of this process, if it runs one: started with the backend, or later
    (the CLI starts one when no worker is live and it must wait for a run). The webhooks'
    notifier lives beside it: deliveries come from the process that drives runs, whatever
    process the change came from (the relay brings every process's events here)."""

    def __init__(self, settings: Settings, store: Store) -> None:
        self.settings = settings
        self.store = store
        self.scheduler: Scheduler | None = None
        self.notifier: Notifier | None = None

    def start(self) -> Scheduler:
        if self.scheduler is None:
            self.notifier = Notifier(self.settings.notify, self.store).start()
            self.scheduler = Scheduler(self.settings, self.store)
            self.scheduler.start()
        return self.scheduler

    def drain_notices(self) -> bool:
        """Wait until the webhooks have sent what they heard (a short-lived process, the
        CLI's `run --wait`, would otherwise end before its `completed` went out): at most one
        attempt's timeout per webhook beyond now; retries further off are given up. True if
        nothing was left."""
        if self.notifier is None:
            return True
        hooks = self.settings.notify.webhooks
        deadline = time.monotonic() + sum(h.timeout for h in hooks) + 1.0
        while not self.notifier.idle() and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.notifier.idle()

    def stop(self) -> None:
        if self.scheduler is not None:
            self.scheduler.stop()
        if self.notifier is not None:
            self.notifier.stop()


@dataclass
class Backend:
    settings: Settings
    store: Store
    bus: EventBus
    relay: Relay
    worker: LocalWorker
    ops: Operations
    telemetry: TelemetryView = field(repr=False, default=None)  # type: ignore[assignment]

    @property
    def scheduler(self) -> Scheduler | None:
        return self.worker.scheduler

    def close(self) -> None:
        self.worker.stop()
        self.relay.stop()
        self.store.close()


def start_backend(settings: Settings, *, with_scheduler: bool = True,
                  sign_in_required: bool = False,
                  input_roots: Sequence[Path] | None = None) -> Backend:
    """Open the store, start this process's event relay and, unless told not to, its
    scheduler; `sign_in_required` makes every request need a signed-in user's role;
    `input_roots` (the web app's) limits which files may become inputs."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    bus = EventBus()
    store = Store(settings.db_path, bus)
    relay = Relay(outbox, bus).start()
    telemetry = TelemetryView(bus)
    worker = LocalWorker(settings, store)
    ops = Operations(settings, store, telemetry=telemetry, sign_in_required=sign_in_required,
                     input_roots=input_roots)
    if with_scheduler:
        worker.start()
    return Backend(settings, store, bus, relay, worker, ops, telemetry)
