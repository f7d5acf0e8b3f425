"""History, gallery and search pages: filtered, paged, indexed queries over runs.

One query per page (plus one count), never a query per row: the pages must stay fast with
100,000 runs in the store. Full-text search goes through the FTS5 table the store keeps in
step with every run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

from peewee import SQL, fn

from backend import store as st


@dataclass(frozen=True)
class RunFilter:
    """What a person narrowed the history to; empty fields mean 'any'."""

    statuses: Sequence[str] = ()
    run_types: Sequence[str] = ()
    hosts: Sequence[str] = ()
    since: float | None = None  # created at or after (epoch seconds)
    until: float | None = None  # created before
    min_rating: int | None = None  # average rating at least this
    text: str = ""  # words matched against run names and prompts
    with_output: bool = False  # only runs that have a video (the gallery)
    ids: Sequence[str] = field(default_factory=tuple)


def fts_query(text: str) -> str | None:
    """Turn free text into a safe FTS5 query: each word a quoted prefix term."""
    words = [w for w in "".join(c if c.isalnum() else " " for c in text).split() if w]
    return " ".join(f'"{w}"*' for w in words) if words else None


def _where(f: RunFilter):
    query = st.Run.select()
    if f.statuses:
        query = query.where(st.Run.status.in_(list(f.statuses)))
    if f.run_types:
        query = query.where(st.Run.run_type.in_(list(f.run_types)))
    if f.hosts:
        query = query.where(st.Run.host.in_(list(f.hosts)))
    if f.since is not None:
        query = query.where(st.Run.created_at >= f.since)
    if f.until is not None:
        query = query.where(st.Run.created_at < f.until)
    if f.with_output:
        query = query.where(st.Run.output_path.is_null(False))
    if f.ids:
        query = query.where(st.Run.id.in_(list(f.ids)))
    if f.min_rating is not None:
        rated = (st.Review.select(st.Review.run).where(st.Review.rating.is_null(False))
                 .group_by(st.Review.run).having(fn.AVG(st.Review.rating) >= f.min_rating))
        query = query.where(st.Run.id.in_(rated))
    match = fts_query(f.text) if f.text else None
    if f.text and match is None:
        return query.where(SQL("0"))
    if match is not None:
        query = query.where(st.Run.id.in_(
            SQL("(SELECT run_id FROM run_fts WHERE run_fts MATCH ?)", [match])))
    return query


def query_runs(f: RunFilter, *, limit: int = 25, offset: int = 0) -> list[st.Run]:
    """One page of runs, newest first."""
    return list(_where(f).order_by(st.Run.id.desc()).limit(limit).offset(offset))


def count_runs(f: RunFilter) -> int:
    return _where(f).count()


def ratings_for(run_ids: Sequence[str]) -> dict[str, tuple[float, int]]:
    """Average rating and number of ratings per run, for one page in one query."""
    if not run_ids:
        return {}
    rows = (st.Review.select(st.Review.run, fn.AVG(st.Review.rating).alias("avg"),
                             fn.COUNT(st.Review.rating).alias("n"))
            .where(st.Review.run.in_(list(run_ids)) & st.Review.rating.is_null(False))
            .group_by(st.Review.run).tuples())
    return {run_id: (float(avg), int(n)) for run_id, avg, n in rows}
