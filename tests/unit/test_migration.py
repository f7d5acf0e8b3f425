"""Upgrading a database full of runs: schema 3 rebuilds the run table (a new status in its
CHECK constraint, owner and accounting columns) and must lose nothing: rows, logs, reviews,
transitions, the full-text index and its triggers."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from backend import store as st

FIXTURE = Path(__file__).parent / "fixtures" / "schema_v2.sql"


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
        assert [v.version for v in st.SchemaVersion.select()] == list(
            range(1, st.SCHEMA_VERSION + 1))
    finally:
        store.close()
