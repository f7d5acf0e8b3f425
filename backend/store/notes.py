"""Frame notes and their replies: what reviewers and operators said about a frame or a range."""

from __future__ import annotations

import time
from typing import Sequence

from peewee import fn

from backend.events.types import ReviewChanged
from backend.store.models import Note


class NoteStore:
    """A mixin of Store (needs `writing` and `emit`)."""

    def add_note(self, run_id: str, *, author: str, text: str, frame: int | None,
                 end_frame: int | None, drawing: str = "", parent_id: int | None = None
                 ) -> Note:
        """A note (or, with `parent_id`, a reply to one); published to every open page."""
        with self.writing():
            note = Note.create(run=run_id, parent=parent_id, frame=frame, end_frame=end_frame,
                               author=author, text=text, drawing=drawing,
                               created_at=time.time())
            self.emit(ReviewChanged(run_id, what="note", ref=str(note.id)))
        return note

    def get_note(self, note_id: int) -> Note | None:
        return Note.get_or_none(Note.id == note_id)

    def notes_of(self, run_id: str) -> list[Note]:
        """A version's notes and replies: notes by frame (then age), replies by age."""
        return list(Note.select().where(Note.run == run_id)
                    .order_by(Note.parent.is_null(False), Note.frame, Note.id))

    def set_note_resolved(self, note_id: int, resolved: bool) -> Note | None:
        with self.writing():
            note = Note.get_or_none(Note.id == note_id)
            if note is None:
                return None
            Note.update(resolved=resolved).where(Note.id == note_id).execute()
            self.emit(ReviewChanged(note.run_id, what="note", ref=str(note_id)))
        return Note.get_by_id(note_id)

    def note_counts(self, run_ids: Sequence[str]) -> dict[str, int]:
        """Open top-level notes per run, for one page in one query."""
        if not run_ids:
            return {}
        return dict(Note.select(Note.run, fn.COUNT(Note.id))
                    .where(Note.run.in_(list(run_ids)) & Note.parent.is_null()
                           & (Note.resolved == False))  # noqa: E712 (SQL, not Python)
                    .group_by(Note.run).tuples())
