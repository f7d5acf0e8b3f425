"""Events: published where the state changes, delivered after commit, across processes."""

from __future__ import annotations

import asyncio
import concurrent.futures
import subprocess
import sys
import textwrap
import time

import pytest

from backend import store as st
from backend.events.bus import EventBus
from backend.events.relay import Relay
from backend.events.types import (CancelRequested, HostTelemetry, LogAppended, StatusChanged,
                                  decode)
from backend.store import events as outbox
from tests.helpers import ROOT


@pytest.fixture
def store(tmp_path):
    s = st.Store(tmp_path / "db.sqlite", EventBus())
    yield s
    s.close()


def collect(store, kinds=None) -> list:
    seen: list = []
    store.bus.subscribe(seen.append, kinds)
    return seen


def make_run(store):
    return store.create_run(params={"prompt": "a red car"}, host="sim", prompt_id=None)


def test_every_status_change_publishes_with_what_it_was(store):
    seen = collect(store, kinds=("status",))
    run = make_run(store)
    store.transition(run.id, st.STAGING, expect=(st.QUEUED,))
    store.transition(run.id, st.RUNNING, expect=(st.STAGING,))
    store.transition(run.id, st.COLLECTING, expect=(st.RUNNING,))
    store.transition(run.id, st.COMPLETED, expect=(st.COLLECTING,))
    store.delete_run(run.id, remote_host=None)
    assert [(e.status, e.previous) for e in seen] == [
        (st.QUEUED, None), (st.STAGING, st.QUEUED), (st.RUNNING, st.STAGING),
        (st.COLLECTING, st.RUNNING), (st.COMPLETED, st.COLLECTING), ("deleted", None)]
    assert all(e.run_id == run.id and isinstance(e, StatusChanged) for e in seen)
    assert seen[1].host == "sim"


def test_a_refused_transition_publishes_nothing(store):
    run = make_run(store)
    seen = collect(store)
    with pytest.raises(st.StaleTransition):
        store.transition(run.id, st.RUNNING, expect=(st.STAGING,))
    assert seen == []
    assert outbox.last_event_id() == 1  # only the queued event of create_run was written


def test_events_inside_a_transaction_arrive_after_it_commits_or_never(store):
    run = make_run(store)
    seen_status = []

    def on_event(event):  # reads the store the moment it hears: the change must be there
        seen_status.append((event.status, store.get_run(run.id).status))

    store.bus.subscribe(on_event, kinds=("status",))
    with store.writing():
        store.transition(run.id, st.STAGING, expect=(st.QUEUED,))
        assert seen_status == []  # not yet: the transaction is open
    assert seen_status == [(st.STAGING, st.STAGING)]
    with pytest.raises(RuntimeError):
        with store.writing():
            store.transition(run.id, st.RUNNING, expect=(st.STAGING,))
            raise RuntimeError("rolled back")
    assert seen_status == [(st.STAGING, st.STAGING)]
    assert store.get_run(run.id).status == st.STAGING


def test_log_progress_and_cancel_are_published(store):
    seen = collect(store)
    run = make_run(store)
    store.transition(run.id, st.STAGING, expect=(st.QUEUED,))
    store.append_log(run.id, [(0, "a"), (2, "b")], 4, progress={"phase": "loading"})
    store.append_log(run.id, [(4, "c")], 6, progress={"phase": "loading"})
    store.request_cancel(run.id, "force")
    logs = [e for e in seen if isinstance(e, LogAppended)]
    assert [(e.first_seq, e.count) for e in logs] == [(0, 2), (2, 1)]
    assert [e.progress for e in seen if e.kind == "progress"] == [{"phase": "loading"}]
    assert [e.mode for e in seen if isinstance(e, CancelRequested)] == ["force"]


def test_append_log_refuses_lines_that_do_not_start_at_the_stored_offset(store):
    run = make_run(store)
    assert store.append_log(run.id, [(0, "one")], 4, expect_offset=0)
    assert not store.append_log(run.id, [(0, "one")], 4, expect_offset=0)  # stored already
    assert store.log_text(run.id) == ["one"] and store.get_run(run.id).log_offset == 4


def test_decode_keeps_known_kinds_and_fields_only():
    event = decode("status", "r1", {"status": "running", "previous": "staging",
                                    "added_later": 1})
    assert event == StatusChanged("r1", status="running", previous="staging")
    assert decode("from_a_newer_app", "r1", {}) is None
    assert HostTelemetry(host="b", snapshot={"x": 1}).data == {"host": "b",
                                                               "snapshot": {"x": 1}}


def test_another_process_s_events_reach_this_one_through_the_relay(store, tmp_path):
    seen = collect(store)
    relay = Relay(outbox, store.bus, check_every=0.005).start()
    run = make_run(store)
    try:
        script = textwrap.dedent(f"""
            import sys
            sys.path.insert(0, {str(ROOT)!r})
            from backend import store as st
            s = st.Store({str(tmp_path / "db.sqlite")!r})
            s.transition({run.id!r}, st.STAGING, expect=(st.QUEUED,))
            s.append_log({run.id!r}, [(0, "from the other side")], 20)
        """)
        subprocess.run([sys.executable, "-c", script], check=True, timeout=60)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not any(e.kind == "log" for e in seen):
            time.sleep(0.01)
    finally:
        relay.stop()
    theirs = [e for e in seen if e.run_id == run.id]
    assert [e.kind for e in theirs] == ["status", "status", "log"]  # ours once, then theirs
    assert theirs[1].status == st.STAGING and theirs[2].count == 1


def test_an_async_listener_wakes_on_an_event_or_a_nudge(store):
    async def scenario():
        listener = store.bus.listen_async(asyncio.get_running_loop(), kinds=("status",))
        assert await listener.wait(0.01) == []
        loop = asyncio.get_running_loop()
        loop.call_later(0.01, listener.nudge)
        assert await listener.wait(5) == []  # woken early, no event
        await asyncio.to_thread(make_run, store)  # published from another thread
        got = await listener.wait(5)
        listener.close()
        return got

    # A thread of its own: an earlier Playwright test may leave its loop running on this one.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        got = pool.submit(asyncio.run, scenario()).result(timeout=60)
    assert len(got) == 1 and got[0].status == st.QUEUED
