"""The events: what happened to a run or a host, one small typed record each.

An event says "look again" and what changed, never state a subscriber must keep: the store is
the truth. Each type has a `kind` (its name on the wire and in the outbox table) and plain
fields, so it crosses processes as JSON (`to_data` / `decode`) unchanged.

Who publishes what (each from the one place where the state changes):
  status      Store.transition / create_run / delete_run (every status change, all paths)
  log         Store.append_log (complete lines stored; their seq range)
  progress    Store.append_log and Store.set_progress (phase, clip, fraction, ETA)
  transfer    staging, while an input uploads (sent / total bytes)
  cancel      Store.request_cancel (a kill was asked; the follower acts on it)
  telemetry   the host monitor (GPUs, containers of a box, reachability)
  host_action operations (remove an orphan container: the host's monitor does it)
  review      the review room's stores: a note or reply written or resolved, a version's
              review status set, a review link made or revoked (issue 17)
  sweep       Store.create_sweep (a sweep and its runs were queued, issue 18)
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar


@dataclass(frozen=True)
class Event:
    """Base of every event. `run_id` is "" for events about a host."""

    KIND: ClassVar[str] = ""
    run_id: str = ""

    @property
    def kind(self) -> str:
        return self.KIND

    @property
    def data(self) -> dict[str, Any]:
        """The fields other than run_id (what crosses processes besides kind and run id)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                if f.name != "run_id"}


@dataclass(frozen=True)
class StatusChanged(Event):
    KIND: ClassVar[str] = "status"
    status: str = ""
    previous: str | None = None
    host: str = ""


@dataclass(frozen=True)
class LogAppended(Event):
    """Lines `first_seq .. first_seq + count - 1` of the run's log are stored."""

    KIND: ClassVar[str] = "log"
    first_seq: int = 0
    count: int = 0


@dataclass(frozen=True)
class ProgressMoved(Event):
    KIND: ClassVar[str] = "progress"
    progress: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class UploadProgress(Event):
    KIND: ClassVar[str] = "transfer"
    file: str = ""
    sent: int = 0
    total: int = 0
    host: str = ""


@dataclass(frozen=True)
class CancelRequested(Event):
    KIND: ClassVar[str] = "cancel"
    mode: str = ""


@dataclass(frozen=True)
class HostTelemetry(Event):
    """A host monitor's latest look at a box (`snapshot` as HostSnapshot.to_dict())."""

    KIND: ClassVar[str] = "telemetry"
    host: str = ""
    snapshot: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class HostAction(Event):
    """Something a person asked of a box that its monitor does (e.g. remove an orphan)."""

    KIND: ClassVar[str] = "host_action"
    host: str = ""
    action: str = ""
    target: str = ""


@dataclass(frozen=True)
class ReviewChanged(Event):
    """Something reviewers see changed: `what` is "note", "status" or "link"; `ref` is the
    note id, the new status, or the link id."""

    KIND: ClassVar[str] = "review"
    what: str = ""
    ref: str = ""


@dataclass(frozen=True)
class SweepCreated(Event):
    """A sweep of `runs` runs was queued (each run's own `status` event follows too)."""

    KIND: ClassVar[str] = "sweep"
    sweep_id: str = ""
    runs: int = 0


EVENT_TYPES: dict[str, type[Event]] = {cls.KIND: cls for cls in (
    StatusChanged, LogAppended, ProgressMoved, UploadProgress, CancelRequested, HostTelemetry,
    HostAction, ReviewChanged, SweepCreated)}


def decode(kind: str, run_id: str, data: dict[str, Any]) -> Event | None:
    """The event a stored (kind, run_id, data) stands for; None for a kind this version does
    not know (an outbox shared with a newer app), or fields it does not know."""
    cls = EVENT_TYPES.get(kind)
    if cls is None:
        return None
    known = {f.name for f in dataclasses.fields(cls)}
    try:
        return cls(run_id=run_id, **{k: v for k, v in data.items() if k in known})
    except TypeError:
        return None
