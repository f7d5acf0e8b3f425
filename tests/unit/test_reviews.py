"""Reviews (issue 6): ratings 1-5 and comments on a run, validated, newest first."""

from __future__ import annotations

import pytest

from backend import store as st
from backend.operations import NotFound, Operations, ValidationFailed
from tests.helpers import make_settings


@pytest.fixture
def ops(tmp_path):
    settings = make_settings(tmp_path)
    store = st.Store(tmp_path / "db.sqlite")
    yield Operations(settings, store)
    store.close()


@pytest.fixture
def run_id(ops, tmp_path):
    run = ops.store.create_run(params={"prompt": "a red car"}, host="sim", prompt_id=None,
                               run_type="inference", name="")
    ops.store.update_run(run.id, output_path=str(tmp_path / "output.mp4"))  # it has a video
    return run.id


def test_a_run_without_a_video_cannot_be_rated_but_can_be_commented(ops):
    run = ops.store.create_run(params={"prompt": "still queued"}, host="sim",
                               prompt_id=None, run_type="inference", name="")
    with pytest.raises(ValidationFailed) as refused:
        ops.add_review(run.id, "rita", 5, "looks great")
    assert refused.value.errors[0].field == "rating"
    assert "no video yet" in refused.value.errors[0].message
    assert ops.reviews(run.id) == []  # nothing stored, not even the comment
    assert ops.add_review(run.id, "rita", None, "waiting for it")["rating"] is None


def test_add_and_list_newest_first(ops, run_id):
    first = ops.add_review(run_id, "ann", 4, "nice light")
    second = ops.add_review(run_id, "bob", None, "  too dark  ")
    third = ops.add_review(run_id, "ann", 2, "")
    assert first["rating"] == 4 and second["comment"] == "too dark" and third["comment"] == ""
    listed = ops.reviews(run_id)
    assert [r["id"] for r in listed] == [third["id"], second["id"], first["id"]]
    assert {r["username"] for r in listed} == {"ann", "bob"}
    assert all(r["created_at"] > 0 for r in listed)


@pytest.mark.parametrize("rating,comment", [(0, "x"), (6, ""), ("five", "x"), (None, ""),
                                            (None, "   "), (3, "x" * 2001)])
def test_invalid_reviews_store_nothing(ops, run_id, rating, comment):
    with pytest.raises(ValidationFailed):
        ops.add_review(run_id, "ann", rating, comment)
    assert ops.reviews(run_id) == []


def test_unknown_or_malformed_run(ops):
    with pytest.raises(NotFound):
        ops.add_review("../../etc/passwd", "ann", 3, "")
    with pytest.raises(NotFound):
        ops.add_review("01" + "A" * 24, "ann", 3, "")
    assert ops.reviews("../x") == []


def test_comment_at_limit_is_fine(ops, run_id):
    assert len(ops.add_review(run_id, "ann", None, "y" * 2000)["comment"]) == 2000
