"""Wires settings, store, events, scheduler and operations into one running backend.

The app, the CLI and the tests all start the backend the same way, so there is exactly one
place that decides what runs in-process (the scheduler thread) and what does not.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from backend.config import Settings
from backend.events import EventBus
from backend.operations import Operations
from backend.runs.scheduler import Scheduler
from backend.store import Store

log = logging.getLogger(__name__)


@dataclass
class Backend:
    settings: Settings
    store: Store
    bus: EventBus
    scheduler: Scheduler | None
    ops: Operations
    #: Set by the UI launcher: every request must come from a signed-in user.
    sign_in_required: bool = False

    def close(self) -> None:
        if self.scheduler is not None:
            self.scheduler.stop()
        self.store.close()


def start_backend(settings: Settings, *, with_scheduler: bool = True) -> Backend:
    """Open the store and, unless told not to, start the scheduler in this process."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    store = Store(settings.db_path)
    bus = EventBus()
    scheduler = None
    if with_scheduler:
        scheduler = Scheduler(settings, store, bus)
        scheduler.start()
    ops = Operations(settings, store, bus, scheduler)
    return Backend(settings, store, bus, scheduler, ops)
