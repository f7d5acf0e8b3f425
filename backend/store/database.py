"""The single source of truth: prompts, runs, their logs and status history, in SQLite.

Why SQLite with WAL and a busy timeout: the app, its scheduler thread and a separate
`cosmos worker` process all read and write the same file; WAL lets readers (the UI) never block
the writer (the executor), and the busy timeout turns brief write contention into a short wait
instead of an error. Every status change is a conditional UPDATE, so two workers can never
both move the same run.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from pathlib import Path
from typing import Any, Iterable, Sequence

from peewee import (
    SQL,
    BooleanField,
    CharField,
    Check,
    FloatField,
    ForeignKeyField,
    IntegerField,
    Model,
    SqliteDatabase,
    TextField,
)

from backend.ids import new_id

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1

QUEUED, STAGING, RUNNING, COLLECTING = "queued", "staging", "running", "collecting"
COMPLETED, FAILED, CANCELLED, BLOCKED = "completed", "failed", "cancelled", "blocked"
STATUSES = (QUEUED, STAGING, RUNNING, COLLECTING, COMPLETED, FAILED, CANCELLED, BLOCKED)
TERMINAL = (COMPLETED, FAILED, CANCELLED, BLOCKED)
ACTIVE = (STAGING, RUNNING, COLLECTING)

db = SqliteDatabase(None)


class BaseModel(Model):
    class Meta:
        database = db


class SchemaVersion(BaseModel):
    version = IntegerField()
    applied_at = FloatField()


class Prompt(BaseModel):
    id = CharField(primary_key=True, max_length=26)
    name = TextField(default="")
    text = TextField()
    negative_prompt = TextField()
    parent = ForeignKeyField("self", null=True, backref="derived", on_delete="SET NULL")
    created_at = FloatField(index=True)


class Run(BaseModel):
    id = CharField(primary_key=True, max_length=26)
    prompt = ForeignKeyField(Prompt, null=True, backref="runs", on_delete="SET NULL")
    parent = ForeignKeyField("self", null=True, backref="children", on_delete="SET NULL")
    run_type = CharField(default="inference", index=True)
    name = TextField(default="")
    status = CharField(constraints=[Check("status IN (%s)" % ",".join(
        "'%s'" % s for s in STATUSES))])
    host = CharField()
    simulated = BooleanField(default=False)
    params = TextField()  # GenerationParams as JSON
    spec = TextField(null=True)  # the spec JSON exactly as sent
    command = TextField(null=True)  # the exact docker run command line
    job_script = TextField(null=True)
    container_name = CharField(null=True)
    container_id = CharField(null=True)
    gpus = TextField(null=True)  # JSON list of GPU ids
    master_port = IntegerField(null=True)
    exit_code = IntegerField(null=True)
    failure_cause = TextField(null=True)
    failure_evidence = TextField(null=True)
    cancel_requested = CharField(null=True)  # None | "graceful" | "force"
    log_offset = IntegerField(default=0)  # bytes of the remote log already stored
    log_lines = IntegerField(default=0)
    progress = TextField(null=True)  # Progress as JSON
    output_path = TextField(null=True)  # local copy of the output video
    thumbnail_path = TextField(null=True)
    output_info = TextField(null=True)  # JSON: width, height, frames, fps, bytes
    priority = IntegerField(default=0)
    batch_id = CharField(null=True, index=True)  # runs sharing one container (smart batching)
    batch_index = IntegerField(null=True)  # this run's line in the batch JSONL
    external_id = CharField(null=True)  # e.g. the Slurm job id
    node = CharField(null=True)  # where it actually ran (Slurm node, ...)
    result_prompt_id = CharField(null=True)  # enhance runs: the improved prompt they produced
    worker_id = CharField(null=True, index=True)  # the scheduler that drives it now
    created_at = FloatField()
    updated_at = FloatField()
    started_at = FloatField(null=True)
    finished_at = FloatField(null=True)

    class Meta:
        indexes = ((("status", "priority", "id"), False), (("created_at",), False))

    def params_dict(self) -> dict[str, Any]:
        return json.loads(self.params)

    def gpu_list(self) -> list[int]:
        return json.loads(self.gpus) if self.gpus else []

    def progress_dict(self) -> dict[str, Any] | None:
        return json.loads(self.progress) if self.progress else None

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL


class RunTransition(BaseModel):
    """Every status a run passed through, with when: the audit trail behind 'what happened'."""

    run = ForeignKeyField(Run, backref="transitions", on_delete="CASCADE")
    status = CharField()
    at = FloatField()
    note = TextField(default="")


class LogLine(BaseModel):
    run = ForeignKeyField(Run, backref="log", on_delete="CASCADE")
    seq = IntegerField()  # 0-based line number within the run's log
    offset = IntegerField()  # byte offset of the line in the remote log file
    text = TextField()

    class Meta:
        indexes = ((("run", "seq"), True),)


class MetricSample(BaseModel):
    """One nvidia-smi reading of one GPU while a run used it (the run view's GPU plot)."""

    run = ForeignKeyField(Run, backref="metrics", on_delete="CASCADE")
    at = FloatField()
    gpu = IntegerField()
    utilization = FloatField(null=True)  # percent
    memory_used = FloatField(null=True)  # MiB
    memory_total = FloatField(null=True)  # MiB
    temperature = FloatField(null=True)  # Celsius

    class Meta:
        indexes = ((("run", "at"), False),)


class User(BaseModel):
    """A person who may sign in (needed for --share or a non-loopback bind)."""

    username = CharField(unique=True)
    password_hash = TextField()  # salted slow hash, never the password
    role = CharField(constraints=[Check("role IN ('operator','reviewer')")])
    created_at = FloatField()


class Review(BaseModel):
    run = ForeignKeyField(Run, backref="reviews", on_delete="CASCADE")
    username = CharField()
    rating = IntegerField(null=True, constraints=[Check("rating IS NULL OR rating BETWEEN 1 AND 5")])
    comment = TextField(default="")
    created_at = FloatField(index=True)


class Preset(BaseModel):
    """Named Create-form settings an artist saved to reuse."""

    name = CharField(unique=True)
    params = TextField()  # GenerationParams as JSON (no input files)
    created_at = FloatField()
    updated_at = FloatField()


class Worker(BaseModel):
    """A live scheduler (in the app or `cosmos worker`); a stale heartbeat frees its runs."""

    id = CharField(primary_key=True, max_length=26)
    pid = IntegerField()
    hostname = CharField()
    started_at = FloatField()
    heartbeat_at = FloatField(index=True)


class RemoteCleanup(BaseModel):
    """A deleted run's folder on a box, removed by the scheduler (the UI never does I/O)."""

    host = CharField()
    run_id = CharField()
    created_at = FloatField()


MODELS = (SchemaVersion, Prompt, Run, RunTransition, LogLine, MetricSample, User, Review, Preset,
          Worker, RemoteCleanup)

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


class StaleTransition(RuntimeError):
    """The run was not in the status the caller expected (someone else moved it)."""


class Store:
    """Opens the database and answers every question the app asks of it.

    One Store per process (Peewee models bind to a module-level database); connections are
    per thread, so the scheduler thread and UI handlers never share a cursor.
    """

    _init_lock = threading.Lock()

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._init_lock:
            if not db.is_closed():
                db.close()
            db.init(
                str(self.path),
                pragmas={
                    "journal_mode": "wal",
                    "foreign_keys": 1,
                    "busy_timeout": 30000,
                    "synchronous": "normal",
                },
                check_same_thread=False,
            )
            self._migrate()

    # -- schema -------------------------------------------------------------------------------
    def _migrate(self) -> None:
        with db.connection_context():
            with db.atomic("IMMEDIATE"):
                db.create_tables([SchemaVersion])
                row = SchemaVersion.select().order_by(SchemaVersion.version.desc()).first()
                current = row.version if row else 0
                if current > SCHEMA_VERSION:
                    raise RuntimeError(
                        f"{self.path} was written by a newer version (schema {current}); "
                        f"this app understands up to {SCHEMA_VERSION}. Upgrade the app."
                    )
                if current < 1:
                    db.create_tables([m for m in MODELS if m is not SchemaVersion])
                    for statement in INDEX_SCHEMA + FTS_SCHEMA:
                        db.execute_sql(statement)
                    SchemaVersion.create(version=1, applied_at=time.time())
                    log.info("created database schema %d at %s", SCHEMA_VERSION, self.path)

    def schema_version(self) -> int:
        row = SchemaVersion.select().order_by(SchemaVersion.version.desc()).first()
        return row.version if row else 0

    def close(self) -> None:
        if not db.is_closed():
            db.close()

    # -- prompts ------------------------------------------------------------------------------
    def create_prompt(self, text: str, negative_prompt: str, name: str = "",
                      parent_id: str | None = None) -> Prompt:
        return Prompt.create(id=new_id(), text=text, negative_prompt=negative_prompt, name=name,
                             parent=parent_id, created_at=time.time())

    def get_prompt(self, prompt_id: str) -> Prompt | None:
        return Prompt.get_or_none(Prompt.id == prompt_id)

    # -- runs ---------------------------------------------------------------------------------
    def create_run(self, *, params: dict[str, Any], host: str, prompt_id: str | None,
                   run_type: str = "inference", name: str = "", simulated: bool = False,
                   parent_id: str | None = None, priority: int = 0) -> Run:
        now = time.time()
        with db.atomic("IMMEDIATE"):
            run = Run.create(
                id=new_id(), prompt=prompt_id, parent=parent_id, run_type=run_type, name=name,
                status=QUEUED, host=host, simulated=simulated, params=json.dumps(params),
                priority=priority, created_at=now, updated_at=now,
            )
            RunTransition.create(run=run.id, status=QUEUED, at=now)
        return run

    def get_run(self, run_id: str) -> Run | None:
        return Run.get_or_none(Run.id == run_id)

    def list_runs(self, *, limit: int = 50, offset: int = 0,
                  statuses: Sequence[str] | None = None) -> list[Run]:
        query = Run.select().order_by(Run.id.desc())
        if statuses:
            query = query.where(Run.status.in_(list(statuses)))
        return list(query.limit(limit).offset(offset))

    def runs_in(self, statuses: Iterable[str], host: str | None = None) -> list[Run]:
        query = Run.select().where(Run.status.in_(list(statuses)))
        if host is not None:
            query = query.where(Run.host == host)
        return list(query.order_by(Run.id))

    def update_run(self, run_id: str, **fields: Any) -> None:
        """Set fields that are not the status (command, container id, progress...)."""
        fields["updated_at"] = time.time()
        Run.update(**fields).where(Run.id == run_id).execute()

    def transition(self, run_id: str, new_status: str, *, expect: Sequence[str],
                   note: str = "", **fields: Any) -> Run:
        """Move a run to `new_status` only if it is in one of `expect`; record when.

        The conditional UPDATE is what makes claims and kills race-free across threads and
        processes: exactly one caller sees a row count of 1.
        """
        now = time.time()
        fields = dict(fields, status=new_status, updated_at=now)
        if new_status in TERMINAL:
            fields.setdefault("finished_at", now)
        if new_status == STAGING:
            fields.setdefault("started_at", now)
        with db.atomic("IMMEDIATE"):
            count = (Run.update(**fields)
                     .where((Run.id == run_id) & (Run.status.in_(list(expect))))
                     .execute())
            if count != 1:
                current = Run.get_or_none(Run.id == run_id)
                raise StaleTransition(
                    f"run {run_id} is {current.status if current else 'gone'}, "
                    f"not {'/'.join(expect)}; cannot move it to {new_status}"
                )
            RunTransition.create(run=run_id, status=new_status, at=now, note=note)
        return Run.get_by_id(run_id)

    def claim_next(self, host: str) -> Run | None:
        """Atomically take the oldest highest-priority queued run of a host (or None)."""
        while True:
            candidate = (Run.select(Run.id)
                         .where((Run.status == QUEUED) & (Run.host == host))
                         .order_by(Run.priority.desc(), Run.id).first())
            if candidate is None:
                return None
            try:
                return self.transition(candidate.id, STAGING, expect=(QUEUED,), note="claimed")
            except StaleTransition:
                continue  # another worker took it; look again

    def request_cancel(self, run_id: str, mode: str) -> Run:
        """Mark a kill request; a queued run is cancelled at once (nothing to stop)."""
        run = self.get_run(run_id)
        if run is None:
            raise KeyError(run_id)
        if run.status == QUEUED:
            try:
                return self.transition(run_id, "cancelled", expect=(QUEUED,),
                                       note="dequeued before start",
                                       failure_cause="Cancelled before it started.")
            except StaleTransition:
                run = self.get_run(run_id)
        if run.status in ACTIVE:
            self.update_run(run_id, cancel_requested=mode)
        return self.get_run(run_id)

    def transitions(self, run_id: str) -> list[RunTransition]:
        return list(RunTransition.select().where(RunTransition.run == run_id)
                    .order_by(RunTransition.id))

    # -- logs ---------------------------------------------------------------------------------
    def append_log(self, run_id: str, lines: Sequence[tuple[int, str]], new_offset: int,
                   progress: dict[str, Any] | None = None) -> None:
        """Store complete log lines and the byte offset after them in one transaction.

        Storing both together is what makes following resumable: after any crash the stored
        offset points exactly past the last stored line, so nothing is lost or doubled.
        """
        with db.atomic("IMMEDIATE"):
            run = Run.select(Run.log_lines).where(Run.id == run_id).first()
            seq = run.log_lines
            if lines:
                LogLine.insert_many(
                    [{"run": run_id, "seq": seq + i, "offset": off, "text": text}
                     for i, (off, text) in enumerate(lines)]
                ).execute()
            fields: dict[str, Any] = {"log_offset": new_offset, "log_lines": seq + len(lines),
                                      "updated_at": time.time()}
            if progress is not None:
                fields["progress"] = json.dumps(progress)
            Run.update(**fields).where(Run.id == run_id).execute()

    def log_since(self, run_id: str, after_seq: int = -1, limit: int = 5000) -> list[LogLine]:
        return list(LogLine.select().where((LogLine.run == run_id) & (LogLine.seq > after_seq))
                    .order_by(LogLine.seq).limit(limit))

    def log_text(self, run_id: str) -> list[str]:
        return [row.text for row in LogLine.select(LogLine.text).where(LogLine.run == run_id)
                .order_by(LogLine.seq)]

    def search_run_ids(self, text: str, limit: int = 50, offset: int = 0) -> list[str]:
        """Run ids whose name or prompt match `text` (words, prefix match), newest first."""
        words = [w for w in "".join(c if c.isalnum() else " " for c in text).split() if w]
        if not words:
            return []
        query = " ".join(f'"{w}"*' for w in words)
        rows = db.execute_sql("SELECT run_id FROM run_fts WHERE run_fts MATCH ? "
                              "ORDER BY run_id DESC LIMIT ? OFFSET ?", (query, limit, offset))
        return [r[0] for r in rows.fetchall()]

    def count_runs(self) -> int:
        return Run.select(SQL("1")).count()
