"""History, gallery and search pages: filtered, paged, indexed queries over runs.

One query per page (plus one count), never a query per row: the pages must stay fast with
100,000 runs in the store. Full-text search goes through the FTS5 table the store keeps in
step with every run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

from peewee import SQL, fn

from backend.store.models import Review, Run, db
from backend.store.reviews import ratings_for  # noqa: F401  (the pages' ratings)
from backend.store.versions import latest_versions_query, statuses_query


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
    ids: Sequence[str] | None = field(default_factory=tuple)  # None: none at all (an empty scope)
    review_statuses: Sequence[str] = ()  # versions in one of these review statuses
    latest_only: bool = False  # only each shot's newest version with a video
    owners: Sequence[str] = ()  # launched by one of these people


def fts_query(text: str) -> str | None:
    """Turn free text into a safe FTS5 query: each word a quoted prefix term."""
    words = [w for w in "".join(c if c.isalnum() else " " for c in text).split() if w]
    return " ".join(f'"{w}"*' for w in words) if words else None


def _where(f: RunFilter):
    query = Run.select()
    if f.statuses:
        query = query.where(Run.status.in_(list(f.statuses)))
    if f.run_types:
        query = query.where(Run.run_type.in_(list(f.run_types)))
    if f.hosts:
        query = query.where(Run.host.in_(list(f.hosts)))
    if f.owners:
        query = query.where(Run.owner.in_(list(f.owners)))
    if f.since is not None:
        query = query.where(Run.created_at >= f.since)
    if f.until is not None:
        query = query.where(Run.created_at < f.until)
    if f.with_output:
        query = query.where(Run.output_path.is_null(False))
    if f.ids is None:
        return query.where(SQL("0"))
    if f.ids:
        query = query.where(Run.id.in_(list(f.ids)))
    if f.review_statuses:
        query = query.where(Run.id.in_(statuses_query(f.review_statuses)))
    if f.latest_only:
        query = query.where(Run.id.in_(latest_versions_query()))
    if f.min_rating is not None:
        rated = (Review.select(Review.run).where(Review.rating.is_null(False))
                 .group_by(Review.run).having(fn.AVG(Review.rating) >= f.min_rating))
        query = query.where(Run.id.in_(rated))
    match = fts_query(f.text) if f.text else None
    if f.text and match is None:
        return query.where(SQL("0"))
    if match is not None:
        query = query.where(Run.id.in_(
            SQL("(SELECT run_id FROM run_fts WHERE run_fts MATCH ?)", [match])))
    return query


def query_runs(f: RunFilter, *, limit: int = 25, offset: int = 0) -> list[Run]:
    """One page of runs, newest first."""
    return list(_where(f).order_by(Run.id.desc()).limit(limit).offset(offset))


def count_runs(f: RunFilter) -> int:
    return _where(f).count()


def search_run_ids(text: str, limit: int = 50, offset: int = 0) -> list[str]:
    """Run ids whose name or prompt match `text` (words, prefix match), newest first."""
    match = fts_query(text)
    if match is None:
        return []
    rows = db.execute_sql("SELECT run_id FROM run_fts WHERE run_fts MATCH ? "
                          "ORDER BY run_id DESC LIMIT ? OFFSET ?", (match, limit, offset))
    return [r[0] for r in rows.fetchall()]


def count_matches(text: str) -> int:
    """How many runs match `text` in all (the search's total)."""
    match = fts_query(text)
    if match is None:
        return 0
    return int(db.execute_sql("SELECT count(*) FROM run_fts WHERE run_fts MATCH ?",
                              (match,)).fetchone()[0])


def owners() -> list[str]:
    """Everyone who owns a run, by name (the owner filter's choices)."""
    return [r[0] for r in Run.select(Run.owner).where(Run.owner != "").distinct()
            .order_by(Run.owner).tuples()]


class HistoryStore:
    """The history pages as Store methods (a mixin; the functions above do the work)."""

    def run_owners(self) -> list[str]:
        return owners()

    def query_runs(self, flt: RunFilter, *, limit: int = 25, offset: int = 0) -> list[Run]:
        return query_runs(flt, limit=limit, offset=offset)

    def count_matching(self, flt: RunFilter) -> int:
        return count_runs(flt)

    def search_run_ids(self, text: str, limit: int = 50, offset: int = 0) -> list[str]:
        return search_run_ids(text, limit, offset)

    def count_search_matches(self, text: str) -> int:
        return count_matches(text)
