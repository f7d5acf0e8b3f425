"""Every table, as Peewee models, and the run statuses.

Peewee binds models to one module-level database (`db`), opened by `Store`; one Store per
process. Queries live in the sibling modules (runs, logs, claims, history, ...), never here
and never outside this package: this file only says what is stored.
"""

from __future__ import annotations

import json
from typing import Any

from peewee import (
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

QUEUED, STAGING, RUNNING, COLLECTING = "queued", "staging", "running", "collecting"
COMPLETED, FAILED, CANCELLED, BLOCKED = "completed", "failed", "cancelled", "blocked"
#: Submitted to a cluster scheduler (Slurm) that keeps the job waiting: no GPU is held yet.
PENDING = "pending"
STATUSES = (QUEUED, STAGING, PENDING, RUNNING, COLLECTING, COMPLETED, FAILED, CANCELLED,
            BLOCKED)
TERMINAL = (COMPLETED, FAILED, CANCELLED, BLOCKED)
ACTIVE = (STAGING, PENDING, RUNNING, COLLECTING)
#: Active statuses in which a run holds its GPUs (a run pending in Slurm holds none).
HOLDING = (STAGING, RUNNING, COLLECTING)

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
    #: who launched it: the signed-in user, or the CLI's configured/OS user ("" before owners
    #: were recorded)
    owner = CharField(default="", index=True)
    gpu_count = IntegerField(default=1)  # GPUs it asks for (params num_gpus), for accounting
    wait_reason = TextField(null=True)  # why a queued run has not started (the scheduler's)
    pending_at = FloatField(null=True)  # when a cluster (Slurm) started keeping it waiting
    ran_at = FloatField(null=True)  # when it really started on its GPUs (after any wait)
    gpu_seconds = FloatField(null=True)  # its share of GPU time, set when it ends
    model = CharField(default="transfer1")  # the model profile it was made with
    recipe = TextField(null=True)  # the arguments the model resolved (Transfer2.5 <name>.json)
    artifacts = TextField(null=True)  # JSON list: [{role, label, path}] of other outputs/notes
    guardrails = BooleanField(null=True)  # the model's guardrails were on (None: not known)
    # reproducibility (issue 15): the image's content id at launch and the setup manifest of
    # the host's checkpoints then
    image_digest = TextField(null=True)
    checkpoints_manifest = TextField(null=True)
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

    def artifact_list(self) -> list[dict[str, Any]]:
        return json.loads(self.artifacts) if self.artifacts else []

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


class Session(BaseModel):
    """A signed-in browser: only the hash of its cookie is stored (the cookie is the secret).

    Ended by sign-out, by expiry, and at once when its user is removed or their password
    changes (backend/accounts.py deletes the user's rows)."""

    token_hash = CharField(primary_key=True, max_length=64)
    username = CharField(index=True)
    created_at = FloatField()
    expires_at = FloatField(index=True)


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


class EventRecord(BaseModel):
    """One published event (the outbox): how other processes learn what happened here.

    Written in the same transaction as the change it describes, read by every process's
    relay (backend/events/relay.py) and pruned after a few minutes: it is a notice board, not
    an archive. The store (runs, logs, transitions) stays the truth.
    """

    id = IntegerField(primary_key=True)
    at = FloatField(index=True)
    origin = CharField()  # the publishing process's bus, so it skips its own events
    kind = CharField()
    run_id = CharField(default="")
    data = TextField(default="{}")

    class Meta:
        table_name = "event"


# -- the review room (issue 17): shots, versions, status, frame notes, review links ----------
#: A version's review status, in the order a shot goes through them.
IN_REVIEW, NEEDS_CHANGES, APPROVED = "in_review", "needs_changes", "approved"
REVIEW_STATUSES = (IN_REVIEW, NEEDS_CHANGES, APPROVED)


class Shot(BaseModel):
    """Runs of one shot form its version stack: the same input video, or a name the artist
    picked. `key` is what makes two runs the same shot ("input:<path>" or "name:<folded>");
    `next_number` only grows, so a deleted v3 never comes back as another v3."""

    id = CharField(primary_key=True, max_length=26)
    key = CharField(unique=True)
    name = TextField(default="")
    next_number = IntegerField(default=1)
    created_at = FloatField()


class Version(BaseModel):
    """A run as the n-th version of its shot, with its review status (who set it, when)."""

    run = ForeignKeyField(Run, primary_key=True, backref="version", on_delete="CASCADE")
    shot = ForeignKeyField(Shot, backref="versions", on_delete="CASCADE")
    number = IntegerField()
    source_note = IntegerField(null=True)  # the note that asked for this version, if any
    review_status = CharField(default=IN_REVIEW, index=True, constraints=[Check(
        "review_status IN (%s)" % ",".join("'%s'" % s for s in REVIEW_STATUSES))])
    status_by = CharField(null=True)
    status_at = FloatField(null=True)

    class Meta:
        indexes = ((("shot", "number"), True),)


class StatusChange(BaseModel):
    """Every review status a version was given, by whom and when (the audit trail)."""

    run = ForeignKeyField(Run, backref="status_changes", on_delete="CASCADE")
    status = CharField()
    username = CharField()
    at = FloatField()


class Note(BaseModel):
    """A frame note on a version (frame..end_frame, 0-based), or a reply to one (`parent`).

    `drawing` is JSON: a list of shapes in normalised 0-1 coordinates (backend/review/drawing.py
    validates and describes it), so it scales with any player size and with the mask video.
    """

    id = IntegerField(primary_key=True)
    run = ForeignKeyField(Run, backref="notes", on_delete="CASCADE")
    parent = ForeignKeyField("self", null=True, backref="replies", on_delete="CASCADE")
    frame = IntegerField(null=True)
    end_frame = IntegerField(null=True)
    author = CharField()
    text = TextField(default="")
    drawing = TextField(default="")
    resolved = BooleanField(default=False)
    created_at = FloatField()

    class Meta:
        indexes = ((("run", "frame"), False),)


class ReviewLink(BaseModel):
    """A link that shows a signed-in reviewer just some versions, until it expires or is
    revoked. Only the token's sha256 is stored (the URL is shown once, when it is made), and
    the optional passphrase only as a salted scrypt hash."""

    id = CharField(primary_key=True, max_length=26)
    token_hash = CharField(unique=True)
    title = TextField(default="")
    run_ids = TextField()  # JSON list
    created_by = CharField()
    created_at = FloatField()
    expires_at = FloatField()
    passphrase_hash = TextField(null=True)
    revoked_at = FloatField(null=True)
    revoked_by = CharField(null=True)


REVIEW_MODELS = (Shot, Version, StatusChange, Note, ReviewLink)


# -- sweeps (issue 18): one request over up to three axes, as a grid of linked runs ----------
class Sweep(BaseModel):
    """A sweep: its name, the prompt it was made with, its axes (JSON list of {name, field,
    values}, in x, y, z order), who made it and when. Its runs are its SweepRun rows."""

    id = CharField(primary_key=True, max_length=26)
    name = TextField(default="")
    prompt = TextField(default="")
    axes = TextField()
    owner = CharField(default="", index=True)
    created_at = FloatField(index=True)


class SweepRun(BaseModel):
    """A run as one cell of a sweep, at (x, y, z) (0 where the sweep has no such axis). A
    deleted run takes its row along; the cell then shows as "no run" in the grid."""

    run = ForeignKeyField(Run, primary_key=True, backref="sweep_cell", on_delete="CASCADE")
    sweep = ForeignKeyField(Sweep, backref="cells", on_delete="CASCADE")
    x = IntegerField()
    y = IntegerField(default=0)
    z = IntegerField(default=0)

    class Meta:
        indexes = ((("sweep", "z", "y", "x"), True),)


SWEEP_MODELS = (Sweep, SweepRun)

# -- webhooks (issue 18) -----------------------------------------------------------------------
#: An attempt's outcome: being sent now (or the sender died mid-way), answered 2xx, another
#: attempt follows, or given up.
SENDING, DELIVERED, RETRYING, GAVE_UP = "sending", "delivered", "retrying", "failed"
DELIVERY_OUTCOMES = (SENDING, DELIVERED, RETRYING, GAVE_UP)


class WebhookDelivery(BaseModel):
    """One attempt to tell a webhook about a run: what it answered, or the error.

    `key` names the notice (webhook, run, event and the transition or review change behind
    it); (key, attempt) is unique, so when several schedulers hear one event (the app and a
    `cosmos worker`) the first to write attempt 1 is the one that delivers. Never the address
    or the secret: a Slack address is itself a token.
    """

    id = IntegerField(primary_key=True)
    run = ForeignKeyField(Run, backref="webhook_deliveries", on_delete="CASCADE")
    hook = CharField()
    event = CharField()
    key = CharField()
    attempt = IntegerField()
    at = FloatField()
    outcome = CharField(default=SENDING, constraints=[Check(
        "outcome IN (%s)" % ",".join("'%s'" % s for s in DELIVERY_OUTCOMES))])
    status_code = IntegerField(null=True)
    error = TextField(null=True)
    answered_at = FloatField(null=True)

    class Meta:
        table_name = "webhook_delivery"
        indexes = ((("key", "attempt"), True), (("run", "id"), False))


MODELS = (SchemaVersion, Prompt, Run, RunTransition, LogLine, MetricSample, User, Review, Preset,
          Worker, RemoteCleanup, EventRecord, Session) + REVIEW_MODELS + SWEEP_MODELS + (
              WebhookDelivery,)
