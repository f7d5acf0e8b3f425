"""History pages: filters, paging, full-text search and ratings answered by the store."""

from __future__ import annotations

import time

import pytest

from backend import store as st
from backend.store import history


@pytest.fixture
def store(tmp_path):
    s = st.Store(tmp_path / "db.sqlite")
    yield s
    s.close()


def add(store, prompt, *, status=st.COMPLETED, host="sim", run_type="inference", name="",
        output=None):
    run = store.create_run(params={"prompt": prompt}, host=host, prompt_id=None,
                           run_type=run_type, name=name)
    st.Run.update(status=status, output_path=output).where(st.Run.id == run.id).execute()
    return run.id


def test_filters_paging_search_and_ratings(store):
    a = add(store, "a red car in the rain", output="/x/a.mp4")
    b = add(store, "a blue boat", status=st.FAILED, host="gpu1")
    c = add(store, "red sunset over a lake", run_type="upscale", output="/x/c.mp4")
    st.Review.create(run=a, username="ann", rating=5, created_at=time.time())
    st.Review.create(run=c, username="ann", rating=2, created_at=time.time())

    def ids(**kw):
        return [r.id for r in history.query_runs(history.RunFilter(**kw), limit=10)]

    assert ids() == [c, b, a]  # newest first
    assert ids(statuses=[st.FAILED]) == [b] and ids(hosts=["gpu1"]) == [b]
    assert ids(run_types=["upscale"]) == [c]
    assert ids(text="red") == [c, a] and ids(text="re") == [c, a]
    assert ids(text="red", statuses=[st.COMPLETED], run_types=["inference"]) == [a]
    assert ids(text="!!!") == []
    assert ids(with_output=True) == [c, a]
    assert ids(min_rating=4) == [a]
    assert history.count_runs(history.RunFilter(text="red")) == 2
    page2 = history.query_runs(history.RunFilter(), limit=2, offset=2)
    assert [r.id for r in page2] == [a]
    assert history.ratings_for([a, b, c]) == {a: (5.0, 1), c: (2.0, 1)}
