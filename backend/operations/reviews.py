"""Reviews: a rating and/or a comment on a run, by the signed-in user (or "local")."""

from __future__ import annotations

from typing import Any

from backend.ids import is_valid_id
from backend.models.checks import FieldError
from backend.operations.errors import NotFound, ValidationFailed


#: Why a run without a video cannot be rated (a comment is still welcome).
NO_VIDEO_YET = ("This run has no video yet, so there is nothing to rate: rate it once it has "
                "completed with a video (a comment can be left now).")


class ReviewOps:
    """A mixin of Operations (store)."""

    REVIEW_COMMENT_MAX = 2000

    def add_review(self, run_id: str, username: str | None, rating: int | None,
                   comment: str | None) -> dict:
        """Store one rating (1-5) and/or comment on a run, by `username` ("local" when
        sign-in is off). Refused with ValidationFailed before anything is stored."""
        comment = (comment or "").strip()
        errors: list[FieldError] = []
        if rating is not None:
            try:
                rating = int(rating)
            except (TypeError, ValueError):
                rating = 0
            if not 1 <= rating <= 5:
                errors.append(FieldError("rating", "A rating is a whole number from 1 to 5."))
        if len(comment) > self.REVIEW_COMMENT_MAX:
            errors.append(FieldError("comment", f"A comment is at most "
                                     f"{self.REVIEW_COMMENT_MAX} characters."))
        if rating is None and not comment:
            errors.append(FieldError("general", "Give a rating, a comment, or both."))
        if not is_valid_id(run_id or "") or not self.store.has_run(run_id):
            raise NotFound(run_id)
        if rating is not None and not errors and not self.get_run(run_id).output_path:
            errors.append(FieldError("rating", NO_VIDEO_YET))
        if errors:
            raise ValidationFailed(errors)
        row = self.store.add_review(run_id, username or "local", rating, comment)
        return self._review_dict(row)

    def reviews(self, run_id: str) -> list[dict]:
        """A run's reviews, newest first."""
        if not is_valid_id(run_id or ""):
            return []
        return [self._review_dict(r) for r in self.store.reviews_of(run_id)]

    @staticmethod
    def _review_dict(row: Any) -> dict:
        return {"id": row.id, "run_id": row.run_id, "username": row.username,
                "rating": row.rating, "comment": row.comment, "created_at": row.created_at}
