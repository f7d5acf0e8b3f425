"""The Transfer1 profile: the options artists asked for (distilled edge, regional prompts,
weight maps and control_weight_prompt, per-control ckpt_path, --batch_size, offload per run)
and the five defects, each pinned by a test that failed before the fix."""

from __future__ import annotations

import json

import pytest

from backend.models.params import GenerationParams
from backend.models.profile import JobContext, JobItem, get_profile
from backend.models.transfer1.enhance import upsampler_source, validate_enhance
from backend.models.transfer1.options import validate_options

PROFILE = get_profile("transfer1")
RUN = "/cosmos/runs/R"


def good(**kw) -> GenerationParams:
    base = dict(prompt="a red car on a wet road", negative_prompt="blurry",
                input_video="/h/in.mp4", weights={"edge": 1.0})
    base.update(kw)
    return GenerationParams(**base)


def only(errors, field: str) -> str:
    hits = [e for e in errors if e.field == field]
    assert len(hits) == 1, errors
    return hits[0].message


def opts(p: GenerationParams, run_type: str = "inference", batching: bool = False):
    return validate_options(p, run_type=run_type, batching=batching)


def command(p: GenerationParams, paths: dict | None = None, run_type: str = "inference",
            batch: bool = False, items: list | None = None, offload=()):
    ctx = JobContext(run_type=run_type, folder=RUN, checkpoint_dir="checkpoints", num_gpus=1,
                     master_port=29500, offload=tuple(offload), batch=batch)
    return PROFILE.command(ctx, items or [JobItem("R", p, paths or {
        "input": f"{RUN}/inputs/input.mp4"}, input_fps=24.0)])


def spec_of(p, paths=None, **kw) -> dict:
    cmd = command(p, paths, **kw)
    return json.loads(cmd.files[cmd.spec_files[0]])


# -- the distilled edge model -----------------------------------------------------------------
def test_distilled_is_a_flag_on_the_command_line_for_one_edge_control():
    p = good(variant="distilled")
    assert opts(p) == []
    assert "--use_distilled" in command(p).argv
    assert "--use_distilled" not in command(good()).argv


def test_distilled_refusals():
    assert "exactly one control" in only(opts(good(variant="distilled",
                                                   weights={"edge": 1, "depth": 0.5})), "weights")
    msg = only(opts(good(variant="distilled", weights={"depth": 1.0})),
               "control_options.depth.ckpt_path")
    assert "no distilled checkpoint for depth" in msg
    assert opts(good(variant="distilled", weights={"depth": 1.0},
                     control_options={"depth": {"ckpt_path": "mine/depth_distilled.pt"}})) == []
    assert "drops regional prompts" in only(opts(good(
        variant="distilled", regional_prompts=[{"prompt": "x", "box": [0, 0, 1, 1]}])),
        "regional_prompts")
    assert "'distilled'" in only(opts(good(variant="turbo")), "variant")


# -- regional prompts -------------------------------------------------------------------------
def test_regional_prompts_go_into_the_spec_as_cosmos_reads_them():
    p = good(regional_prompts=[{"prompt": "red dress", "box": [0, 0, 0.5, 1]},
                               {"prompt": "blue dress", "mask_prompt": "woman on the right"},
                               {"prompt": "forklift", "mask_video": "/h/forklift.mp4"}])
    assert opts(p) == []
    files = {f.role: f for f in PROFILE.input_files(p, "inference")}
    assert files["region.2"].link_name == "region_2.mp4" and files["region.2"].video
    spec = spec_of(p, {"input": f"{RUN}/inputs/input.mp4",
                       "region.2": f"{RUN}/inputs/region_2.mp4"})
    assert spec["regional_prompts"] == [
        {"prompt": "red dress", "region_definitions_path": [0.0, 0.0, 0.5, 1.0]},
        {"prompt": "blue dress", "mask_prompt": "woman on the right"},
        {"prompt": "forklift", "region_definitions_path": f"{RUN}/inputs/region_2.mp4"}]


@pytest.mark.parametrize("region, words", [
    ({"box": [0, 0, 1, 1]}, "has no prompt"),
    ({"prompt": "x"}, "exactly one region"),
    ({"prompt": "x", "box": [0, 0, 1, 1], "mask_prompt": "y"}, "exactly one region"),
    ({"prompt": "x", "box": [0.6, 0, 0.5, 1]}, "0 <= x1 < x2 <= 1"),
    ({"prompt": "x", "box": [0, 0, 1]}, "[x1, y1, x2, y2]"),
    ({"prompt": "x", "mask_video": "/h/mask.json"}, "Invalid video file"),
    ({"prompt": "x", "where": "left"}, "unknown key"),
])
def test_regional_prompt_refusals(region, words):
    assert words in only(opts(good(regional_prompts=[region])), "regional_prompts")


def test_a_regional_mask_prompt_needs_the_input_video():
    msg = only(opts(good(input_video=None, regional_prompts=[{"prompt": "x",
                                                              "mask_prompt": "car"}])),
               "regional_prompts")
    assert "segments the input video" in msg


# -- spatiotemporal weights and per-control checkpoints ---------------------------------------
def test_weight_maps_ckpt_paths_and_the_seg_weight_prompt_in_the_spec():
    p = good(weights={"edge": 1.0, "seg": 0.6, "vis": 0.5},
             control_options={"edge": {"weight_map": "/h/edge_weights.pt"},
                              "seg": {"weight_prompt": "robotic arms . gloves",
                                      "ckpt_path": "post/seg_control.pt"}})
    assert opts(p) == []
    files = {f.role: f for f in PROFILE.input_files(p, "inference")}
    assert files["weight.edge"].link_name == "edge_weights.pt" and not files["weight.edge"].video
    spec = spec_of(p, {"input": f"{RUN}/inputs/input.mp4",
                       "weight.edge": f"{RUN}/inputs/edge_weights.pt"})
    assert spec["edge"]["control_weight"] == f"{RUN}/inputs/edge_weights.pt"
    assert spec["seg"] == {"control_weight": 0.6, "control_weight_prompt": "robotic arms . gloves",
                           "ckpt_path": "post/seg_control.pt"}
    assert spec["vis"] == {"control_weight": 0.5}


@pytest.mark.parametrize("control, option, value, words", [
    ("edge", "ckpt_path", "edge.safetensors", ".pt checkpoint"),
    ("edge", "weight_map", "/h/w.npy", ".pt tensor"),
    ("edge", "weight_prompt", "arms", "seg only"),
    ("seg", "weight_prompt", "  ", "must be text"),
    ("edge", "mask_path", "/h/m.mp4", "Transfer2.5's"),
    ("depth", "ckpt_path", "d.pt", "weight is 0"),
])
def test_control_option_refusals(control, option, value, words):
    p = good(weights={"edge": 1.0, "seg": 0.5},
             control_options={control: {option: value}})
    assert words in only(opts(p), f"control_options.{control}.{option}")


def test_seg_weight_map_and_weight_prompt_exclude_each_other():
    p = good(weights={"seg": 1.0}, control_options={"seg": {"weight_map": "/h/s.pt",
                                                             "weight_prompt": "car"}})
    assert "keep only one" in only(opts(p), "control_options.seg.weight_prompt")


# -- batch size and offloading ----------------------------------------------------------------
def test_batch_size_only_in_a_batch_job():
    assert "batching is off" in only(opts(good(batch_size=2)), "batch_size")
    assert opts(good(batch_size=2), batching=True) == []
    assert "forces 1 for upscale" in only(opts(good(batch_size=2), run_type="upscale",
                                               batching=True), "batch_size")
    assert "1 to 16" in only(opts(good(batch_size=0), batching=True), "batch_size")
    a, b = good(batch_size=2), good(batch_size=2, prompt="other", input_video="/h/b.mp4")
    items = [JobItem("A", a, {"input": f"{RUN}/inputs/0_input.mp4"}, input_fps=24.0),
             JobItem("B", b, {"input": f"{RUN}/inputs/1_input.mp4"}, input_fps=24.0)]
    argv = command(a, batch=True, items=items).argv
    assert argv[argv.index("--batch_size") + 1] == "2" and "--batch_input_path" in argv
    assert "--batch_size" not in command(good()).argv


def test_offload_per_run_defaults_to_the_hosts():
    host = ("offload_text_encoder_model", "offload_guardrail_models")
    assert PROFILE.offload_for(good(), host) == host
    assert PROFILE.offload_for(good(offload=["offload_diffusion_transformer"]), host) == (
        "offload_diffusion_transformer",)
    assert PROFILE.offload_for(good(offload=[]), host) == ()
    assert "offload_diffusion_transformer" in only(opts(good(offload=["offload_vae"])), "offload")
    argv = command(good(), offload=("offload_diffusion_transformer",)).argv
    assert "--offload_diffusion_transformer" in argv


def test_settings_of_another_model_are_refused():
    assert "another model's" in only(opts(good(extra={"resolution": "720"})), "extra.resolution")


# -- the defects ------------------------------------------------------------------------------
@pytest.mark.parametrize("hint", ["depth", "seg"])
def test_defect2_enhance_with_depth_or_seg_and_no_control_video_reads_the_input(hint):
    """The integrated upsampler would iterate over None after a full model load; the
    standalone upsampler reads the input video instead, and says so."""
    p = good(weights={hint: 0.7})
    assert validate_enhance(p) == []
    role, why = upsampler_source(p)
    assert role == "input" and f"{hint} has no control video" in why and "crash" in why
    assert upsampler_source(good(weights={hint: 0.7}, control_videos={hint: "/h/c.mp4"}))[0] \
        == f"control.{hint}"
    msg = only(validate_enhance(good(weights={hint: 0.7}, input_video=None)), "input_video")
    assert f"the {hint} control video or the input video" in msg


def test_defect3_keypoint_only_enhance_is_refused_naming_what_the_upsampler_reads():
    msg = only(PROFILE.validate(good(weights={"keypoint": 1.0}), run_type="enhance", infos={}),
               "weights")
    assert "vis, edge, depth or seg" in msg and "unchanged" in msg
    assert validate_enhance(good(weights={"keypoint": 1.0, "edge": 0.5})) == []


def test_defect4_upscale_carries_the_parents_seed_and_guidance():
    parent = good(seed=777, guidance=6.5, fps=None, upscale_weight=0.4)
    item = JobItem("U", parent, {"input": f"{RUN}/inputs/input.mp4"}, input_fps=29.97)
    spec = spec_of(parent, run_type="upscale", items=[item])
    assert spec["seed"] == 777 and spec["guidance"] == 6.5
    assert spec["fps"] == 30 and spec["upscale"] == {"control_weight": 0.4}
    assert spec["num_steps"] == 10 and "edge" not in spec


def test_defect5_enhance_runs_the_standalone_upsampler_and_records_what_it_read():
    p = good(weights={"vis": 0.5, "edge": 1.0}, control_videos={"vis": "/h/vis.mp4"})
    cmd = command(p, {"input": f"{RUN}/inputs/input.mp4", "control.vis": f"{RUN}/inputs/vis.mp4"},
                  run_type="enhance", offload=("offload_prompt_upsampler",))
    assert cmd.argv[-1] == f"{RUN}/upsample.py" and "transfer.py" not in " ".join(cmd.argv)
    request = json.loads(cmd.files["upsample.json"])
    assert request["input_video"] == f"{RUN}/inputs/vis.mp4" and request["offload"] is True
    [note] = cmd.notes["R"]
    assert note.role == "upsampler_input" and "the vis control video" in note.label
    assert cmd.outputs["R"].video is None and cmd.outputs["R"].text == "outputs/output.txt"
    assert PROFILE.gpus_for(good(num_gpus=4), "enhance") == 1  # vLLM on one GPU


def test_batches_share_only_what_the_base_spec_holds():
    a = good(control_options={"seg": {"ckpt_path": "x.pt"}}, weights={"seg": 1.0})
    assert PROFILE.batch_key(a, 24) == PROFILE.batch_key(good(
        control_options={"seg": {"ckpt_path": "x.pt"}}, weights={"seg": 0.3},
        prompt="other", input_video="/h/o.mp4"), 24)
    assert PROFILE.batch_key(a, 24) != PROFILE.batch_key(good(weights={"seg": 1.0}), 24)
    assert PROFILE.batch_key(good(variant="distilled"), 24) != PROFILE.batch_key(good(), 24)
    assert PROFILE.batch_key(good(control_options={"edge": {"weight_map": "/w.pt"}}), 24) is None
