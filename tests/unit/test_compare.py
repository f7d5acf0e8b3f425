"""What differs between two runs: parameter rows, effective weights, the prompt word diff, and
the side-by-side export render."""

from __future__ import annotations

from backend import media
from backend.compare import (describe_change, effective_weights, flatten, param_rows,
                             word_diff)
from backend.models.transfer1.params import GenerationParams

BASE = GenerationParams(prompt="a red car on a wet road at night", negative_prompt="bad",
                        input_video="/in/a.mp4", weights={"edge": 1.0}).to_dict()


def changed(**kw):
    data = dict(BASE)
    data.update(kw)
    return data


def test_flatten_fills_every_control_so_missing_and_zero_compare_equal():
    flat = flatten({"weights": {"edge": 1}})
    assert flat["weights.edge"] == 1 and flat["weights.depth"] == 0.0
    assert flat["control_videos.seg"] is None


def test_identical_settings_have_no_rows_and_int_float_are_equal():
    assert param_rows(BASE, dict(BASE)) == []
    assert param_rows(BASE, changed(num_steps=35.0, guidance=5)) == []
    assert describe_change(BASE, BASE) == "same settings"


def test_weights_seed_and_prompt_rows_in_reading_order():
    b = changed(weights={"edge": 0.5, "depth": 0.5}, seed=7,
                prompt="a blue car on a wet road at night")
    rows = param_rows(BASE, b)
    keys = [r.key for r in rows]
    assert keys == ["prompt", "weights.edge", "weights.depth", "seed"]
    edge = rows[1]
    assert (edge.label, edge.a, edge.b, edge.differs) == ("Weight edge", 1.0, 0.5, True)
    assert rows[2].a == 0.0 and rows[2].b == 0.5
    summary = describe_change(BASE, b)
    assert "weight edge 1 -> 0.5" in summary and "seed 1 -> 7" in summary
    assert "prompt changed" in summary


def test_all_rows_on_request_marks_which_differ():
    rows = param_rows(BASE, changed(seed=9), only_differences=False)
    assert len(rows) > 15
    assert [r.key for r in rows if r.differs] == ["seed"]


def test_optional_blank_values_are_not_differences():
    assert param_rows(changed(seg_prompt=""), changed(seg_prompt=None)) == []
    assert param_rows(changed(fps=None), changed(fps=None)) == []
    assert [r.key for r in param_rows(changed(fps=None), changed(fps=12))] == ["fps"]


def test_effective_weights_rescale_above_one():
    assert effective_weights({"weights": {"edge": 0.5, "depth": 0.25}}) == {"edge": 0.5,
                                                                         "depth": 0.25}
    scaled = effective_weights({"weights": {"edge": 1.0, "depth": 1.0, "vis": 0}})
    assert scaled == {"edge": 0.5, "depth": 0.5}


def test_word_diff_round_trips_both_texts():
    a, b = "a red car on a wet road", "a blue car on a dry  road, at night"
    pieces = word_diff(a, b)
    assert "".join(t for op, t in pieces if op != "ins") == a
    assert "".join(t for op, t in pieces if op != "del") == b
    assert ("del", "red") in pieces and ("ins", "blue") in pieces


def test_word_diff_of_equal_and_empty():
    assert word_diff("same words", "same words") == [("same", "same words")]
    assert word_diff("", "new") == [("ins", "new")]
    assert word_diff("old", "") == [("del", "old")]


def test_side_by_side_render_is_labelled_and_same_height(tmp_path):
    a = media.make_test_clip(tmp_path / "a.mp4", width=320, height=180, frames=24)
    b = media.make_test_clip(tmp_path / "b.mp4", width=160, height=120, frames=12,
                             pattern="mandelbrot")
    out = media.render_side_by_side(a, b, ["A: it's 100% 'quoted': x", "B: \\ back"],
                                    tmp_path / "out" / "sbs.mp4")
    info = media.probe_video(out)
    # each side scaled to 120 px high: 214 (320x180 -> 213.3, even) + 160
    assert info.height == 120
    assert info.width == 214 + 160
    assert info.frames == 24  # the shorter side holds its last frame
    assert not list(out.parent.glob("*.part*"))
