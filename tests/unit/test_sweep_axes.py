"""Sweep axes: lists, ranges counted in decimals, limits, and refusals that name the axis."""

from __future__ import annotations

import pytest

from backend.models.params import GenerationParams
from backend.sweeps.axes import (CONFIRM_ABOVE, HARD_MAX, Axis, AxisError, check_axes,
                                 count_refusal, expand, make_axis, parse_axis, run_count)
from backend.sweeps.cells import cell_params

CONTROLS = ("vis", "edge", "depth", "seg")
MODELS = ("transfer1", "transfer2.5")


def axis(text: str) -> Axis:
    return parse_axis(text, CONTROLS, MODELS)


def test_a_list_keeps_its_order_and_values():
    a = axis("edge=0.8, 0.2,0.5")
    assert a.values == (0.8, 0.2, 0.5)
    assert a.field == "weights.edge" and a.kind == "weight" and a.title == "edge weight"


@pytest.mark.parametrize("text, values", [
    ("edge=0.2:0.8:0.3", (0.2, 0.5, 0.8)),
    ("edge=0.1:0.3:0.1", (0.1, 0.2, 0.3)),          # adding floats would drift past 0.3
    ("guidance=0:1:0.1", tuple(i / 10 for i in range(11))),
    ("edge=0.2:0.9:0.3", (0.2, 0.5, 0.8)),          # stop only when a step lands on it
    ("seed=1:4:1", (1, 2, 3, 4)),
    ("steps=10:40:15", (10, 25, 40)),
    ("sigma_max=70,75:80:5", (70.0, 75.0, 80.0)),   # a list may mix values and ranges
    ("edge=0.5:0.5:0.1", (0.5,)),
])
def test_ranges_are_exact(text, values):
    got = axis(text).values
    assert got == values
    assert [str(v) for v in got] == [str(v) for v in values]


def test_float_steps_give_the_values_as_written():
    assert [repr(v) for v in axis("guidance=0.1:0.7:0.1").values] == \
        ["0.1", "0.2", "0.3", "0.4", "0.5", "0.6", "0.7"]


def test_whole_number_axes_give_ints():
    assert all(type(v) is int for v in axis("seed=1:9:2").values)
    assert axis("steps=20,35").values == (20, 35)


def test_model_axis_lists_known_models():
    a = axis("model=transfer2.5,transfer1")
    assert a.values == ("transfer2.5", "transfer1") and a.kind == "model"


@pytest.mark.parametrize("text, axis_name, words", [
    ("edgy=0.2", "edgy", "no such axis; use a control's weight (vis, edge, depth, seg)"),
    ("edge=", "edge", "no values"),
    ("edge=0.2,,0.5", "edge", "empty value"),
    ("edge=0.2,x", "edge", "'x' is not a number"),
    ("edge=nan", "edge", "is not a number"),
    ("seed=1.5", "seed", "1.5 is not a whole number"),
    ("seed=1:3:0.5", "seed", "not a whole number"),
    ("edge=0.2:0.8", "edge", "not a range; write start:stop:step"),
    ("edge=0.2:0.8:0", "edge", "use a step above 0"),
    ("edge=0.2:0.8:-0.1", "edge", "use a step above 0"),
    ("edge=0.8:0.2:0.1", "edge", "ends below its start"),
    ("edge=0.2,0.2", "edge", "0.2 is given twice"),
    ("model=transfer3", "model", "no model 'transfer3'; use one of transfer1, transfer2.5"),
    ("model=a:b:c", "model", "models are listed, not ranged"),
    ("seed=0:100000:1", "seed", f"a sweep has at most {HARD_MAX} runs"),
])
def test_bad_axes_name_the_axis_and_what_is_allowed(text, axis_name, words):
    with pytest.raises(AxisError) as err:
        axis(text)
    assert err.value.axis == axis_name
    assert words in err.value.message
    assert str(err.value).startswith(f"axis {axis_name}: ")


def test_not_an_axis_at_all():
    with pytest.raises(AxisError) as err:
        axis("0.2,0.5")
    assert "write NAME=VALUES" in str(err.value) and "edge" in str(err.value)


def test_weights_prefix_is_accepted():
    assert make_axis("weights.edge", "0.5", CONTROLS, MODELS).name == "edge"


def test_one_to_three_axes_each_once():
    with pytest.raises(AxisError, match="at least one axis"):
        check_axes([])
    with pytest.raises(AxisError, match="4 axes given; a sweep has one to 3"):
        check_axes([axis("edge=1"), axis("vis=1"), axis("seed=1"), axis("steps=1")])
    with pytest.raises(AxisError) as err:
        check_axes([axis("edge=0.1"), axis("edge=0.2")])
    assert err.value.axis == "edge" and "given twice" in err.value.message


def test_expansion_is_x_fastest_then_y_then_z():
    axes = [axis("edge=0.2,0.5,0.8"), axis("seed=1,2"), axis("model=transfer1,transfer2.5")]
    cells = expand(axes)
    assert run_count(axes) == len(cells) == 12
    assert [c.coords for c in cells[:4]] == [(0, 0, 0), (1, 0, 0), (2, 0, 0), (0, 1, 0)]
    assert cells[6].coords == (0, 0, 1)
    assert cells[4].values == {"edge": 0.5, "seed": 2, "model": "transfer1"}
    assert cells[4].label() == "edge=0.5, seed=2, model=transfer1"
    assert len({c.coords for c in cells}) == 12


def test_one_axis_cells_have_zero_y_and_z():
    assert [c.coords for c in expand([axis("steps=10,20")])] == [(0, 0, 0), (1, 0, 0)]


def test_limits_refuse_with_the_count_and_the_limit():
    assert count_refusal(CONFIRM_ABOVE, False) is None
    message = count_refusal(CONFIRM_ABOVE + 1, False)
    assert f"{CONFIRM_ABOVE + 1} runs" in message and f"limit of {CONFIRM_ABOVE}" in message
    assert "--yes" in message
    assert count_refusal(CONFIRM_ABOVE + 1, True) is None
    assert f"most a sweep may have is {HARD_MAX}" in count_refusal(HARD_MAX + 1, True)


def _defaults(model: str) -> GenerationParams:
    return GenerationParams(prompt="", negative_prompt=f"{model} default", model=model,
                            guidance=3.0 if model == "transfer2.5" else 5.0,
                            weights={"edge": 1.0})


def _controls(model: str) -> tuple[str, ...]:
    return ("edge", "vis") if model == "transfer2.5" else ("vis", "edge", "keypoint")


def test_cell_params_put_each_axis_value_in_its_field():
    base = GenerationParams(prompt="p", negative_prompt="n", input_video="in.mp4",
                            weights={"edge": 0.3, "vis": 0.0}, seed=7)
    axes = [axis("vis=0.1,0.9"), axis("guidance=2,4"), axis("steps=10")]
    cell = expand(axes)[3]
    params = cell_params(base, cell, _defaults, _controls)
    assert params.weights == {"edge": 0.3, "vis": 0.9}
    assert (params.guidance, params.num_steps, params.seed) == (4, 10, 7)
    assert base.weights == {"edge": 0.3, "vis": 0.0} and base.guidance == 5.0  # untouched


def test_a_model_cell_keeps_the_artists_choices_and_takes_the_models_defaults():
    base = GenerationParams(prompt="p", negative_prompt="transfer1 default",
                            input_video="in.mp4", weights={"edge": 0.4, "keypoint": 0.5},
                            seed=9, guidance=5.0)
    cell = expand([axis("model=transfer1,transfer2.5")])[1]
    params = cell_params(base, cell, _defaults, _controls)
    assert params.model == "transfer2.5" and params.guidance == 3.0  # its own default
    assert params.negative_prompt == "transfer2.5 default"  # the base's was a default too
    assert params.weights == {"edge": 0.4, "vis": 0.0}  # keypoint: transfer2.5 has none
    assert (params.prompt, params.input_video, params.seed) == ("p", "in.mp4", 9)


def test_a_huge_product_is_counted_without_making_its_cells():
    axes = [axis("seed=1:1000:1"), axis("steps=1:1000:1"), axis("guidance=1:1000:1")]
    assert run_count(axes) == 10 ** 9
    assert "most a sweep may have is 1024" in count_refusal(run_count(axes), True)
