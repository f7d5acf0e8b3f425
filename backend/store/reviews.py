"""Reviews: a rating (1-5) and/or a comment on a run, by someone."""

from __future__ import annotations

import time
from typing import Sequence

from peewee import fn

from backend.store.models import Review


class ReviewStore:
    """A mixin of Store."""

    def add_review(self, run_id: str, username: str, rating: int | None,
                   comment: str) -> Review:
        return Review.create(run=run_id, username=username, rating=rating, comment=comment,
                             created_at=time.time())

    def reviews_of(self, run_id: str) -> list[Review]:
        """A run's reviews, newest first."""
        return list(Review.select().where(Review.run == run_id)
                    .order_by(Review.created_at.desc(), Review.id.desc()))

    def ratings_for(self, run_ids: Sequence[str]) -> dict[str, tuple[float, int]]:
        return ratings_for(run_ids)


def ratings_for(run_ids: Sequence[str]) -> dict[str, tuple[float, int]]:
    """Average rating and number of ratings per run, for one page in one query."""
    if not run_ids:
        return {}
    rows = (Review.select(Review.run, fn.AVG(Review.rating).alias("avg"),
                          fn.COUNT(Review.rating).alias("n"))
            .where(Review.run.in_(list(run_ids)) & Review.rating.is_null(False))
            .group_by(Review.run).tuples())
    return {run_id: (float(avg), int(n)) for run_id, avg, n in rows}
