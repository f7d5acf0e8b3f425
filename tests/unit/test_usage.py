"""Accounting by model: each run is counted under the model profile it was made with."""

from __future__ import annotations

import pytest

from backend import store as st


@pytest.fixture
def store(tmp_path):
    s = st.Store(tmp_path / "db.sqlite")
    yield s
    s.close()


def _ended(store, model: str, gpus: int, seconds: float, status: str = st.COMPLETED) -> str:
    run = store.create_run(params={"prompt": "x", "num_gpus": gpus}, host="sim",
                           prompt_id=None, owner="ann", model=model, gpu_count=gpus)
    store.transition(run.id, st.STAGING, expect=(st.QUEUED,))
    store.transition(run.id, st.RUNNING, expect=(st.STAGING,))
    store.transition(run.id, status, expect=(st.RUNNING,))
    # its GPUs were in use for exactly `seconds` (the clock of the test, not the wall's)
    st.Run.update(ran_at=1000.0, finished_at=1000.0 + seconds).where(
        st.Run.id == run.id).execute()
    store._account(run.id)
    return run.id


def test_usage_by_model_counts_each_run_under_its_profile(store):
    _ended(store, "transfer1", 1, 3600)
    _ended(store, "transfer1", 2, 1800, status=st.FAILED)
    _ended(store, "transfer2.5", 4, 900)
    rows = {r["key"]: r for r in store.usage(by="model", since=None, now=10_000.0)}
    assert set(rows) == {"transfer1", "transfer2.5"}
    assert rows["transfer1"]["runs"] == 2 and rows["transfer1"]["failed"] == 1
    assert rows["transfer2.5"]["runs"] == 1 and rows["transfer2.5"]["completed"] == 1
    assert rows["transfer2.5"]["gpu_seconds"] == pytest.approx(4 * 900)
    assert rows["transfer1"]["gpu_seconds"] == pytest.approx(3600 + 2 * 1800)


def test_gpu_count_comes_from_the_model_not_only_the_params(store):
    # an enhance run's params may say 8 GPUs; its model's job takes one (gpus_for)
    run = store.create_run(params={"prompt": "x", "num_gpus": 8}, host="sim", prompt_id=None,
                           run_type="enhance", gpu_count=1)
    assert store.get_run(run.id).gpu_count == 1
    plain = store.create_run(params={"prompt": "x", "num_gpus": 2}, host="sim", prompt_id=None)
    assert store.get_run(plain.id).gpu_count == 2
