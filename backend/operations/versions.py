"""Versions and review status: a shot's runs as v1, v2, ... and In review / Needs changes /
Approved, with who set it and when."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

from backend.ids import is_valid_id
from backend.models.checks import FieldError
from backend.operations.errors import Refused, ValidationFailed
from backend.store.models import APPROVED, REVIEW_STATUSES
from backend.store.versions import (VERSIONED_TYPES, VersionInfo, shot_key_for_input,
                                    shot_key_for_name)

SHOT_NAME_MAX = 120
STATUS_LABELS = {"in_review": "In review", "needs_changes": "Needs changes",
                 "approved": "Approved"}


def _weight(value: Any) -> float:
    try:
        return float(value or 0)
    except (TypeError, ValueError):
        return 0.0


def version_dict(info: VersionInfo) -> dict[str, Any]:
    return {"run_id": info.run_id, "shot_id": info.shot_id, "shot_name": info.shot_name,
            "number": info.number, "label": f"v{info.number}",
            "review_status": info.review_status, "status_by": info.status_by,
            "status_at": info.status_at, "source_note": info.source_note,
            "latest_number": info.latest_number, "latest_run_id": info.latest_run_id,
            "is_latest": info.latest_run_id == info.run_id, "versions": info.count}


class VersionOps:
    """A mixin of Operations (settings, store)."""

    @staticmethod
    def shot_name_errors(name: str | None) -> list[FieldError]:
        text = name or ""
        if len(text) > SHOT_NAME_MAX:
            return [FieldError("shot", f"A shot name is at most {SHOT_NAME_MAX} characters, "
                               f"not {len(text)}.")]
        if any(ord(c) < 32 for c in text):
            return [FieldError("shot", "A shot name is one line of text (no tabs or line "
                               "breaks).")]
        return []

    def join_shot(self, run_id: str, run_type: str, input_video: str | None, *,
                  shot: str = "", source_run: str | None = None,
                  source_note: int | None = None) -> None:
        """Number a new run as the next version of its shot (inside the launch's transaction):
        the named shot, else its source run's, else its input video's."""
        if run_type not in VERSIONED_TYPES:
            return
        name = " ".join((shot or "").split())
        if name:
            self.store.assign_version(run_id, key=shot_key_for_name(name), name=name,
                                      source_note=source_note)
        elif source_run and self.store.shot_key_of(source_run):
            self.store.assign_version(run_id, key=self.store.shot_key_of(source_run),
                                      source_note=source_note)
        else:
            self.store.assign_version(run_id, key=shot_key_for_input(input_video, run_id),
                                      source_note=source_note)

    def version_of(self, run_id: str) -> dict[str, Any] | None:
        """The run's place in its shot (None for a run that is not a version, e.g. enhance)."""
        info = self.store.version_info(run_id) if is_valid_id(run_id or "") else None
        return version_dict(info) if info else None

    def version_facts(self, run_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Version facts for one page of runs."""
        return {rid: version_dict(info) for rid, info in
                self.store.version_infos(list(run_ids)).items()}

    def versions(self, run_id: str) -> dict[str, Any]:
        """The version stack of the run's shot, v1 first (NotFound for an unknown run)."""
        run = self._get(run_id)
        info = self.store.version_info(run.id)
        if info is None:
            raise Refused(f"Run {run.id} is a {run.run_type} run, not a version of a shot.")
        shot = self.store.get_shot(info.shot_id)
        rows = []
        for version, vrun in self.store.shot_versions(info.shot_id):
            rows.append({"run_id": vrun.id, "number": version.number,
                         "label": f"v{version.number}", "name": vrun.name,
                         "run_type": vrun.run_type, "status": vrun.status,
                         "review_status": version.review_status,
                         "status_by": version.status_by, "status_at": version.status_at,
                         "source_note": version.source_note, "created_at": vrun.created_at,
                         "has_video": bool(vrun.output_path),
                         "is_latest": vrun.id == info.latest_run_id})
        return {"shot": {"id": info.shot_id, "name": shot.name if shot else "",
                         "key": shot.key if shot else "", "latest_run_id": info.latest_run_id,
                         "latest_number": info.latest_number},
                "current": info.number, "run_id": run.id, "versions": rows}

    def may_approve(self, role: str) -> bool:
        return role == "operator" or bool(self.settings.reviewers_may_approve)

    def set_review_status(self, run_id: str, status: str, *, username: str | None,
                          role: str = "operator") -> dict[str, Any]:
        """Set a version's review status as `username` (role decides whether Approved is
        theirs to give: [review] reviewers_may_approve)."""
        if status not in REVIEW_STATUSES:
            raise ValidationFailed([FieldError("status", f"Status {status!r} is not one of "
                                               + ", ".join(REVIEW_STATUSES) + ".")])
        run = self._get(run_id)
        if status == APPROVED and not self.may_approve(role):
            raise Refused("Only an operator may approve here (config.toml [review] "
                          "reviewers_may_approve = false); set Needs changes or In review.")
        try:
            self.store.set_review_status(run.id, status, username or "local")
        except KeyError:
            raise Refused(f"Run {run.id} is a {run.run_type} run, not a version; it has no "
                          "review status.") from None
        return self.version_of(run.id) or {}

    def control_layers(self, run_id: str) -> dict[str, str]:
        """The control videos that drove a run, heaviest weight first: the artist's own, or
        the one the model wrote and the collector brought home (the run's `control.<name>`
        files, which its profile named)."""
        run = self._get(run_id)
        params = run.params_dict()
        own = params.get("control_videos") or {}
        weights = params.get("weights") or {}
        try:
            files = (json.loads(run.artifacts) if run.artifacts else {}).get("files") or []
        except (ValueError, AttributeError):
            files = []
        made = {str(f.get("role", ""))[len("control."):]: f.get("path") for f in files
                if isinstance(f, dict) and str(f.get("role", "")).startswith("control.")}
        found: dict[str, str] = {}
        for hint, weight in sorted(weights.items(), key=lambda kv: -_weight(kv[1])):
            if _weight(weight) <= 0:
                continue
            path = own.get(hint) or made.get(hint)
            if path and Path(path).is_file():
                found[hint] = str(path)
        return found

    def status_history(self, run_id: str) -> list[dict[str, Any]]:
        return [{"status": c.status, "username": c.username, "at": c.at}
                for c in self.store.status_history(run_id)]
