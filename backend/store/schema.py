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

from backend.store.models import (REVIEW_MODELS, SWEEP_MODELS, EventRecord, LogLine,
                                  MetricSample, Preset, Prompt, RemoteCleanup, Review, Run,
                                  RunTransition, SchemaVersion, Session, User, WebhookDelivery,
                                  Worker, db)

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


#: Values for the run columns schema 4 added, computed from what an older row has.
_NEW_RUN_COLUMNS = {
    "owner": "''",
    "gpu_count": "coalesce(CAST(json_extract(params, '$.num_gpus') AS INTEGER), 1)",
    "wait_reason": "NULL",
    "pending_at": "NULL",
    # a table that never had schema 3's model column: every older run was made with Transfer1
    "model": "'transfer1'",
    # a run that got past staging started on its GPUs about when it was staged
    "ran_at": "CASE WHEN status NOT IN ('queued', 'staging') OR finished_at IS NOT NULL "
              "THEN started_at END",
    "gpu_seconds": "CASE WHEN finished_at IS NOT NULL AND started_at IS NOT NULL THEN "
                   "max(0, finished_at - started_at) * "
                   "coalesce(CAST(json_extract(params, '$.num_gpus') AS INTEGER), 1) END",
}


def _rebuild_run_table() -> None:
    """Rebuild `run` from the current model, keeping every row, index and FTS trigger.

    SQLite cannot change a CHECK constraint (the new `pending` status), so the table is made
    anew and the rows copied (the 12-step procedure of sqlite.org/lang_altertable.html; the
    caller has turned foreign keys off, so dropping the old table cascades nothing). Columns
    are copied by name, so a column another migration added is kept too.
    """
    old = {row[1] for row in db.execute_sql("PRAGMA table_info(run)").fetchall()}
    new = [field.column_name for field in Run._meta.sorted_fields]
    sql, params = Run._schema._create_table(safe=False).query()
    head = 'CREATE TABLE "run" ('
    if not sql.startswith(head):
        raise RuntimeError(f"unexpected CREATE TABLE for run: {sql[:80]}")
    db.execute_sql('CREATE TABLE "run_rebuilt" (' + sql[len(head):], params)
    values = [f'"{c}"' if c in old else _NEW_RUN_COLUMNS.get(c, "NULL") for c in new]
    db.execute_sql('INSERT INTO "run_rebuilt" (' + ", ".join(f'"{c}"' for c in new) + ") SELECT "
                   + ", ".join(values) + ' FROM "run"')
    before = db.execute_sql('SELECT count(*) FROM "run"').fetchone()[0]
    after = db.execute_sql('SELECT count(*) FROM "run_rebuilt"').fetchone()[0]
    if before != after:
        raise RuntimeError(f"run table rebuild copied {after} of {before} rows; nothing changed")
    db.execute_sql('DROP TABLE "run"')
    db.execute_sql('ALTER TABLE "run_rebuilt" RENAME TO "run"')
    Run._schema.create_indexes(safe=True)
    for statement in INDEX_SCHEMA + FTS_SCHEMA + RUN_INDEXES_V4:
        db.execute_sql(statement)


#: Owner filters and the per-owner queue (fair share) walk these.
RUN_INDEXES_V4 = (
    "CREATE INDEX IF NOT EXISTS run_owner_id ON run(owner, id)",
    "CREATE INDEX IF NOT EXISTS run_status_host_owner ON run(status, host, owner, priority, id)",
)


def _owners_and_pending() -> None:
    """Schema 4 (issue 16): every run has an owner, its GPU count and its real start (after a
    cluster's queue), the `pending` status; sign-in sessions."""
    _rebuild_run_table()
    db.create_tables([Session])


def _run_guardrails() -> None:
    """Whether a run's guardrails were on (issue 19 Cosmos 3, issue 15 box setup: the same
    column, so whichever lands first adds it and the other finds it)."""
    have = {row[1] for row in db.execute_sql("PRAGMA table_info(run)").fetchall()}
    if "guardrails" not in have:
        db.execute_sql("ALTER TABLE run ADD COLUMN guardrails INTEGER")


def _review_room() -> None:
    """Issue 17: shots and versions (existing video runs become versions of their shot),
    review status history, frame notes and review links.

    Why it only creates tables and reads named `run` columns: its place in the numbering may
    move when branches land, so it must not rely on any other step's columns being there or not.
    """
    from backend.store.versions import backfill_versions

    db.create_tables(list(REVIEW_MODELS))
    backfill_versions()


#: Columns that make a run reproducible (issue 15), with schema 5's `guardrails`: the image's
#: digest and the setup manifest of the host's checkpoints at launch. Runs made before have
#: none (NULL: unknown). This step comes after schema 4's rebuild of `run` (which copies
#: columns by name and makes any the model has but the old table lacks, NULL): a column
#: already there is skipped, so a database that went through the rebuild is left as it is,
#: and the step may move in the numbering when branches land.
RUN_REPRO_COLUMNS = (("image_digest", "TEXT"), ("checkpoints_manifest", "TEXT"))


def _reproducibility() -> None:
    have = {row[1] for row in db.execute_sql("PRAGMA table_info(run)").fetchall()}
    for name, sql_type in RUN_REPRO_COLUMNS:
        if name not in have:
            db.execute_sql(f"ALTER TABLE run ADD COLUMN {name} {sql_type}")


def _sweeps() -> None:
    """Issue 18: sweeps and the link of each of their runs to its cell. Only new tables, so
    the step holds whatever number it lands at when branches meet."""
    db.create_tables(list(SWEEP_MODELS))


def _webhook_deliveries() -> None:
    """Issue 18: the webhook delivery log (one row per attempt). Creates only its own table
    (referring to `run` of schema 1), so it applies whether or not the steps numbered around
    it are there."""
    db.create_tables([WebhookDelivery])


#: version -> the step that brings the database from version-1 to it. A number may be
#: missing while branches land (8 is another branch's): the steps present and not yet applied
#: run in order (see _migrate_steps).
MIGRATIONS: dict[int, Callable[[], None]] = {
    1: _first_release,
    2: _event_outbox,
    3: _model_profiles,
    4: _owners_and_pending,
    5: _run_guardrails,
    6: _review_room,
    7: _reproducibility,
    8: _sweeps,
    9: _webhook_deliveries,
}
SCHEMA_VERSION = max(MIGRATIONS)


def current_version() -> int:
    row = SchemaVersion.select().order_by(SchemaVersion.version.desc()).first()
    return row.version if row else 0


def migrate(path: Path) -> None:
    """Bring the open database up to SCHEMA_VERSION, or refuse one from a newer app.

    Foreign keys are off while the steps run (a step may rebuild a table that others refer
    to; SQLite only honours the pragma outside a transaction) and are checked before the
    commit: a step that would leave a dangling reference rolls everything back.
    """
    with db.connection_context():
        db.execute_sql("PRAGMA foreign_keys = OFF")
        try:
            _migrate_steps(path)
        finally:
            db.execute_sql("PRAGMA foreign_keys = ON")


def _migrate_steps(path: Path) -> None:
    with db.atomic("IMMEDIATE"):
        db.create_tables([SchemaVersion])
        current = current_version()
        if current > SCHEMA_VERSION:
            raise RuntimeError(
                f"{path} was written by a newer version (schema {current}); "
                f"this app understands up to {SCHEMA_VERSION}. Upgrade the app.")
        # every step not yet applied, in order: also one numbered below a step already there
        # (a database made while a branch's step 8 was missing gets it when it lands; such
        # steps depend only on the tables of 1-7, so their order among themselves is free)
        applied = {row.version for row in SchemaVersion.select(SchemaVersion.version)}
        missing = sorted(set(MIGRATIONS) - applied)
        for version in missing:
            MIGRATIONS[version]()
            SchemaVersion.create(version=version, applied_at=time.time())
            log.info("database %s: schema %d applied", path, version)
        if missing:
            broken = db.execute_sql("PRAGMA foreign_key_check").fetchall()
            if broken:
                raise RuntimeError(f"{path}: migration would leave {len(broken)} dangling "
                                   f"reference(s), e.g. {broken[0]}; nothing was changed")
