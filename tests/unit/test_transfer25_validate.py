"""Transfer2.5 validation: one rule per test (every refusal has one), each message saying what
is wrong and what is allowed, to the letter of cosmos_transfer2/config.py."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from backend.models.params import GenerationParams
from backend.models.profile import get_profile
from backend.models.transfer2_5.validate import validate_params, warnings

PROFILE = get_profile("transfer2.5")


@dataclass
class Info:
    width: int = 640
    height: int = 360
    frames: int = 121
    fps: float = 24.0


def good(**kw) -> GenerationParams:
    base = PROFILE.defaults(None)
    base.prompt = "a red car on a wet road at night"
    base.input_video = "/h/in.mp4"
    for key, value in kw.items():
        setattr(base, key, value)
    return base


def only(errors, field: str) -> str:
    hits = [e for e in errors if e.field == field]
    assert len(hits) == 1, errors
    return hits[0].message


def check(p: GenerationParams, infos=None, run_type="inference"):
    return validate_params(p, run_type=run_type, infos=infos or {"input": Info()})


def test_defaults_are_upstreams_and_pass():
    p = good()
    assert (p.guidance, p.seed, p.num_steps, p.sigma_max, p.fps) == (3, 2025, 35, None, None)
    assert p.extra == {"resolution": "720"} and p.weights == {"edge": 1.0}
    assert check(p) == []
    multi = good(weights={"edge": 0.2, "vis": 0.5, "depth": 1.0, "seg": 1.0},
                 control_options={"seg": {"mask_prompt": "robotic arm . gripper"},
                                  "edge": {"mask_path": "/h/m.mp4"}},
                 control_videos={"depth": "/h/d.mp4"}, seg_prompt="arm . cup", num_gpus=6,
                 sigma_max=80.0, extra={"resolution": "480", "max_frames": 100})
    assert check(multi) == []


@pytest.mark.parametrize("prompt", ["", "  "])
def test_empty_prompt(prompt):
    assert "requires `prompt`" in only(check(good(prompt=prompt)), "prompt")


def test_empty_negative_prompt_except_for_the_distilled_model():
    msg = only(check(good(negative_prompt=" ")), "negative_prompt")
    assert "Negative prompt embedding is not computed" in msg and "default" in msg
    distilled = good(negative_prompt="", variant="distilled", num_steps=4)
    assert not [e for e in check(distilled) if e.field == "negative_prompt"]


@pytest.mark.parametrize("value, words", [(3.5, "valid integer"), (8, "0 to 7"),
                                           (-1, "0 to 7"), ("3", "whole number")])
def test_guidance_is_a_whole_number_0_to_7(value, words):
    assert words in only(check(good(guidance=value)), "guidance")


def test_guidance_3_0_from_a_form_field_is_fine():
    assert check(good(guidance=3.0)) == []


@pytest.mark.parametrize("value", [1.5, -0.1, "1"])
def test_weights_0_to_1(value):
    msg = only(check(good(weights={"edge": value})), "weights.edge")
    assert "0.0 to 1.0" in msg


def test_keypoint_is_not_a_transfer25_control():
    msg = only(check(good(weights={"edge": 1.0, "keypoint": 0.4})), "weights.keypoint")
    assert "no keypoint control" in msg and "edge, vis, depth, seg" in msg
    assert check(good(weights={"edge": 1.0, "keypoint": 0.0})) == []  # a hidden 0 is fine


def test_no_controls():
    msg = only(check(good(weights={"edge": 0.0})), "weights")
    assert msg.startswith("No controls provided") and "edge, vis, depth, seg" in msg


def test_control_video_rules():
    assert "weight is 0" in only(check(good(weights={"edge": 1.0, "depth": 0},
                                            control_videos={"depth": "/h/d.mp4"})),
                                 "control_videos.depth")
    assert "no keypoint control" in only(check(good(control_videos={"keypoint": "/h/k.mp4"})),
                                         "control_videos.keypoint")
    assert "use a video" in only(check(good(control_videos={"edge": "/h/e.png"})),
                                 "control_videos.edge")


def test_mask_path_and_mask_prompt_exclude_each_other():
    msg = only(check(good(control_options={"edge": {"mask_path": "/h/m.mp4",
                                                     "mask_prompt": "car"}})),
               "control_options.edge.mask_prompt")
    assert "Only one of {mask_path} or {mask_prompt}" in msg


def test_mask_rules():
    assert "binary mask video" in only(check(good(control_options={"edge": {
        "mask_path": "/h/m.txt"}})), "control_options.edge.mask_path")
    assert "weight is 0" in only(check(good(control_options={"vis": {"mask_prompt": "car"}})),
                                 "control_options.vis.mask_prompt")


@pytest.mark.parametrize("option, hint", [("ckpt_path", "one per run"),
                                          ("weight_map", "mask video"),
                                          ("weight_prompt", "mask prompt")])
def test_transfer1_only_control_options_are_refused_with_the_transfer25_way(option, hint):
    msg = only(check(good(control_options={"edge": {option: "x.pt"}})),
               f"control_options.edge.{option}")
    assert hint in msg and "mask_path or mask_prompt" in msg


def test_unknown_control_options_block():
    assert "each with mask_path or mask_prompt" in only(
        check(good(control_options={"keypoint": {"mask_prompt": "x"}})),
        "control_options.keypoint")


@pytest.mark.parametrize("value", [0, 201, "abc"])
def test_steps_range(value):
    assert "1 to 200" in only(check(good(num_steps=value)), "num_steps")


@pytest.mark.parametrize("value", [-1, 2**32, 1.5])
def test_seed_range(value):
    assert "0 to 4294967295" in only(check(good(seed=value)), "seed")


@pytest.mark.parametrize("value", [-1, 201, "high"])
def test_sigma_max_0_to_200_or_empty(value):
    assert "0 to 200" in only(check(good(sigma_max=value)), "sigma_max")


def test_fps_does_not_exist():
    msg = only(check(good(fps=24)), "fps")
    assert "no fps setting" in msg and "cast to a whole number" in msg
    assert check(good(fps=0)) == []


@pytest.mark.parametrize("name", ["blur_strength", "canny_threshold"])
def test_presets(name):
    assert "very_low, low, medium, high, very_high" in only(check(good(**{name: "max"})), name)


@pytest.mark.parametrize("n", [5, 7, 16, 0])
def test_gpu_counts_divide_24_latent_frames(n):
    msg = only(check(good(num_gpus=n)), "num_gpus")
    assert "1, 2, 3, 4, 6 or 8" in msg and "24 latent frames" in msg


@pytest.mark.parametrize("run_type", ["upscale", "enhance"])
def test_no_upscaler_and_no_prompt_upsampler(run_type):
    msg = only(check(good(), run_type=run_type), "run_type")
    assert f"no {run_type}" in msg and "Transfer1" in msg


def test_regional_prompts_batch_size_offload_and_extra_keys():
    assert "mask" in only(check(good(regional_prompts=[{"prompt": "x", "box": [0, 0, 1, 1]}])),
                          "regional_prompts")
    assert "no --batch_size" in only(check(good(batch_size=2)), "batch_size")
    assert "only the guardrail models" in only(check(good(offload=["offload_text_encoder_model"])),
                                               "offload")
    assert check(good(offload=["offload_guardrail_models"])) == []
    assert "takes resolution and max_frames" in only(check(good(extra={"fps": 24})), "extra.fps")
    assert "720" in only(check(good(extra={"resolution": "4k"})), "extra.resolution")


def test_max_frames():
    assert "at least 2" in only(check(good(extra={"max_frames": 1})), "extra.max_frames")
    msg = only(check(good(extra={"max_frames": 200})), "extra.max_frames")
    assert "less than or equal to the number of frames" in msg and "121" in msg


def test_input_video_is_required_and_a_video():
    assert "`video_path` is required" in only(check(good(input_video=None), infos={}),
                                              "input_video")
    assert "use a video" in only(check(good(input_video="/h/x.gif")), "input_video")


def test_control_video_and_mask_must_share_the_inputs_aspect():
    errors = check(good(weights={"edge": 1.0, "depth": 1.0}, control_videos={"depth": "/d.mp4"},
                        control_options={"edge": {"mask_path": "/m.mp4"}}),
                   infos={"input": Info(), "control.depth": Info(width=360, height=360),
                          "mask.edge": Info(width=100, height=100)})
    assert "same aspect ratio" in only(errors, "control_videos.depth")
    assert "same aspect ratio" in only(errors, "control_options.edge.mask_path")


def test_distilled_edge_rules():
    ok = good(variant="distilled", num_steps=4, extra={"max_frames": 93})
    assert check(ok) == []
    assert "edge only" in only(check(good(variant="distilled", num_steps=4,
                                          weights={"edge": 1.0, "depth": 0.5},
                                          extra={"max_frames": 93})), "weights")
    assert "4 sampling steps" in only(check(good(variant="distilled", num_steps=35,
                                                 extra={"max_frames": 93})), "num_steps")
    msg = only(check(good(variant="distilled", num_steps=4)), "extra.max_frames")
    assert "121 frames" in msg and "93 or fewer" in msg
    assert "'distilled'" in only(check(good(variant="turbo")), "variant")


def test_seg_prompt_rules():
    assert "seg weight is 0" in only(check(good(seg_prompt="car")), "seg_prompt")
    assert "ignores control_prompt" in only(check(good(
        weights={"seg": 1.0}, seg_prompt="car", control_videos={"seg": "/s.mp4"})),
        "seg_prompt")


def test_fractional_fps_is_a_warning_not_a_refusal():
    [warning] = warnings(good(), {"input": Info(fps=29.97)})
    assert warning.field == "input_video" and "29.970" in warning.message
    assert "casts it to 29 fps" in warning.message
    assert warnings(good(), {"input": Info(fps=24.0)}) == []
    assert check(good(), infos={"input": Info(fps=29.97)}) == []
