"""Transfer2.5's spec and command: the flat per-sample JSON (and JSONL batch) config.py reads,
unknown keys refused before the GPU sees them, `python` vs torchrun, the distilled variant."""

from __future__ import annotations

import json

import pytest

from backend.models.params import GenerationParams
from backend.models.profile import JobContext, JobItem, get_profile
from backend.models.transfer2_5.command import build_inference_argv, job_env
from backend.models.transfer2_5.params import chunks_for_frames
from backend.models.transfer2_5.spec import (batch_jsonl, build_sample, check_sample,
                                             hint_keys, sample_json)

PROFILE = get_profile("transfer2.5")
RUN = "/cosmos/runs/R"
PATHS = {"input": f"{RUN}/inputs/input.mp4"}


def params(**kw) -> GenerationParams:
    p = PROFILE.defaults(None)
    p.prompt, p.input_video = "a robot pours coffee", "/h/in.mp4"
    for key, value in kw.items():
        setattr(p, key, value)
    return p


def test_a_single_edge_sample_is_upstreams_shape():
    sample = build_sample(params(), name="R", paths=PATHS)
    assert list(sample) == ["name", "prompt", "negative_prompt", "video_path", "resolution",
                            "seed", "guidance", "num_steps", "edge"]
    assert sample["edge"] == {"control_weight": 1.0, "preset_edge_threshold": "medium"}
    assert (sample["seed"], sample["guidance"], sample["num_steps"]) == (2025, 3, 35)
    assert isinstance(sample["guidance"], int)
    assert "sigma_max" not in sample and "fps" not in sample and "input_video_path" not in sample


def test_multicontrol_with_videos_masks_presets_and_seg_prompt():
    p = params(weights={"edge": 0.2, "vis": 0.5, "depth": 1.0, "seg": 1.0},
               control_videos={"depth": "/h/d.mp4"}, blur_strength="high",
               canny_threshold="low", seg_prompt="arm . cup", sigma_max=80.0,
               control_options={"seg": {"mask_prompt": "robotic arm . gripper"},
                                "vis": {"mask_path": "/h/m.mp4"}},
               extra={"resolution": "480", "max_frames": 100})
    paths = dict(PATHS, **{"control.depth": f"{RUN}/inputs/depth.mp4",
                           "mask.vis": f"{RUN}/inputs/vis_mask.mp4"})
    sample = build_sample(p, name="R", paths=paths)
    assert hint_keys(sample) == ("edge", "vis", "depth", "seg")
    assert sample["sigma_max"] == "80" and sample["max_frames"] == 100
    assert sample["resolution"] == "480"
    assert sample["vis"] == {"control_weight": 0.5, "mask_path": f"{RUN}/inputs/vis_mask.mp4",
                             "preset_blur_strength": "high"}
    assert sample["edge"]["preset_edge_threshold"] == "low"
    assert sample["depth"] == {"control_weight": 1.0, "control_path": f"{RUN}/inputs/depth.mp4"}
    assert sample["seg"] == {"control_weight": 1.0, "mask_prompt": "robotic arm . gripper",
                             "control_prompt": "arm . cup"}


def test_sigma_max_is_a_string_upstream():
    assert build_sample(params(sigma_max=12.5), name="R", paths=PATHS)["sigma_max"] == "12.5"


def test_unstaged_files_are_refused_not_dropped():
    with pytest.raises(ValueError, match="input video was not staged"):
        build_sample(params(), name="R", paths={})
    with pytest.raises(ValueError, match="depth control video was not staged"):
        build_sample(params(weights={"depth": 1.0}, control_videos={"depth": "/d.mp4"}),
                     name="R", paths=PATHS)
    with pytest.raises(ValueError, match="edge mask was not staged"):
        build_sample(params(control_options={"edge": {"mask_path": "/m.mp4"}}), name="R",
                     paths=PATHS)


def test_unknown_keys_are_refused_at_top_level_and_in_control_blocks():
    sample = build_sample(params(), name="R", paths=PATHS)
    with pytest.raises(ValueError, match="'output_dir'.*extra='forbid'"):
        check_sample(dict(sample, output_dir="/o"))
    # upstream IGNORES unknown keys in control blocks: a Transfer1-style input_control vanishes
    with pytest.raises(ValueError, match="'input_control' in the edge block.*silently ignore"):
        check_sample(dict(sample, edge={"control_weight": 1.0, "input_control": "x.mp4"}))
    with pytest.raises(ValueError, match="both mask_path and mask_prompt"):
        check_sample(dict(sample, edge={"mask_path": "/m", "mask_prompt": "x"}))
    with pytest.raises(ValueError, match="no control"):
        check_sample({k: v for k, v in sample.items() if k != "edge"})


def test_distilled_sample_takes_4_steps():
    sample = build_sample(params(variant="distilled", num_steps=4), name="R", paths=PATHS)
    assert sample["num_steps"] == 4


def test_json_and_jsonl_files():
    one = build_sample(params(prompt="line\u2028break \u00e9"), name="a", paths=PATHS)
    two = build_sample(params(), name="b", paths=PATHS)
    text = sample_json(one)
    assert json.loads(text) == one and "\u00e9" in text and text.endswith("}\n")
    lines = batch_jsonl([one, two])
    assert [json.loads(line) for line in lines.splitlines()] == [one, two]  # upstream splitlines
    assert "\u2028" not in lines
    with pytest.raises(ValueError, match="not unique"):
        batch_jsonl([one, dict(one)])


def test_argv_one_gpu_is_python_n_gpus_torchrun():
    one = build_inference_argv(num_gpus=1, master_port=29501, spec_path=f"{RUN}/spec.json",
                               output_dir=f"{RUN}/outputs")
    assert one == ["python", "examples/inference.py", "-i", f"{RUN}/spec.json", "-o",
                   f"{RUN}/outputs"]
    six = build_inference_argv(num_gpus=6, master_port=29501, spec_path=f"{RUN}/batch.jsonl",
                               output_dir=f"{RUN}/outputs", distilled=True,
                               offload_flags=["offload_guardrail_models"])
    assert six[:4] == ["torchrun", "--nproc_per_node=6", "--master_port=29501",
                       "examples/inference.py"]
    assert six[-2:] == ["--model=edge/distilled", "--offload-guardrail-models"]
    for bad in (5, 0, True, 2.5):
        with pytest.raises(ValueError, match="num_gpus"):
            build_inference_argv(num_gpus=bad, master_port=29501, spec_path="/s",
                                 output_dir="/o")
    with pytest.raises(ValueError, match="unknown offload flag"):
        build_inference_argv(num_gpus=1, master_port=29501, spec_path="/s", output_dir="/o",
                             offload_flags=["offload_text_encoder_model"])
    with pytest.raises(ValueError):
        build_inference_argv(num_gpus=1, master_port=29501, spec_path="-s", output_dir="/o")


def test_env_is_verbose_and_experimental_only_for_the_distilled_model():
    assert job_env(distilled=False) == {"COSMOS_VERBOSE": "1"}
    assert job_env(distilled=True) == {"COSMOS_VERBOSE": "1",
                                       "COSMOS_EXPERIMENTAL_CHECKPOINTS": "1"}


def test_profile_command_single_and_batch_outputs():
    ctx = JobContext(run_type="inference", folder=RUN, checkpoint_dir="checkpoints", num_gpus=1,
                     master_port=29500, offload=("offload_guardrail_models",))
    p = params(weights={"edge": 1.0, "seg": 0.5},
               control_options={"seg": {"mask_prompt": "arm"}})
    single = PROFILE.command(ctx, [JobItem("R1", p, PATHS)])
    assert single.spec_files == ("spec.json",) and list(single.files) == ["spec.json"]
    assert single.argv[-1] == "--offload-guardrail-models"
    out = single.outputs["R1"]
    assert (out.video, out.text, out.recipe) == ("outputs/R1.mp4", "outputs/R1.txt",
                                                 "outputs/R1.json")
    assert [(x.role, x.path) for x in out.extras] == [
        ("control.edge", "outputs/R1_control_edge.mp4"),
        ("control.seg", "outputs/R1_control_seg.mp4"), ("mask.seg", "outputs/R1_mask_seg.mp4")]
    assert json.loads(single.run_specs["R1"])["name"] == "R1"
    batch = PROFILE.command(JobContext(**{**ctx.__dict__, "batch": True}),
                            [JobItem("R1", p, PATHS), JobItem("R2", p, PATHS)])
    assert batch.spec_files == ("batch.jsonl",)
    assert "-i" in batch.argv and f"{RUN}/batch.jsonl" in batch.argv
    assert [json.loads(x)["name"] for x in batch.files["batch.jsonl"].splitlines()] == ["R1", "R2"]
    assert set(batch.outputs) == {"R1", "R2"} and "R2" in batch.outputs["R2"].video
    assert "a robot pours coffee" not in " ".join(batch.argv)  # never on a command line


def test_batches_group_by_the_set_of_controls():
    edge = params()
    edge_again = params(prompt="other", seed=7, guidance=5, weights={"edge": 0.3})
    multi = params(weights={"edge": 1.0, "depth": 0.5})
    assert PROFILE.batch_key(edge, 24) == PROFILE.batch_key(edge_again, 30)
    assert PROFILE.batch_key(edge, 24) != PROFILE.batch_key(multi, 24)
    assert PROFILE.batch_key(edge, 24) != PROFILE.batch_key(params(num_gpus=2), 24)
    assert PROFILE.batch_key(params(input_video=None), 24) is None


@pytest.mark.parametrize("frames, chunks", [(1, 1), (93, 1), (94, 2), (121, 2), (185, 2),
                                            (186, 3), (1000, 11)])
def test_chunk_count_is_inference_pipeline_get_num_chunks(frames, chunks):
    assert chunks_for_frames(frames) == chunks
