"""Frame notes: on a frame or a range of a version's video, with an optional drawing and a
reply thread. Operators and reviewers both write them; everything is validated first."""

from __future__ import annotations

import json
from typing import Any

from backend.ids import is_valid_id
from backend.models.checks import FieldError
from backend.operations.errors import NotFound, Refused, ValidationFailed
from backend.review.drawing import DrawingError, drawing_json, parse_drawing
from backend.review.timecode import describe_range, timecode

NOTE_TEXT_MAX = 4000


def _whole(value: Any, field: str, errors: list[FieldError], what: str) -> int | None:
    """A frame number as given, or an error saying what a frame number is."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        number = None
    elif isinstance(value, int):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str) and value.strip().lstrip("-").isdigit():
        number = int(value.strip())
    else:
        number = None
    if number is None:
        errors.append(FieldError(field, f"{what} {value!r} is not a frame number; frames are "
                                 "whole numbers counted from 0."))
    return number


class NoteOps:
    """A mixin of Operations (settings, store)."""

    def video_facts(self, run_id: str) -> dict[str, Any]:
        """Frames and fps of a run's video (NotFound; Refused when it has none yet)."""
        run = self._get(run_id)
        info = json.loads(run.output_info) if run.output_info else {}
        if not run.output_path or not info.get("frames"):
            raise Refused(f"Run {run.id} has no video yet ({run.status}); notes are on a frame "
                          "of a version's video.")
        return {"frames": int(info["frames"]), "fps": float(info.get("fps") or 24),
                "width": int(info.get("width") or 0), "height": int(info.get("height") or 0)}

    def add_note(self, run_id: str, *, author: str | None, text: str | None,
                 frame: Any, end_frame: Any = None, drawing: Any = None) -> dict[str, Any]:
        """A note on `frame` (or frames `frame`..`end_frame`) of the run's video. Refused with
        ValidationFailed, naming each field, before anything is stored."""
        if not is_valid_id(run_id or "") or not self.store.has_run(run_id):
            raise NotFound(run_id)
        facts = self.video_facts(run_id)
        errors: list[FieldError] = []
        text = (text or "").strip()
        first = _whole(frame, "frame", errors, "Frame")
        last = _whole(end_frame, "end_frame", errors, "End frame")
        top = facts["frames"] - 1
        if first is None and not errors:
            errors.append(FieldError("frame", f"Give the frame the note is about (0 to {top})."))
        if first is not None and not 0 <= first <= top:
            errors.append(FieldError("frame", f"Frame {first} is outside this video: it has "
                                     f"{facts['frames']} frames, 0 to {top}."))
        if last is not None and first is not None and not first <= last <= top:
            errors.append(FieldError("end_frame", f"End frame {last} must be from the note's "
                                     f"frame {first} to the last frame {top}."))
        try:
            shapes = parse_drawing(drawing)
        except DrawingError as exc:
            errors.append(FieldError("drawing", str(exc)))
            shapes = []
        if len(text) > NOTE_TEXT_MAX:
            errors.append(FieldError("text", f"A note is at most {NOTE_TEXT_MAX} characters, "
                                     f"not {len(text)}."))
        if not text and not shapes and not errors:
            errors.append(FieldError("text", "Write what you see, draw on the frame, or both."))
        if errors:
            raise ValidationFailed(errors)
        if last == first:
            last = None
        note = self.store.add_note(run_id, author=author or "local", text=text, frame=first,
                                   end_frame=last, drawing=drawing_json(shapes))
        return self._note_dict(note, facts["fps"])

    def reply(self, note_id: Any, *, author: str | None, text: str | None) -> dict[str, Any]:
        """A reply in a note's thread."""
        note = self._note(note_id)
        if note.parent_id is not None:
            note = self.store.get_note(note.parent_id)
        text = (text or "").strip()
        if not text:
            raise ValidationFailed([FieldError("reply", "Write a reply first.")])
        if len(text) > NOTE_TEXT_MAX:
            raise ValidationFailed([FieldError("reply", f"A reply is at most {NOTE_TEXT_MAX} "
                                               f"characters, not {len(text)}.")])
        row = self.store.add_note(note.run_id, author=author or "local", text=text, frame=None,
                                  end_frame=None, parent_id=note.id)
        return self._note_dict(row, None)

    def resolve_note(self, note_id: Any, resolved: bool = True) -> dict[str, Any]:
        note = self._note(note_id)
        return self._note_dict(self.store.set_note_resolved(note.id, bool(resolved)), None)

    def note(self, note_id: Any) -> dict[str, Any]:
        note = self._note(note_id)
        fps = self._fps_of(note.run_id)
        return self._note_dict(note, fps)

    def notes(self, run_id: str) -> list[dict[str, Any]]:
        """A version's notes by frame, each with its replies (oldest first)."""
        if not is_valid_id(run_id or ""):
            return []
        fps = self._fps_of(run_id)
        tops: list[dict[str, Any]] = []
        by_id: dict[int, dict[str, Any]] = {}
        for row in self.store.notes_of(run_id):
            item = self._note_dict(row, fps)
            if row.parent_id is None:
                item["replies"] = []
                tops.append(item)
                by_id[row.id] = item
            elif row.parent_id in by_id:
                by_id[row.parent_id]["replies"].append(item)
        return tops

    # -- helpers ------------------------------------------------------------------------------
    def _note(self, note_id: Any):
        try:
            number = int(note_id)
        except (TypeError, ValueError):
            raise NotFound(str(note_id)) from None
        note = self.store.get_note(number)
        if note is None:
            raise NotFound(str(note_id))
        return note

    def _fps_of(self, run_id: str) -> float | None:
        run = self.store.get_run(run_id)
        info = json.loads(run.output_info) if run is not None and run.output_info else {}
        return float(info["fps"]) if info.get("fps") else None

    @staticmethod
    def _note_dict(row: Any, fps: float | None) -> dict[str, Any]:
        item = {"id": row.id, "run_id": row.run_id, "parent_id": row.parent_id,
                "frame": row.frame, "end_frame": row.end_frame, "author": row.author,
                "text": row.text, "drawing": json.loads(row.drawing) if row.drawing else [],
                "resolved": bool(row.resolved), "created_at": row.created_at}
        if row.frame is not None:
            item["timecode"] = timecode(row.frame, fps)
            item["end_timecode"] = (timecode(row.end_frame, fps)
                                    if row.end_frame is not None else None)
            item["where"] = describe_range(row.frame, row.end_frame, fps)
        return item
