"""The schema and its migrations: each version is one function, applied in order, once.

Why numbered steps from the first release on: a studio upgrades the app over a database full
of runs it must not lose. Opening a database runs the steps it lacks in one IMMEDIATE
transaction; a database written by a newer app is refused instead of being misread.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Callable

from backend.store.models import (REVIEW_MODELS, EventRecord, LogLine, MetricSample, Preset,
                                  Prompt, RemoteCleanup, Review, Run, RunTransition,
                                  SchemaVersion, User, Worker, db)

log = logging.getLogger(__name__)

#: Indexes the history, gallery and filter pages need at 100,000 runs (bench/ row 5): the
#: gallery's count reads only runs with a video, and a status/host/type filter walks one index
#: in id order instead of sorting every match.
INDEX_SCHEMA = (
    "CREATE INDEX IF NOT EXISTS run_with_output ON run(id) WHERE output_path IS NOT NULL",
    "CREATE INDEX IF NOT EXISTS run_status_host_type_id ON run(status, host, run_type, id)",
    "CREATE INDEX IF NOT EXISTS review_run_rating ON review(run_id, rating)",
)

#: Full-text search over run names and prompt text, kept in step with `run` by triggers so no
#: code path can forget to index a run.
FTS_SCHEMA = (
    "CREATE VIRTUAL TABLE IF NOT EXISTS run_fts USING fts5("
    "run_id UNINDEXED, name, prompt, tokenize='unicode61 remove_diacritics 2')",
    "CREATE TRIGGER IF NOT EXISTS run_fts_insert AFTER INSERT ON run BEGIN "
    "INSERT INTO run_fts(run_id, name, prompt) VALUES "
    "(new.id, new.name, coalesce(json_extract(new.params, '$.prompt'), '')); END",
    "CREATE TRIGGER IF NOT EXISTS run_fts_delete AFTER DELETE ON run BEGIN "
    "DELETE FROM run_fts WHERE run_id = old.id; END",
    "CREATE TRIGGER IF NOT EXISTS run_fts_update AFTER UPDATE OF name, params ON run BEGIN "
    "UPDATE run_fts SET name = new.name, "
    "prompt = coalesce(json_extract(new.params, '$.prompt'), '') WHERE run_id = new.id; END",
)


def _first_release() -> None:
    db.create_tables([Prompt, Run, RunTransition, LogLine, MetricSample, User, Review, Preset,
                      Worker, RemoteCleanup])
    for statement in INDEX_SCHEMA + FTS_SCHEMA:
        db.execute_sql(statement)


def _event_outbox() -> None:
    db.create_tables([EventRecord])


#: Columns model profiles added to `run` (issue 13): which profile made a run, the resolved
#: recipe it left, and its other outputs. Existing runs were all made with Transfer1.
RUN_MODEL_COLUMNS = (
    ("model", "VARCHAR(255) NOT NULL DEFAULT 'transfer1'"),
    ("recipe", "TEXT"),
    ("artifacts", "TEXT"),
)


def _model_profiles() -> None:
    have = {row[1] for row in db.execute_sql("PRAGMA table_info(run)").fetchall()}
    for name, sql_type in RUN_MODEL_COLUMNS:
        if name not in have:  # a database made by this version already has them
            db.execute_sql(f"ALTER TABLE run ADD COLUMN {name} {sql_type}")


def _review_room() -> None:
    """Issue 17: shots and versions (existing video runs become versions of their shot),
    review status history, frame notes and review links.

    Why it only creates tables and reads named `run` columns: its place in the numbering may
    move when branches land, so it must not rely on any other step's columns being there or not.
    """
    from backend.store.versions import backfill_versions

    db.create_tables(list(REVIEW_MODELS))
    backfill_versions()


#: version -> the step that brings the database from version-1 to it.
MIGRATIONS: dict[int, Callable[[], None]] = {
    1: _first_release,
    2: _event_outbox,
    3: _model_profiles,
    4: _review_room,
}
SCHEMA_VERSION = max(MIGRATIONS)


def current_version() -> int:
    row = SchemaVersion.select().order_by(SchemaVersion.version.desc()).first()
    return row.version if row else 0


def migrate(path: Path) -> None:
    """Bring the open database up to SCHEMA_VERSION, or refuse one from a newer app."""
    with db.connection_context():
        with db.atomic("IMMEDIATE"):
            db.create_tables([SchemaVersion])
            current = current_version()
            if current > SCHEMA_VERSION:
                raise RuntimeError(
                    f"{path} was written by a newer version (schema {current}); "
                    f"this app understands up to {SCHEMA_VERSION}. Upgrade the app.")
            for version in range(current + 1, SCHEMA_VERSION + 1):
                MIGRATIONS[version]()
                SchemaVersion.create(version=version, applied_at=time.time())
                log.info("database %s: schema %d applied", path, version)
