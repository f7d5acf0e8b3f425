"""Spec JSON and batch JSONL: what transfer.py reads must be exactly what the artist chose."""

from __future__ import annotations

import json

import pytest

from backend.models.transfer1.batch import (
    BatchControl,
    BatchItem,
    batch_compatibility_key,
    batch_controls,
    batch_output_paths,
    build_batch_base_spec,
    build_batch_jsonl,
)
from backend.models.transfer1.params import GenerationParams
from backend.models.transfer1.spec import (
    TOP_LEVEL_ORDER,
    build_spec,
    build_upscale_spec,
    canonical_spec,
    resolve_fps,
    spec_controls,
    spec_json,
)

NEG = "blurry, low quality"


def params(**kw) -> GenerationParams:
    base = {"prompt": "a robot arm stacks mugs", "negative_prompt": NEG,
            "input_video": "/home/artist/clip.mp4"}
    base.update(kw)
    return GenerationParams(**base)


def assert_rebuilds(example: dict, built: dict) -> None:
    """Every key of the contract's example is in the built spec with the same value, the
    hints are exactly the same dicts, and the only extra keys are generation values."""
    for key, value in example.items():
        assert key in built, key
        assert built[key] == value, key
    assert spec_controls(built) == spec_controls(example)
    extra = set(built) - set(example)
    assert extra <= set(TOP_LEVEL_ORDER), extra


# -- the contract's example specs (cosmos-transfer1.md §2.6) ----------------------------------
def test_example_a_single_edge_auto():
    example = {"prompt": "<detailed scene description>", "input_video_path": "inputs/clip.mp4",
               "edge": {"control_weight": 1.0}}
    p = params(prompt="<detailed scene description>", weights={"edge": 1.0})
    built = build_spec(p, input_video_path="inputs/clip.mp4", control_paths={}, fps=24)
    assert_rebuilds(example, built)


def test_example_b_multi_control():
    example = {"prompt": "<...>", "input_video_path": "inputs/clip.mp4", "sigma_max": 75,
               "guidance": 5,
               "vis": {"control_weight": 0.25},
               "depth": {"control_weight": 0.25, "input_control": "inputs/clip_depth.mp4"},
               "seg": {"control_weight": 0.5, "input_control_prompt": "robot arm . table . mug"}}
    p = params(prompt="<...>", sigma_max=75, guidance=5,
               weights={"vis": 0.25, "edge": 0.0, "depth": 0.25, "seg": 0.5, "keypoint": 0},
               control_videos={"depth": "/home/artist/depth.mp4"},
               seg_prompt="robot arm . table . mug")
    built = build_spec(p, input_video_path="inputs/clip.mp4",
                       control_paths={"depth": "inputs/clip_depth.mp4"}, fps=24)
    assert_rebuilds(example, built)
    assert list(built)[-3:] == ["vis", "depth", "seg"]


def test_example_d_upscale():
    example = {"input_video_path": "inputs/gen_720p.mp4", "upscale": {"control_weight": 0.5}}
    built = build_upscale_spec("inputs/gen_720p.mp4", 0.5, negative_prompt=NEG)
    assert_rebuilds(example, built)
    assert built["num_steps"] == 10
    assert built["negative_prompt"] == NEG
    assert "prompt" not in built


# -- build_spec rules ---------------------------------------------------------------------------
def test_every_generation_value_is_in_the_spec():
    p = params(weights={"edge": 1}, sigma_max=60, guidance=7, num_steps=20, seed=42,
               blur_strength="low", canny_threshold="high")
    built = build_spec(p, input_video_path="/c/in.mp4", control_paths={}, fps=30)
    assert built == {
        "prompt": p.prompt, "negative_prompt": NEG, "input_video_path": "/c/in.mp4",
        "sigma_max": 60.0, "guidance": 7.0, "num_steps": 20, "seed": 42, "fps": 30,
        "blur_strength": "low", "canny_threshold": "high", "edge": {"control_weight": 1.0},
    }
    assert isinstance(built["edge"]["control_weight"], float)
    assert isinstance(built["sigma_max"], float)


def test_weight_zero_controls_are_left_out():
    p = params(weights={"vis": 0, "edge": 0.7, "depth": 0.0, "seg": 0, "keypoint": 0.0})
    built = build_spec(p, input_video_path="/c/in.mp4", control_paths={"depth": "/c/d.mp4"},
                       fps=24)
    assert spec_controls(built) == ["edge"]
    assert "depth" not in json.loads(spec_json(built))


def test_input_control_only_with_a_staged_video():
    p = params(weights={"edge": 0.5, "depth": 0.5}, control_videos={"depth": "/h/d.mp4"})
    built = build_spec(p, input_video_path="/c/in.mp4", control_paths={"depth": "/c/d.mp4"},
                       fps=24)
    assert built["edge"] == {"control_weight": 0.5}
    assert built["depth"] == {"control_weight": 0.5, "input_control": "/c/d.mp4"}


def test_seg_prompt_only_on_seg_and_only_when_written():
    built = build_spec(params(weights={"seg": 0.5, "edge": 0.5}, seg_prompt="  mug . table "),
                       input_video_path="/c/in.mp4", control_paths={}, fps=24)
    assert built["seg"]["input_control_prompt"] == "mug . table"
    assert "input_control_prompt" not in built["edge"]
    blank = build_spec(params(weights={"seg": 0.5}, seg_prompt="   "),
                       input_video_path="/c/in.mp4", control_paths={}, fps=24)
    assert "input_control_prompt" not in blank["seg"]


def test_no_input_video_means_no_input_video_path():
    p = params(input_video=None, sigma_max=80, weights={"edge": 1.0},
               control_videos={"edge": "/h/e.mp4"})
    built = build_spec(p, input_video_path=None, control_paths={"edge": "/c/e.mp4"}, fps=24)
    assert "input_video_path" not in built


def test_unstaged_files_are_refused_not_dropped():
    p = params(weights={"depth": 0.5}, control_videos={"depth": "/h/d.mp4"})
    with pytest.raises(ValueError, match="depth"):
        build_spec(p, input_video_path="/c/in.mp4", control_paths={}, fps=24)
    with pytest.raises(ValueError, match="input video"):
        build_spec(params(weights={"edge": 1}), input_video_path=None, control_paths={}, fps=24)


def test_empty_negative_prompt_is_refused():
    with pytest.raises(ValueError, match="negative prompt"):
        build_spec(params(negative_prompt=" ", weights={"edge": 1}),
                   input_video_path="/c/in.mp4", control_paths={}, fps=24)
    with pytest.raises(ValueError, match="negative prompt"):
        build_upscale_spec("/c/in.mp4", negative_prompt="")


def test_upscale_spec_options():
    spec = build_upscale_spec("/c/gen.mp4", 0.8, negative_prompt=NEG, prompt="a street",
                              fps=30)
    assert spec == {"prompt": "a street", "negative_prompt": NEG, "input_video_path": "/c/gen.mp4",
                    "num_steps": 10, "fps": 30, "upscale": {"control_weight": 0.8}}
    for bad in (0, -0.1, 1.5):
        with pytest.raises(ValueError):
            build_upscale_spec("/c/gen.mp4", bad, negative_prompt=NEG)


def test_resolve_fps():
    assert resolve_fps(params(fps=12), 30.0) == 12
    assert resolve_fps(params(fps=None), 29.97) == 30
    assert resolve_fps(params(fps=None), None) == 24
    assert resolve_fps(params(fps=None), 500.0) == 120


# -- spec_json ------------------------------------------------------------------------------------
def test_spec_json_is_stable_readable_and_round_trips():
    p = params(prompt="Überführung im Regen, 東京 ☔", weights={"seg": 0.5, "vis": 0.2},
               seg_prompt="car . road")
    built = build_spec(p, input_video_path="/c/in.mp4", control_paths={"seg": "/c/s.mp4"}, fps=24)
    text = spec_json(built)
    shuffled = dict(reversed(list(built.items())))
    shuffled["seg"] = dict(reversed(list(built["seg"].items())))
    assert spec_json(shuffled) == text
    assert "東京 ☔" in text and "\\u" not in text
    assert text.startswith('{\n  "prompt": ')
    assert json.loads(text) == built
    assert list(json.loads(text)["seg"]) == ["control_weight", "input_control",
                                             "input_control_prompt"]
    assert list(canonical_spec(shuffled)) == list(built)


# -- batch ----------------------------------------------------------------------------------------
def test_batch_jsonl_states_every_control_for_every_item():
    items = [
        BatchItem("/c/a.mp4", "first, with \"quotes\"\nand a newline",
                  {"edge": BatchControl(0.8), "depth": BatchControl(0.4, "/c/a_depth.mp4")}),
        BatchItem("/c/b.mp4", "zweite Aufnahme 🙂\u2028", {"edge": BatchControl(1.0)}),
    ]
    text = build_batch_jsonl(items)
    lines = text.split("\n")
    assert lines[-1] == "" and len(lines) == 3  # one object per line, newline-terminated
    assert "\u2028" not in text and "🙂" in text
    first, second = (json.loads(line) for line in lines[:2])
    assert first["visual_input"] == "/c/a.mp4"
    assert first["prompt"] == items[0].prompt
    assert first["control_overrides"] == {
        "edge": {"control_weight": 0.8, "input_control": None},
        "depth": {"control_weight": 0.4, "input_control": "/c/a_depth.mp4"},
    }
    # Item 2 does not use depth: weight 0 stated, not inherited from item 1 or the base spec.
    assert second["control_overrides"]["depth"]["control_weight"] == 0.0
    assert second["control_overrides"]["edge"] == {"control_weight": 1.0, "input_control": None}
    assert second["prompt"] == items[1].prompt


def test_batch_refuses_controls_the_base_spec_lacks():
    items = [BatchItem("/c/a.mp4", "p", {"seg": BatchControl(0.5)})]
    with pytest.raises(ValueError, match="seg"):
        build_batch_jsonl(items, controls=["edge"])
    with pytest.raises(ValueError, match="prompt"):
        build_batch_jsonl([BatchItem("/c/a.mp4", " ", {"edge": BatchControl(1)})])


def test_batch_base_spec_lists_every_used_control_and_keeps_settings():
    base = params(weights={"edge": 1.0}, num_steps=20, fps=30, negative_prompt="no blur")
    items = [BatchItem("/c/a.mp4", "a", {"edge": BatchControl(1.0)}),
             BatchItem("/c/b.mp4", "b", {"vis": BatchControl(0.3)})]
    assert batch_controls(items) == ["vis", "edge"]
    spec = build_batch_base_spec(base, items=items, fps=30)
    assert spec_controls(spec) == ["vis", "edge"]
    assert spec["input_video_path"] == "/c/a.mp4"
    assert spec["negative_prompt"] == "no blur" and spec["num_steps"] == 20 and spec["fps"] == 30
    assert "prompt" not in spec


def test_batch_output_paths():
    assert batch_output_paths("/c/runs/b1/outputs", 2) == [
        ("/c/runs/b1/outputs/video_0/output.mp4", "/c/runs/b1/outputs/video_0/prompt.txt"),
        ("/c/runs/b1/outputs/video_1/output.mp4", "/c/runs/b1/outputs/video_1/prompt.txt"),
    ]


def test_batch_compatibility_key():
    a = params(prompt="one", weights={"edge": 1.0}, input_video="/h/a.mp4")
    b = params(prompt="two", weights={"edge": 0.3}, input_video="/h/b.mp4",
               control_videos={"edge": "/h/e.mp4"})
    assert batch_compatibility_key(a) == batch_compatibility_key(b)
    assert batch_compatibility_key(a) != batch_compatibility_key(params(weights={"vis": 1.0}))
    assert batch_compatibility_key(a) != batch_compatibility_key(
        params(weights={"edge": 1.0}, num_steps=20))
    assert batch_compatibility_key(a) != batch_compatibility_key(
        params(weights={"edge": 1.0}, negative_prompt="other"))
    assert batch_compatibility_key(a, fps=24) != batch_compatibility_key(b, fps=30)
