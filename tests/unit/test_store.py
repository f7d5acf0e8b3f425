"""The store: schema, pragmas, ids, conditional transitions and resumable logs."""

from __future__ import annotations

import json
import sqlite3
import threading

import pytest

from backend import store as st
from backend.ids import id_time, is_valid_id, new_id


@pytest.fixture
def store(tmp_path):
    s = st.Store(tmp_path / "db.sqlite")
    yield s
    s.close()


def make_run(store, host="sim", **kw):
    prompt = store.create_prompt("a red car", "ugly")
    return store.create_run(params={"prompt": "a red car", "num_gpus": 1}, host=host,
                            prompt_id=prompt.id, **kw)


def test_ids_are_unique_sortable_and_safe():
    ids = [new_id() for _ in range(5000)]
    assert len(set(ids)) == len(ids)
    assert ids == sorted(ids)
    assert all(is_valid_id(i) and len(i) == 26 for i in ids)
    assert not is_valid_id("../etc") and not is_valid_id("A" * 26)
    assert abs(id_time(ids[0]) - __import__("time").time()) < 5
    # ids made together (one millisecond) still differ within the 20 characters a person types
    assert len({i[:20] for i in ids}) == len(ids)
    assert sum(id_time(a) == id_time(b) for a, b in zip(ids, ids[1:])) > 100


def test_pragmas_and_schema_version(store, tmp_path):
    assert store.schema_version() == st.SCHEMA_VERSION
    assert st.db.execute_sql("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert st.db.execute_sql("PRAGMA foreign_keys").fetchone()[0] == 1
    assert st.db.execute_sql("PRAGMA busy_timeout").fetchone()[0] == 30000
    raw = sqlite3.connect(tmp_path / "db.sqlite")
    tables = {r[0] for r in raw.execute("select name from sqlite_master where type='table'")}
    assert {"schemaversion", "prompt", "run", "runtransition", "logline"} <= tables


def test_newer_schema_is_refused(tmp_path):
    s = st.Store(tmp_path / "db.sqlite")
    st.SchemaVersion.create(version=99, applied_at=0)
    s.close()
    with pytest.raises(RuntimeError, match="newer version"):
        st.Store(tmp_path / "db.sqlite")


def test_run_lifecycle_records_every_transition(store):
    run = make_run(store)
    assert run.status == st.QUEUED and run.params_dict()["prompt"] == "a red car"
    store.transition(run.id, st.STAGING, expect=(st.QUEUED,))
    store.transition(run.id, st.RUNNING, expect=(st.STAGING,), container_id="abc")
    with pytest.raises(st.StaleTransition):
        store.transition(run.id, st.RUNNING, expect=(st.QUEUED,))
    done = store.transition(run.id, st.COMPLETED, expect=(st.RUNNING,))
    assert done.finished_at and done.started_at and done.container_id == "abc"
    assert [t.status for t in store.transitions(run.id)] == [
        st.QUEUED, st.STAGING, st.RUNNING, st.COMPLETED]


def test_invalid_status_is_rejected_by_the_database(store):
    run = make_run(store)
    with pytest.raises(Exception):
        st.Run.update(status="exploded").where(st.Run.id == run.id).execute()


def claim_one(store, host="sim", worker="w1"):
    """The scheduler's claim with the simplest rules: any GPU, one run per container."""
    from backend.store.claims import Placement

    runs = store.claim(host, worker_id=worker, max_containers=1000,
                       place=lambda head, active: Placement([]),
                       group=lambda head, queued: [head], pick_port=lambda head, used: 29500)
    return runs[0] if runs else None


def test_claim_is_exclusive_across_threads(store):
    runs = [make_run(store) for _ in range(20)]
    claimed: list[str] = []
    lock = threading.Lock()

    def worker():
        while True:
            run = claim_one(store)
            if run is None:
                return
            with lock:
                claimed.append(run.id)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(claimed) == sorted(r.id for r in runs)


def test_claim_order_is_priority_then_fifo_and_per_host(store):
    first, second = make_run(store), make_run(store)
    urgent = make_run(store, priority=5)
    make_run(store, host="other")
    assert claim_one(store).id == urgent.id
    assert claim_one(store).id == first.id
    assert claim_one(store).id == second.id
    assert claim_one(store) is None


def test_cancel_of_queued_run_is_immediate_and_of_active_run_is_a_request(store):
    queued = make_run(store)
    assert store.request_cancel(queued.id, "graceful").status == st.CANCELLED
    active = make_run(store)
    store.transition(active.id, st.STAGING, expect=(st.QUEUED,))
    after = store.request_cancel(active.id, "force")
    assert after.status == st.STAGING and after.cancel_requested == "force"


def test_log_append_is_resumable_and_ordered(store):
    run = make_run(store)
    store.append_log(run.id, [(0, "one"), (4, "two")], 8, progress={"phase": "loading"})
    store.append_log(run.id, [(8, "three")], 14)
    fresh = store.get_run(run.id)
    assert fresh.log_offset == 14 and fresh.log_lines == 3
    assert fresh.progress_dict() == {"phase": "loading"}
    assert store.log_text(run.id) == ["one", "two", "three"]
    assert [(r.seq, r.text) for r in store.log_since(run.id, 0)] == [(1, "two"), (2, "three")]
    with pytest.raises(Exception):  # the same seq twice is refused, never doubled
        st.LogLine.create(run=run.id, seq=1, offset=4, text="two again")


def test_deleting_a_run_cascades_to_its_log(store):
    run = make_run(store)
    store.append_log(run.id, [(0, "x")], 2)
    st.Run.delete_by_id(run.id)
    assert st.LogLine.select().count() == 0
    assert json.loads("[]") == []


def test_full_text_search_follows_inserts_updates_and_deletes(store):
    red = make_run(store, name="hero shot")
    prompt = store.create_prompt("a blue café at dusk", "ugly")
    blue = store.create_run(params={"prompt": "a blue café at dusk"}, host="sim",
                            prompt_id=prompt.id)
    assert store.search_run_ids("red") == [red.id]
    assert store.search_run_ids("cafe") == [blue.id]  # diacritics folded
    assert store.search_run_ids("her") == [red.id]  # prefix match on the name
    assert store.search_run_ids("\"); DROP TABLE run; --") == []
    store.update_run(red.id, name="villain shot")
    assert store.search_run_ids("hero") == [] and store.search_run_ids("villain") == [red.id]
    st.Run.delete_by_id(blue.id)
    assert store.search_run_ids("cafe") == []
    assert store.count_runs() == 1
