"""Shots and versions: which runs are versions of one shot, their numbers, their review status.

Why numbers are given in the store, in the run's own transaction: two launches of one shot
from two browsers (or a browser and `cosmos run`) must get v3 and v4, never two v3s. The shot
row's counter only grows, so a deleted version's number is never handed out again.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Iterable, Sequence

from peewee import fn

from backend.events.types import ReviewChanged
from backend.ids import new_id
from backend.store.models import (IN_REVIEW, REVIEW_STATUSES, Run, Shot, StatusChange, Version,
                                  db)

#: Run types that are versions of a shot (an enhance run makes a prompt, not a video).
VERSIONED_TYPES = ("inference", "upscale")


@dataclass(frozen=True)
class VersionInfo:
    """A run's place in its shot, as the pages show it."""

    run_id: str
    shot_id: str
    shot_name: str
    number: int
    review_status: str
    status_by: str | None
    status_at: float | None
    source_note: int | None
    latest_number: int | None  # the shot's newest version that has a video (None: none yet)
    latest_run_id: str | None
    count: int  # versions in the shot


def shot_key_for_name(name: str) -> str:
    """Two spellings of a name that differ only in case and spacing are one shot."""
    return "name:" + " ".join(name.split()).casefold()


def shot_key_for_input(input_video: str | None, run_id: str) -> str:
    """Runs of the same input video are one shot (imports are content-addressed, so the same
    file always has the same path); a run without an input is a shot of its own."""
    return f"input:{input_video}" if input_video else f"run:{run_id}"


def _version_info(version: Version, shot: Shot, latest: dict[str, tuple[int, str]],
                  counts: dict[str, int]) -> VersionInfo:
    newest = latest.get(shot.id)
    return VersionInfo(run_id=version.run_id, shot_id=shot.id, shot_name=shot.name,
                       number=version.number, review_status=version.review_status,
                       status_by=version.status_by, status_at=version.status_at,
                       source_note=version.source_note,
                       latest_number=newest[0] if newest else None,
                       latest_run_id=newest[1] if newest else None,
                       count=counts.get(shot.id, 0))


def _latest_with_video(shot_ids: Sequence[str]) -> dict[str, tuple[int, str]]:
    """(number, run id) of each shot's newest version that has a video, in one query."""
    if not shot_ids:
        return {}
    rows = (Version.select(Version.shot, Version.number, Version.run)
            .join(Run, on=(Version.run == Run.id))
            .where(Version.shot.in_(list(shot_ids)) & Run.output_path.is_null(False))
            .order_by(Version.shot, Version.number.desc()).tuples())
    out: dict[str, tuple[int, str]] = {}
    for shot_id, number, run_id in rows:
        out.setdefault(shot_id, (number, run_id))
    return out


def latest_versions_query():
    """Run ids that are their shot's newest version with a video (the 'latest only' filter)."""
    newer = Version.alias("newer")
    newer_run = Run.alias("newer_run")
    has_newer = (newer.select(fn.COUNT(newer.run))
                 .join(newer_run, on=(newer.run == newer_run.id))
                 .where((newer.shot == Version.shot) & (newer.number > Version.number)
                        & newer_run.output_path.is_null(False)))
    return (Version.select(Version.run).join(Run, on=(Version.run == Run.id))
            .where(Run.output_path.is_null(False) & (has_newer == 0)))


def statuses_query(statuses: Iterable[str]):
    """Run ids whose version has one of these review statuses."""
    return Version.select(Version.run).where(Version.review_status.in_(list(statuses)))


class VersionStore:
    """A mixin of Store (needs `writing` and `emit`)."""

    def assign_version(self, run_id: str, *, key: str, name: str = "",
                       source_note: int | None = None) -> Version:
        """Make the run the next version of the shot `key` (created, named `name`, if new)."""
        with self.writing():
            shot = Shot.get_or_none(Shot.key == key)
            if shot is None:
                shot = Shot.create(id=new_id(), key=key, name=name, created_at=time.time())
            elif name and not shot.name:
                Shot.update(name=name).where(Shot.id == shot.id).execute()
            number = Shot.get_by_id(shot.id).next_number
            Shot.update(next_number=number + 1).where(Shot.id == shot.id).execute()
            return Version.create(run=run_id, shot=shot.id, number=number,
                                  source_note=source_note, review_status=IN_REVIEW)

    def join_source_shot(self, run_id: str, source_id: str) -> Version:
        """Make the run the next version of `source_id`'s shot (an upscale, a re-run)."""
        with self.writing():
            key = self.shot_key_of(source_id)
            if key is None:  # the source predates versions or lost its row: its input's shot
                source = Run.get_by_id(source_id)
                key = shot_key_for_input(json.loads(source.params).get("input_video"),
                                         source_id)
            return self.assign_version(run_id, key=key)

    def shot_key_of(self, run_id: str) -> str | None:
        row = (Shot.select(Shot.key).join(Version, on=(Version.shot == Shot.id))
               .where(Version.run == run_id).first())
        return row.key if row else None

    def version_info(self, run_id: str) -> VersionInfo | None:
        return self.version_infos([run_id]).get(run_id)

    def version_infos(self, run_ids: Sequence[str]) -> dict[str, VersionInfo]:
        """Each run's version facts, for one page of runs in three queries."""
        if not run_ids:
            return {}
        rows = list(Version.select(Version, Shot).join(Shot, on=(Version.shot == Shot.id))
                    .where(Version.run.in_(list(run_ids))))
        shot_ids = sorted({v.shot_id for v in rows})
        latest = _latest_with_video(shot_ids)
        counts = dict(Version.select(Version.shot, fn.COUNT(Version.run))
                      .where(Version.shot.in_(shot_ids)).group_by(Version.shot).tuples()
                      ) if shot_ids else {}
        return {v.run_id: _version_info(v, v.shot, latest, counts) for v in rows}

    def shot_versions(self, shot_id: str) -> list[tuple[Version, Run]]:
        """Every version of a shot with its run, v1 first."""
        rows = (Version.select(Version, Run).join(Run, on=(Version.run == Run.id))
                .where(Version.shot == shot_id).order_by(Version.number))
        return [(v, v.run) for v in rows]

    def get_shot(self, shot_id: str) -> Shot | None:
        return Shot.get_or_none(Shot.id == shot_id)

    def set_review_status(self, run_id: str, status: str, username: str) -> Version:
        """Give a version a review status; kept with who and when, and published."""
        if status not in REVIEW_STATUSES:
            raise ValueError(f"unknown review status {status!r}")
        now = time.time()
        with self.writing():
            count = (Version.update(review_status=status, status_by=username, status_at=now)
                     .where(Version.run == run_id).execute())
            if count != 1:
                raise KeyError(run_id)
            StatusChange.create(run=run_id, status=status, username=username, at=now)
            self.emit(ReviewChanged(run_id, what="status", ref=status))
        return Version.get_by_id(run_id)

    def status_history(self, run_id: str) -> list[StatusChange]:
        return list(StatusChange.select().where(StatusChange.run == run_id)
                    .order_by(StatusChange.at, StatusChange.id))


def backfill_versions() -> None:
    """Migration step: every existing video run becomes a version of its shot, in creation
    order (an upscale joins its parent's shot; others group by input video)."""
    runs = (Run.select(Run.id, Run.parent, Run.params, Run.run_type)
            .where(Run.run_type.in_(VERSIONED_TYPES)).order_by(Run.id).tuples())
    key_of_run: dict[str, str] = {}
    shots: dict[str, list] = {}
    rows = []
    now = time.time()
    for run_id, parent_id, params, _ in runs:
        key = key_of_run.get(parent_id or "")
        if key is None:
            try:
                source = json.loads(params).get("input_video")
            except ValueError:
                source = None
            key = shot_key_for_input(source, run_id)
        key_of_run[run_id] = key
        shot = shots.get(key)
        if shot is None:
            shot = shots[key] = [new_id(), 0]
        shot[1] += 1
        rows.append({"run": run_id, "shot": shot[0], "number": shot[1],
                     "review_status": IN_REVIEW})
    for key, (shot_id, count) in shots.items():
        Shot.create(id=shot_id, key=key, name="", next_number=count + 1, created_at=now)
    with db.atomic():
        for start in range(0, len(rows), 500):
            Version.insert_many(rows[start:start + 500]).execute()

