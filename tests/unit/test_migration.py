"""Upgrading a database full of runs: schema 4 rebuilds the run table (a new status in its
CHECK constraint, owner and accounting columns) and must lose nothing: rows, every column's
value (schema 3's model, recipe and artifacts too), logs, reviews, transitions, the full-text
index and its triggers. Both a version-2 database (before model profiles) and a version-3 one
(as main wrote it, with model-profile columns filled) are upgraded; schema 5 (guardrails) and
6 (issue 15's image digest and checkpoint manifest) add columns after that rebuild."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from backend import store as st
from backend.store.schema import MIGRATIONS

FIXTURE = Path(__file__).parent / "fixtures" / "schema_v2.sql"
FIXTURE_V3 = Path(__file__).parent / "fixtures" / "schema_v3.sql"


def _old_database(path: Path, runs: int = 30) -> list[str]:
    """A version-2 database as the previous release wrote it, with runs in every state."""
    conn = sqlite3.connect(path)
    conn.executescript(FIXTURE.read_text())
    conn.execute("INSERT INTO prompt VALUES ('p1', '', 'a red car', 'ugly', NULL, 1.0)")
    ids = []
    statuses = ["queued", "staging", "running", "collecting", "completed", "failed",
                "cancelled", "blocked"]
    for i in range(runs):
        run_id = f"{i:026d}"
        status = statuses[i % len(statuses)]
        started = 100.0 + i if status != "queued" else None
        finished = 200.0 + i if status in ("completed", "failed", "cancelled", "blocked") \
            else None
        params = json.dumps({"prompt": f"neon street number {i}", "num_gpus": 2 if i % 2 else 1})
        conn.execute(
            "INSERT INTO run (id, prompt_id, parent_id, run_type, name, status, host, simulated,"
            " params, log_offset, log_lines, priority, created_at, updated_at, started_at,"
            " finished_at, gpus) VALUES (?, 'p1', ?, 'inference', ?, ?, 'sim', 1, ?, 0, 2, 0, ?,"
            " ?, ?, ?, '[0]')",
            (run_id, ids[0] if ids else None, f"shot {i}", status, params, float(i), float(i),
             started, finished))
        conn.execute("INSERT INTO logline (run_id, seq, offset, text) VALUES (?, 0, 0, 'one'),"
                     " (?, 1, 4, 'two')", (run_id, run_id))
        conn.execute("INSERT INTO runtransition (run_id, status, at, note) VALUES (?, ?, 1, '')",
                     (run_id, status))
        conn.execute("INSERT INTO review (run_id, username, rating, comment, created_at) "
                     "VALUES (?, 'rita', 4, 'nice', 1)", (run_id,))
        ids.append(run_id)
    conn.commit()
    conn.close()
    return ids


def test_upgrade_keeps_every_row_index_and_trigger(tmp_path):
    path = tmp_path / "old.db"
    ids = _old_database(path)
    store = st.Store(path)
    try:
        assert store.schema_version() == st.SCHEMA_VERSION >= 3
        assert sorted(r.id for r in st.Run.select()) == ids
        assert st.LogLine.select().count() == 2 * len(ids)
        assert st.RunTransition.select().count() == len(ids)
        assert st.Review.select().count() == len(ids)
        # old rows got their owner ("" = before owners) and GPU count from their params
        run = store.get_run(ids[3])
        assert run.owner == "" and run.gpu_count == 2 and run.parent_id == ids[0]
        # schema 3 gave every run made before model profiles the model it was made with
        assert {r.model for r in st.Run.select(st.Run.model)} == {"transfer1"}
        assert run.recipe is None and run.artifacts is None
        done = store.get_run(ids[4])  # completed: its GPU time is known
        assert done.gpu_seconds == pytest.approx((204 - 104) * 1)
        assert store.get_run(ids[0]).ran_at is None  # queued: never ran
        # the full-text index still answers, and its triggers follow new writes
        assert store.search_run_ids("number 7") == [ids[7]]
        fresh = store.create_run(params={"prompt": "a golden retriever"}, host="sim",
                                 prompt_id=None, owner="ann")
        assert store.search_run_ids("retriever") == [fresh.id]
        store.update_run(fresh.id, name="doggo")
        assert store.search_run_ids("doggo") == [fresh.id]
        # the new status is allowed, an unknown one is still refused by the database
        store.transition(fresh.id, st.STAGING, expect=(st.QUEUED,))
        store.transition(fresh.id, st.PENDING, expect=(st.STAGING,))
        with pytest.raises(Exception):
            st.Run.update(status="exploded").where(st.Run.id == fresh.id).execute()
        # indexes are back, foreign keys on and intact
        names = {r[0] for r in st.db.execute_sql(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'run'")}
        assert {"run_status_host_type_id", "run_with_output", "run_status_priority_id",
                "run_owner_id"} <= names
        assert st.db.execute_sql("PRAGMA foreign_keys").fetchone()[0] == 1
        assert st.db.execute_sql("PRAGMA foreign_key_check").fetchall() == []
        # deleting a run still cascades to its log (the children point at the new table)
        st.Run.delete_by_id(ids[5])
        assert st.LogLine.select().where(st.LogLine.run == ids[5]).count() == 0
    finally:
        store.close()


def test_opening_again_changes_nothing(tmp_path):
    path = tmp_path / "old.db"
    ids = _old_database(path, runs=5)
    st.Store(path).close()
    store = st.Store(path)
    try:
        assert sorted(r.id for r in st.Run.select()) == ids
        assert [v.version for v in st.SchemaVersion.select()] == sorted(MIGRATIONS)
    finally:
        store.close()


#: Every column of a version-3 run, each with a value of its own so a column copied into the
#: wrong place (or dropped) shows.
def _v3_run(i: int, status: str, parent: str | None) -> dict:
    finished = 300.0 + i if status in ("completed", "failed", "cancelled", "blocked") else None
    return {
        "id": f"{i:026d}", "prompt_id": "p1", "parent_id": parent, "run_type": "inference",
        "name": f"shot {i}", "status": status, "host": "sim", "simulated": 1,
        "params": json.dumps({"prompt": f"desert road {i}", "num_gpus": 4 if i % 3 else 1,
                              "model": "transfer2.5" if i % 2 else "transfer1"}),
        "spec": json.dumps({"prompt": f"spec {i}"}), "command": f"docker run -d x{i}",
        "job_script": f"#!/bin/bash\necho {i}\n", "container_name": f"cosmos-{i:026d}",
        "container_id": f"c{i:063d}", "gpus": json.dumps([i % 4]), "master_port": 12000 + i,
        "exit_code": 0 if status == "completed" else None,
        "failure_cause": "OOM" if status == "failed" else None,
        "failure_evidence": "CUDA out of memory" if status == "failed" else None,
        "cancel_requested": "force" if status == "cancelled" else None,
        "log_offset": 100 + i, "log_lines": 2, "progress": json.dumps({"fraction": 0.5}),
        "output_path": f"/data/runs/{i}/output.mp4", "thumbnail_path": f"/data/runs/{i}/t.jpg",
        "output_info": json.dumps({"width": 1280, "height": 704}), "priority": i % 5,
        "batch_id": "b1" if i in (1, 2) else None, "batch_index": i if i in (1, 2) else None,
        "external_id": f"slurm-{i}", "node": f"node{i}", "result_prompt_id": None,
        "worker_id": f"w{i}",
        "model": "transfer2.5" if i % 2 else "transfer1",
        "recipe": json.dumps({"guidance": 3, "seed": 2025 + i}) if i % 2 else None,
        "artifacts": json.dumps({"files": [{"role": "control.edge", "label": "edge control",
                                            "path": f"/data/runs/{i}/edge.mp4"}],
                                 "notes": [], "layout": {}}),
        "created_at": float(i), "updated_at": float(i) + 0.5, "started_at": 200.0 + i,
        "finished_at": finished,
    }


def _v3_database(path: Path, runs: int = 16) -> list[dict]:
    """A version-3 database as main wrote it (model profiles, before issue 16), every column
    of every run filled."""
    conn = sqlite3.connect(path)
    conn.executescript(FIXTURE_V3.read_text())
    conn.execute("INSERT INTO prompt VALUES ('p1', '', 'a desert road', 'ugly', NULL, 1.0)")
    statuses = ["completed", "failed", "queued", "running", "cancelled", "blocked", "staging",
                "collecting"]
    rows = []
    for i in range(runs):
        row = _v3_run(i, statuses[i % len(statuses)], rows[0]["id"] if rows else None)
        conn.execute(f"INSERT INTO run ({', '.join(row)}) VALUES "
                     f"({', '.join('?' * len(row))})", list(row.values()))
        conn.execute("INSERT INTO logline (run_id, seq, offset, text) VALUES (?, 0, 0, 'a')",
                     (row["id"],))
        conn.execute("INSERT INTO review (run_id, username, rating, comment, created_at) "
                     "VALUES (?, 'rita', 5, 'great', 1)", (row["id"],))
        rows.append(row)
    conn.commit()
    conn.close()
    return rows


def test_a_version_3_database_with_model_profiles_upgrades_with_nothing_lost(tmp_path):
    path = tmp_path / "v3.db"
    before = _v3_database(path)
    store = st.Store(path)
    try:
        assert store.schema_version() == st.SCHEMA_VERSION
        cursor = st.db.execute_sql('SELECT * FROM "run" ORDER BY id')
        names = [d[0] for d in cursor.description]
        after = [dict(zip(names, row)) for row in cursor.fetchall()]
        assert len(after) == len(before)
        for old, new in zip(before, after):
            # every column main had keeps its value, byte for byte
            assert {k: new[k] for k in old} == old
        # the model-profile columns in particular
        assert [r["model"] for r in after] == [r["model"] for r in before]
        assert after[1]["recipe"] == json.dumps({"guidance": 3, "seed": 2026})
        assert json.loads(after[3]["artifacts"])["files"][0]["role"] == "control.edge"
        # and the new columns got what the old rows imply
        assert all(r["owner"] == "" and r["wait_reason"] is None and r["pending_at"] is None
                   for r in after)
        assert [r["gpu_count"] for r in after] == [json.loads(r["params"])["num_gpus"]
                                                   for r in before]
        done = store.get_run(before[0]["id"])  # completed, 1 GPU: 300 - 200 seconds
        assert done.model == "transfer1" and done.gpu_seconds == pytest.approx(100.0)
        failed = store.get_run(before[1]["id"])  # failed, 4 GPUs, Transfer2.5
        assert failed.model == "transfer2.5" and failed.gpu_seconds == pytest.approx(4 * 100.0)
        assert store.get_run(before[2]["id"]).ran_at is None  # queued: never ran
        assert store.get_run(before[3]["id"]).ran_at == before[3]["started_at"]  # running
        assert st.LogLine.select().count() == len(before)
        assert st.Review.select().count() == len(before)
        assert store.search_run_ids("road 5") == [before[5]["id"]]
        assert st.db.execute_sql("PRAGMA foreign_key_check").fetchall() == []
        assert [v.version for v in st.SchemaVersion.select()] == sorted(MIGRATIONS)
        # schema 5's guardrails and issue 15's reproducibility columns: unknown for a run
        # made before them
        assert all(r["image_digest"] is None and r["checkpoints_manifest"] is None
                   and r["guardrails"] is None for r in after)
        # a new run still gets a model and an owner
        fresh = store.create_run(params={"prompt": "x", "model": "transfer2.5"}, host="sim",
                                 prompt_id=None, owner="ann")
        assert (fresh.model, fresh.owner) == ("transfer2.5", "ann")
    finally:
        store.close()


#: the step that adds issue 15's columns (its number moves as branches land)
REPRO_STEP = next(v for v, step in MIGRATIONS.items() if step.__name__ == "_reproducibility")


def test_a_database_before_issue_15_gets_the_reproducibility_columns_and_keeps_guardrails(
        tmp_path):
    """Issue 15's step (schema 7) adds image_digest and checkpoints_manifest after schema 4's
    rebuild, schema 5's `guardrails` and schema 6's review room: a database as main wrote it
    keeps its guardrails values and gets the other two, empty."""
    path = tmp_path / "v5.db"
    before = _v3_database(path, runs=6)
    st.Store(path).close()
    # make it a database as main wrote it: guardrails, no reproducibility columns
    conn = sqlite3.connect(path)
    conn.execute("ALTER TABLE run DROP COLUMN image_digest")
    conn.execute("ALTER TABLE run DROP COLUMN checkpoints_manifest")
    conn.execute("UPDATE run SET guardrails = 0 WHERE id = ?", (before[1]["id"],))
    conn.execute("DELETE FROM schemaversion WHERE version >= ?", (REPRO_STEP,))
    conn.commit()
    have = {row[1] for row in conn.execute("PRAGMA table_info(run)")}
    assert "image_digest" not in have and "guardrails" in have
    conn.close()
    store = st.Store(path)
    try:
        assert store.schema_version() == st.SCHEMA_VERSION >= REPRO_STEP
        have = {row[1] for row in st.db.execute_sql("PRAGMA table_info(run)").fetchall()}
        assert {"image_digest", "checkpoints_manifest", "guardrails", "owner"} <= have
        assert store.get_run(before[1]["id"]).guardrails is False
        assert store.get_run(before[0]["id"]).image_digest is None
        assert len(list(st.Run.select())) == len(before)
        store.update_run(before[0]["id"], image_digest="sha256:" + "a" * 64,
                         checkpoints_manifest="m-1")
        again = store.get_run(before[0]["id"])
        assert (again.image_digest, again.checkpoints_manifest) == ("sha256:" + "a" * 64, "m-1")
    finally:
        store.close()
    store = st.Store(path)  # opening again changes nothing
    try:
        assert store.get_run(before[0]["id"]).checkpoints_manifest == "m-1"
        assert [v.version for v in st.SchemaVersion.select()] == sorted(MIGRATIONS)
    finally:
        store.close()


# -- schema 9 (issue 18: the webhook delivery log), whether or not another branch's 8 exists --
def _at_schema_7(path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A database as main left it (schema 7), holding one run."""
    import backend.store.schema as schema

    with monkeypatch.context() as patch:
        patch.setattr(schema, "MIGRATIONS", {v: s for v, s in MIGRATIONS.items() if v <= 7})
        patch.setattr(schema, "SCHEMA_VERSION", 7)
        store = st.Store(path)
        run_id = store.create_run(params={"prompt": "p"}, host="sim", prompt_id=None).id
        store.close()
    return run_id


def test_webhook_log_step_applies_over_schema_7(tmp_path, monkeypatch):
    """A database as main left it (schema 7) gets the sweeps (8) and the webhook log (9)."""
    path = tmp_path / "db.sqlite"
    run_id = _at_schema_7(path, monkeypatch)
    store = st.Store(path)
    try:
        assert [v.version for v in st.SchemaVersion.select()] == sorted(MIGRATIONS)
        key = store.notice_key("h", run_id, "queued", "queued")
        assert store.claim_delivery_attempt(key=key, run_id=run_id, hook="h", event="queued",
                                            attempt=1) is not None
        assert [d.hook for d in store.webhook_deliveries(run_id)] == ["h"]
    finally:
        store.close()


def test_a_step_numbered_below_one_applied_still_runs_when_it_lands(tmp_path, monkeypatch):
    """A database made while 8 (sweeps) was on another branch (1-7 and 9 applied) gets 8 when
    it lands: every step not yet recorded runs, in order, whatever its number."""
    path = tmp_path / "db.sqlite"
    _at_schema_7(path, monkeypatch)
    st.Store(path).close()
    conn = sqlite3.connect(path)
    conn.execute("DROP TABLE sweeprun")
    conn.execute("DROP TABLE sweep")
    conn.execute("DELETE FROM schemaversion WHERE version = ?", (SWEEP_STEP,))
    conn.commit()
    conn.close()
    store = st.Store(path)
    try:
        assert sorted(v.version for v in st.SchemaVersion.select()) == sorted(MIGRATIONS)
        assert st.db.execute_sql("SELECT count(*) FROM sweep").fetchone() == (0,)
    finally:
        store.close()


#: the step that adds issue 18's sweeps (its number moves as branches land)
SWEEP_STEP = next(v for v, step in MIGRATIONS.items() if step.__name__ == "_sweeps")


def test_a_database_before_sweeps_gets_their_tables_and_keeps_its_runs(tmp_path):
    """Issue 18's step (schema 8) only adds `sweep` and `sweep_run`: a database as main wrote
    it keeps every run, and a run can then be linked to a sweep's cell (and deleting the run
    takes its link along)."""
    path = tmp_path / "v7.db"
    before = _v3_database(path, runs=4)
    st.Store(path).close()
    conn = sqlite3.connect(path)
    conn.execute("DROP TABLE sweeprun")
    conn.execute("DROP TABLE sweep")
    conn.execute("DELETE FROM schemaversion WHERE version >= ?", (SWEEP_STEP,))
    conn.commit()
    conn.close()
    store = st.Store(path)
    try:
        assert store.schema_version() == st.SCHEMA_VERSION >= SWEEP_STEP
        assert len(list(st.Run.select())) == len(before)
        with store.writing():
            sweep_id = store.create_sweep(name="s", prompt="p", owner="ann",
                                          axes=[{"name": "seed", "values": [1, 2]}],
                                          cells=[(before[0]["id"], (0, 0, 0)),
                                                 (before[1]["id"], (1, 0, 0))])
        assert [c for c, _ in store.sweep_cells(sweep_id)] == [(0, 0, 0), (1, 0, 0)]
        assert store.sweep_of(before[1]["id"]) == (sweep_id, (1, 0, 0))
        store.delete_run(before[1]["id"], remote_host=None)
        assert store.get_sweep(sweep_id).runs == 1
    finally:
        store.close()
