"""The claim order of a studio of many artists: priority, then fair share, then first come;
per-owner GPU limits that hold nobody else up; reasons for each waiting run; backfill."""

from __future__ import annotations

import json
import threading

import pytest

from backend import store as st
from backend.store.claims import Placement, Terms


@pytest.fixture
def store(tmp_path):
    s = st.Store(tmp_path / "db.sqlite")
    yield s
    s.close()


def queue(store, owner, gpus=1, priority=0, host="farm"):
    return store.create_run(params={"prompt": "x", "num_gpus": gpus}, host=host, prompt_id=None,
                            owner=owner, priority=priority)


def gpu_placer(total=8):
    """First free GPUs of an 8-GPU box (what the host kind does), reason when they lack."""
    def place(run, active):
        busy = {g for r in active for g in r.gpu_list()}
        free = [g for g in range(total) if g not in busy]
        if len(free) < run.gpu_count:
            return f"needs {run.gpu_count}, {len(free)} free"
        return Placement(free[:run.gpu_count])
    return place


def claim(store, terms=None, backfill=None, place=None, host="farm"):
    runs = store.claim(host, worker_id="w", max_containers=100, place=place or gpu_placer(),
                       group=lambda head, queued: [head], pick_port=lambda head, used: 29500,
                       terms=terms, backfill_seconds=backfill)
    return runs[0] if runs else None


def test_fair_share_alternates_owners_by_their_share(store):
    for _ in range(6):
        queue(store, "ann")
    for _ in range(6):
        queue(store, "bob")
    terms = {"ann": Terms(share=1), "bob": Terms(share=3)}.get
    got = [claim(store, terms=lambda o: terms(o)).owner for _ in range(8)]
    # bob holds three GPUs for each of ann's: shares 3:1 of the 8 given out
    assert got.count("bob") == 6 and got.count("ann") == 2
    assert st.Run.select().where(st.Run.status == st.STAGING, st.Run.owner == "ann").count() == 2


def test_first_come_within_an_owner_and_priority_first(store):
    first, second = queue(store, "ann"), queue(store, "ann")
    urgent = queue(store, "bob", priority=5)
    boss = queue(store, "cat")
    def terms(owner):
        return Terms(priority=10) if owner == "cat" else Terms()

    order = [claim(store, terms=terms).id for _ in range(4)]
    assert order == [boss.id, urgent.id, first.id, second.id]


def test_an_owner_at_their_limit_waits_and_says_so_without_holding_up_others(store):
    ann = [queue(store, "ann", gpus=2) for _ in range(3)]
    bob = queue(store, "bob")
    def terms(owner):
        return Terms(max_gpus=4) if owner == "ann" else Terms()

    claimed = [claim(store, terms=terms) for _ in range(4)]
    # fair share: bob's 1-GPU run leaves him with less than ann's 2-GPU run would leave her
    assert [r.id for r in claimed if r] == [bob.id, ann[0].id, ann[1].id]
    waiting = store.get_run(ann[2].id)
    assert waiting.status == st.QUEUED
    assert "ann's limit: 4 of 4 GPUs" in waiting.wait_reason
    assert store.held_gpus_by_owner() == {"ann": 4, "bob": 1}


def test_a_run_that_does_not_fit_holds_up_the_queue_unless_backfill(store):
    queue(store, "ann", gpus=4)
    big = queue(store, "ann", gpus=8)
    small = queue(store, "ann", gpus=2)
    assert claim(store).gpu_count == 4
    assert claim(store) is None  # the 8-GPU run waits; the 2-GPU run behind it too
    assert store.get_run(big.id).wait_reason == "needs 8, 4 free"
    assert store.get_run(small.id).status == st.QUEUED
    assert claim(store, backfill=600).id == small.id  # backfill: uses GPUs big cannot yet
    assert claim(store, backfill=0) is None  # big has waited long enough: nothing jumps it


def test_a_batch_holds_its_gpus_once(store):
    a, b = queue(store, "ann"), queue(store, "ann")
    runs = store.claim("farm", worker_id="w", max_containers=10, place=gpu_placer(),
                       group=lambda head, queued: [head, *queued[:1]],
                       pick_port=lambda head, used: 29500)
    assert {r.id for r in runs} == {a.id, b.id} and runs[0].batch_id
    assert store.held_gpus_by_owner() == {"ann": 1}


def test_limits_hold_under_concurrent_claims(store):
    """Four schedulers claim at once: nobody ever holds more than their limit."""
    for owner in ("ann", "bob", "cat"):
        for _ in range(10):
            queue(store, owner)
    def terms(owner):
        return Terms(max_gpus=2)

    def worker():
        while claim(store, terms=terms, place=gpu_placer(64)) is not None:
            pass

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert store.held_gpus_by_owner() == {"ann": 2, "bob": 2, "cat": 2}
    gpus = [g for r in st.Run.select().where(st.Run.status == st.STAGING)
            for g in json.loads(r.gpus)]
    assert len(gpus) == len(set(gpus)) == 6


def test_a_run_beyond_the_owners_queue_limit_is_refused_with_a_message(tmp_path):
    from backend.models.transfer1.params import GenerationParams
    from backend.operations import ValidationFailed
    from backend.wiring import start_backend
    from tests.helpers import SAMPLE, make_settings

    settings = make_settings(tmp_path, extra_top="[fair_share]\nmax_queued = 2\n"
                             "[fair_share.users.boss]\nmax_queued = 0\npriority = 20\n")
    b = start_backend(settings, with_scheduler=False)
    try:
        p = GenerationParams(prompt="x", negative_prompt="bad", input_video=str(SAMPLE),
                             weights={"edge": 1.0})
        first, second = (b.ops.launch(p, owner="ann") for _ in range(2))
        with pytest.raises(ValidationFailed) as refused:
            b.ops.launch(p, owner="ann")
        assert refused.value.errors[0].field == "queue"
        assert "ann already has 2 run(s) waiting" in refused.value.errors[0].message
        b.ops.launch(p, owner="bob")  # others are not held up
        for _ in range(3):
            b.ops.launch(p, owner="boss")  # 0: no limit
        b.ops.dequeue(first.id)
        b.ops.launch(p, owner="ann")  # a dequeued run frees its place
        assert settings.fair_share.of("boss").priority == 20
        assert settings.fair_share.of("anyone").max_queued == 2
    finally:
        b.close()
