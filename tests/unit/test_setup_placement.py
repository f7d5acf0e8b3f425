"""A setup run holds no GPU (its run type's runner says 0): it is queued with gpu_count 0 and
claimed on a box whose GPUs are all busy, while a model's run there waits; it is never
batched with anything."""

from __future__ import annotations

import pytest

from backend import store as st
from backend.config.hosts import HostConfig
from backend.hosts.runtime import HostRuntime
from backend.runs.placement import gpus_asked, make_placer

BOX = HostConfig(name="box", kind="local", docker=("docker",), remote_root="/tmp/cosmos-box",
                 cosmos_checkout="/tmp/cosmos-box/checkout", image="cosmos:latest",
                 gpus=(0, 1), max_concurrent=4)


@pytest.fixture
def store(tmp_path):
    s = st.Store(tmp_path / "db.sqlite")
    yield s
    s.close()


def claim(store, place):
    return store.claim("box", worker_id="w", max_containers=4, place=place,
                       group=lambda head, queued: [head],
                       pick_port=lambda head, used: 29500)


def test_a_setup_run_takes_no_gpu_and_starts_on_a_full_box(store):
    place = make_placer(HostRuntime(BOX, shell=None, store=store))
    busy = store.create_run(params={"prompt": "x", "num_gpus": 2}, host="box", prompt_id=None,
                            owner="ann", gpu_count=2)
    assert [r.id for r in claim(store, place)] == [busy.id]
    assert store.get_run(busy.id).gpu_list() == [0, 1]
    waiting = store.create_run(params={"prompt": "y", "num_gpus": 1}, host="box",
                               prompt_id=None, owner="ann", gpu_count=1)
    setup = store.create_run(params={"prompt": "set up box", "num_gpus": 1}, host="box",
                             prompt_id=None, run_type="setup", owner="bob", gpu_count=0)
    assert setup.gpu_count == 0 and gpus_asked(setup) == 0 and gpus_asked(waiting) == 1
    claimed = claim(store, place)
    assert [r.id for r in claimed] == [setup.id]
    assert store.get_run(setup.id).gpu_list() == []
    assert claim(store, place) == []  # the model's run still has no GPU
    assert store.get_run(waiting.id).status == st.QUEUED
    assert "needs 1 GPU(s), 0 free" in store.get_run(waiting.id).wait_reason


def test_a_setup_run_asks_no_gpu_even_if_its_row_says_otherwise(store):
    # a row queued before gpu_count was recorded for setup: the run type decides
    setup = store.create_run(params={"prompt": "set up box", "num_gpus": 1}, host="box",
                             prompt_id=None, run_type="setup", owner="bob")
    assert setup.gpu_count == 1 and gpus_asked(setup) == 0
