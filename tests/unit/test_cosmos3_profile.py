"""The Cosmos 3 profile: spec per mode, command, every refusal, the outcome from
sample_outputs.json, progress, and the form's shape per mode."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from backend.models.params import GenerationParams
from backend.models.profile import ItemResult, JobContext, JobItem, get_profile
from backend.models.results import BLOCKED, COMPLETED, DONE, FAILED

C3 = get_profile("cosmos3")
CTX = JobContext("inference", "/box/runs/r1", "checkpoints", 1, 29500, ())


def req(mode: str = "video2video", **kw) -> GenerationParams:
    p = C3.defaults(None)
    p.prompt = "a rainy neon street"
    p.extra["mode"] = mode
    if mode == "video2video":
        p.input_video = "/me/in.mp4"
    elif mode == "image2video":
        p.input_video, p.weights = "/me/still.png", {}
    else:
        p.weights = {}
    for key, value in kw.items():
        if key.startswith("x_"):
            p.extra[key[2:]] = value
        else:
            setattr(p, key, value)
    return p


def spec_of(p: GenerationParams, paths=None, ctx=CTX) -> dict:
    paths = paths if paths is not None else {
        e.role: f"/box/runs/r1/inputs/{e.link_name}" for e in C3.input_files(p, "inference")}
    return json.loads(C3.command(ctx, [JobItem("r1", p, paths)]).files["spec.json"])


def errors(p: GenerationParams) -> dict[str, str]:
    return {e.field: e.message for e in C3.validate(p, run_type="inference", infos={})}


# -- spec ---------------------------------------------------------------------------------------
def test_video2video_spec_names_the_mode_and_maps_vis_to_blur():
    p = req(weights={"edge": 0.6, "vis": 0.4}, canny_threshold="low", blur_strength="none",
            x_control_guidance=2.5, x_max_frames=48, x_resolution="480")
    spec = spec_of(p)
    assert spec["model_mode"] == "video2video" and spec["name"] == "r1"
    assert spec["vision_path"] == "/box/runs/r1/inputs/input.mp4"
    assert spec["edge"] == {"weight": 0.6, "preset_edge_threshold": "low"}
    assert spec["blur"] == {"weight": 0.4, "preset_blur_strength": "none"}
    assert "vis" not in spec and "guidance" not in spec  # the tuned default applies
    assert spec["control_guidance"] == 2.5 and spec["max_frames"] == 48
    assert spec["resolution"] == "480" and "num_frames" not in spec and "fps" not in spec


def test_a_control_video_becomes_its_hints_control_path():
    p = req(weights={"depth": 1.0}, control_videos={"depth": "/me/depth.mp4"})
    spec = spec_of(p)
    assert spec["depth"] == {"weight": 1.0, "control_path": "/box/runs/r1/inputs/depth.mp4"}
    assert [f.role for f in C3.input_files(p, "inference")] == ["input", "control.depth"]


def test_text2video_has_no_input_and_no_hints():
    p = req("text2video", fps=16, guidance=4.5, x_num_frames=93, x_aspect_ratio="9,16")
    assert C3.input_files(p, "inference") == []
    spec = spec_of(p)
    assert spec["model_mode"] == "text2video" and "vision_path" not in spec
    assert spec["fps"] == 16 and spec["num_frames"] == 93 and spec["guidance"] == 4.5
    assert spec["aspect_ratio"] == "9,16"
    assert not any(h in spec for h in ("edge", "blur", "depth", "seg", "wsm"))


def test_image2video_stages_the_still_as_a_file_not_a_video():
    p = req("image2video")
    [entry] = C3.input_files(p, "inference")
    assert entry.role == "input" and not entry.video and entry.link_name == "input.png"
    assert spec_of(p)["vision_path"] == "/box/runs/r1/inputs/input.png"


# -- command ------------------------------------------------------------------------------------
def test_one_gpu_is_python_dash_m_with_the_checkpoint_and_keep_going():
    cmd = C3.command(CTX, [JobItem("r1", req(x_checkpoint="Cosmos3-Edge"), {})])
    assert list(cmd.argv) == [
        "python", "-m", "cosmos_framework.scripts.inference", "-i", "/box/runs/r1/spec.json",
        "-o", "/box/runs/r1/outputs", "--checkpoint-path", "Cosmos3-Edge",
        "--parallelism-preset", "latency", "--keep-going"]
    out = cmd.outputs["r1"]
    assert out.video == "outputs/r1/vision.mp4" and out.recipe == "outputs/r1/sample_args.json"
    assert out.status == ("outputs/r1/sample_outputs.json",)
    assert [e.path for e in out.extras] == ["outputs/r1/control_edge.mp4"]
    assert "prompt" not in " ".join(cmd.argv)


def test_n_gpus_is_torchrun_with_the_preset_guardrails_off_and_offload():
    ctx = JobContext("inference", "/j", "c", 4, 29611, ("offload_guardrail_models",))
    p = req("text2video", num_gpus=4, x_parallelism="throughput", x_guardrails="off",
            x_checkpoint="Cosmos3-Super")
    argv = list(C3.command(ctx, [JobItem("r1", p, {})]).argv)
    assert argv[:5] == ["torchrun", "--nproc-per-node=4", "--master-port=29611", "-m",
                        "cosmos_framework.scripts.inference"]
    assert argv[argv.index("--parallelism-preset") + 1] == "throughput"
    assert "--no-guardrails" in argv and "--offload-guardrail-models" in argv
    assert C3.guardrails(p) is False and C3.guardrails(req()) is True


def test_the_command_refuses_infrastructure_it_cannot_spell():
    bad = JobContext("inference", "/j", "c", 9, 29500, ())
    with pytest.raises(ValueError, match="num_gpus"):
        C3.command(bad, [JobItem("r1", req(), {})])
    with pytest.raises(ValueError, match="one sample"):
        C3.command(CTX, [JobItem("a", req(), {}), JobItem("b", req(), {})])


# -- validation: every refusal ------------------------------------------------------------------
def test_the_defaults_with_a_prompt_and_a_video_are_valid_in_each_mode():
    for mode in ("video2video", "text2video", "image2video"):
        assert errors(req(mode)) == {}, mode
        assert errors(req(mode, sigma_max=70.0)) == {}  # never sent: UniPC ignores it
        assert "sigma_max" not in spec_of(req(mode, sigma_max=70.0))


@pytest.mark.parametrize("mode, change, field, words", [
    ("video2video", dict(prompt=" "), "prompt", "prompt is empty"),
    ("video2video", dict(x_mode="text2image"), "extra.mode", "video2video, text2video"),
    ("video2video", dict(x_checkpoint="Cosmos3-Huge"), "extra.checkpoint", "Cosmos3-Nano"),
    ("video2video", dict(x_parallelism="fast"), "extra.parallelism", "latency, throughput"),
    ("video2video", dict(x_guardrails="maybe"), "extra.guardrails", "on, off"),
    ("video2video", dict(x_resolution="1080"), "extra.resolution", "256, 480, 720, 768"),
    ("video2video", dict(x_aspect_ratio="2,1"), "extra.aspect_ratio", "16,9"),
    ("video2video", dict(x_shift=3), "extra.shift", "no setting 'shift'"),
    ("video2video", dict(guidance=7.5), "guidance", "from 0 to 7"),
    ("video2video", dict(num_steps=0), "num_steps", "from 1 to 200"),
    ("video2video", dict(seed=-1), "seed", "whole number from 0"),
    ("video2video", dict(x_control_guidance=11), "extra.control_guidance", "0 to 10"),
    ("video2video", dict(num_gpus=9), "num_gpus", "1, 2, 3"),
    ("video2video", dict(x_checkpoint="Cosmos3-Super"), "num_gpus", "4 or more 80 GB"),
    ("video2video", dict(num_gpus=3), "num_gpus", "throughput preset"),
    ("video2video", dict(weights={"edge": 1.5}), "weights.edge", "from 0 to 1"),
    ("video2video", dict(weights={"keypoint": 1.0}), "weights.keypoint", "no keypoint"),
    ("video2video", dict(weights={}), "weights", "at least one control hint"),
    ("video2video", dict(weights={"depth": 1.0}), "control_videos.depth",
     "computes only edge and blur"),
    ("video2video", dict(weights={"wsm": 1.0}), "control_videos.wsm", "own control video"),
    ("video2video", dict(input_video=None), "input_video", "computed from the input video"),
    ("video2video", dict(control_videos={"seg": "/me/seg.mp4"}), "control_videos.seg",
     "weight is 0"),
    ("video2video", dict(weights={"depth": 1}, control_videos={"depth": "/me/d.png"}),
     "control_videos.depth", "use a video"),
    ("video2video", dict(canny_threshold="extreme"), "canny_threshold", "very_low"),
    ("video2video", dict(blur_strength="huge"), "blur_strength", "none, very_low"),
    ("video2video", dict(x_num_frames=50), "extra.num_frames", "reads its frames"),
    ("video2video", dict(fps=12), "fps", "keeps the input's frame rate"),
    ("video2video", dict(x_max_frames=0), "extra.max_frames", "at least 1"),
    ("video2video", dict(x_chunk_frames=10, x_conditional_frames=10),
     "extra.conditional_frames", "must be fewer"),
    ("video2video", dict(input_video="/me/in.png"), "input_video", "takes a video"),
    ("video2video", dict(regional_prompts=[{"prompt": "x"}]), "regional_prompts", "no regional"),
    ("video2video", dict(batch_size=2), "batch_size", "use 1"),
    ("video2video", dict(variant="distilled"), "variant", "pick the checkpoint"),
    ("video2video", dict(seg_prompt="car"), "seg_prompt", "does not segment"),
    ("video2video", dict(control_options={"edge": {"mask_prompt": "car"}}),
     "control_options.edge.mask_prompt", "take no mask_prompt"),
    ("video2video", dict(offload=["offload_text_encoder_model"]), "offload",
     "only the guardrail"),
    ("text2video", dict(input_video="/me/in.mp4"), "input_video", "prompt alone"),
    ("text2video", dict(weights={"edge": 1.0}), "weights.edge", "takes no controls"),
    ("text2video", dict(control_videos={"edge": "/me/e.mp4"}), "control_videos.edge",
     "no control videos"),
    ("text2video", dict(x_max_frames=40), "extra.max_frames", "chunked transfer"),
    ("text2video", dict(x_control_guidance=2.0), "extra.control_guidance", "chunked transfer"),
    ("text2video", dict(fps=-3), "fps", "at least 1"),
    ("text2video", dict(x_num_frames=0), "extra.num_frames", "at least 1"),
    ("image2video", dict(input_video=None), "input_video", "choose an input image"),
    ("image2video", dict(input_video="/me/in.mp4"), "input_video", "takes an image"),
])
def test_every_refusal_names_its_field_and_what_is_allowed(mode, change, field, words):
    found = errors(req(mode, **change))
    assert field in found, found
    assert words in found[field], found[field]


def test_only_what_is_said_is_refused_for_on_the_fly_hints_with_their_own_video():
    assert errors(req(weights={"depth": 0.5, "edge": 0.5},
                      control_videos={"depth": "/me/depth.mp4"})) == {}
    assert errors(req(input_video=None, weights={"seg": 1.0},
                      control_videos={"seg": "/me/seg.mp4"})) == {}


def test_warnings_say_what_upstream_only_warns_about():
    said = {e.field: e.message for e in C3.warnings(req("text2video", fps=60, x_num_frames=500,
                                                        x_checkpoint="Cosmos3-Edge",
                                                        x_resolution="720"), infos={})}
    assert "never trained on" in said["extra.resolution"]
    assert "quality may be degraded" in said["extra.num_frames"]
    assert "10-30" in said["fps"]
    v2v = {e.field for e in C3.warnings(req(), infos={})}
    assert v2v == {"extra.guardrails"}  # upstream's transfer path runs no guardrail


def test_vram_and_gpus_follow_the_checkpoint():
    assert C3.vram_for(req(x_checkpoint="Cosmos3-Super"), 4) == 75.0
    assert C3.vram_for(req(x_checkpoint="Cosmos3-Edge"), 1) < 16


# -- outcome ------------------------------------------------------------------------------------
def result(tmp_path: Path, status: dict | None, *, exit_code=0, log=(), have_video=True,
           killed=False) -> ItemResult:
    files: dict[str, Path | None] = {"status:outputs/r1/sample_outputs.json": None}
    if status is not None:
        path = tmp_path / "sample_outputs.json"
        path.write_text(json.dumps(status))
        files["status:outputs/r1/sample_outputs.json"] = path
    return ItemResult("r1", "inference", 0, 1, exit_code, list(log), have_video, files, killed)


def _ok(vision="vision.mp4"):
    return {"args": {"name": "r1"}, "status": "success",
            "outputs": [{"content": {}, "files": [f"/o/r1/{vision}"]}]}


def test_success_comes_from_sample_outputs_json(tmp_path):
    out = C3.classify(result(tmp_path, _ok()))
    assert out.status == COMPLETED and "sample_outputs.json" in out.evidence
    assert C3.classify(result(tmp_path, _ok(), have_video=False)).status == FAILED
    assert "no vision file" in C3.classify(result(tmp_path, _ok("x.json"))).cause
    # exit 0 and a success-looking log are not enough without the file
    said = C3.classify(result(tmp_path, None, log=["[12-01 10:00:00|SUCCESS|x.py:1:f] Saved "
                                                   "sample outputs to '/o/r1/sample_outputs.json'"]))
    assert said.status == FAILED and "wrote no sample_outputs.json" in said.cause


def test_a_skip_or_an_error_in_the_file_is_its_cause(tmp_path):
    skip = C3.classify(result(tmp_path, {"args": {"name": "r1"}, "status": "skip",
                                         "message": "no sound tokenizer"}))
    assert skip.status == FAILED and "skipped the sample: no sound tokenizer" in skip.cause
    err = C3.classify(result(tmp_path, {"args": {"name": "r1"}, "status": "error",
                                        "message": "Guardrail blocked video '/o/r1': faces"}))
    assert err.status == BLOCKED and err.stage == "video" and "faces" in err.cause


@pytest.mark.parametrize("why, stage", [
    ("Guardrail blocked prompt '/o/r1': 'a [bad] prompt'", "prompt"),
    ("Guardrail blocked video '/o/r1': Video content safety filter flagged it", "video"),
])
def test_a_block_without_a_file_is_read_from_upstreams_error_record(tmp_path, why, stage):
    line = ("[12-01 10:00:00|ERROR|cosmos_framework/inference/common/inference.py:267:"
            f"_handle_sample_exception] Error generating sample 'r1': {why}")
    out = C3.classify(result(tmp_path, None, log=[line], have_video=False))
    assert out.status == BLOCKED and out.stage == stage and out.evidence == line
    assert f"at the {stage} check" in out.cause


def test_a_prompt_echoed_in_the_log_cannot_fake_a_block(tmp_path):
    echo = ("[12-01 10:00:00|INFO|x.py:1:f] final user prompt: Error generating sample 'r1': "
            "Guardrail blocked prompt 'x': 'y'")
    out = C3.classify(result(tmp_path, None, log=[echo], have_video=False))
    assert out.status == FAILED and "wrote no sample_outputs.json" in out.cause


def test_a_missing_control_and_a_crash_are_failures_with_their_cause(tmp_path):
    line = ("[12-01 10:00:00|ERROR|c.py:267:_handle_sample_exception] Error generating sample "
            "'r1': Missing pre-computed control input for 'depth'. Provide a control_path")
    out = C3.classify(result(tmp_path, None, log=[line], have_video=False))
    assert out.status == FAILED and "Missing pre-computed control input" in out.cause
    oom = C3.classify(result(tmp_path, None, exit_code=1, have_video=False, log=[
        "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 3.52 GiB."]))
    assert oom.status == FAILED and "FSDP shards Cosmos 3" in oom.cause
    killed = C3.classify(result(tmp_path, None, exit_code=143, have_video=False, killed=True))
    assert killed.status == "cancelled"


# -- progress and shape -------------------------------------------------------------------------
def test_progress_follows_upstreams_records_and_the_step_bar():
    t = C3.progress_tracker()
    t.feed("[12-01 10:00:00|INFO|cosmos_framework/scripts/inference.py:48:inference] Loaded 1 "
           "samples")
    assert t.progress.phase == "loading"
    t.feed("[12-01 10:00:05|INFO|i.py:1547:generate_batch] Saved sample args to '/o/r1/s.json'")
    t.feed("Sampling:  40%|████      | 14/35 [00:05<00:07]")
    assert (t.progress.phase, t.progress.step, t.progress.n_steps) == ("clip_diffuse", 14, 35)
    t.feed("[12-01 10:00:09|SUCCESS|i.py:1812:generate_batch] Saved sample outputs to '/o'")
    assert t.progress.phase == DONE and t.progress.fraction == 1.0


def test_the_shape_follows_the_mode():
    assert C3.shape(req()).input == "video" and C3.shape(req()).controls
    t2v = C3.shape(req("text2video"))
    assert t2v.input is None and not t2v.controls and "extra.max_frames" in t2v.hidden
    assert C3.shape(req("image2video")).input == "image"
    assert get_profile("transfer2.5").shape(req()).input == "video"  # the default


def test_the_form_sends_nothing_it_hides_for_the_mode():
    from components.form_values import params_from_values
    from components.model_switch import component_looks

    values = {"model": "cosmos3", "prompt": "a car", "input_choice": "/me/in.mp4",
              "weight.edge": 1.0, "seg_prompt": "car", "extra.mode": "text2video",
              "extra.num_frames": 25, "extra.max_frames": 40, "fps": 12}
    p = params_from_values(values)
    assert p.input_video is None and p.weights == {} and p.seg_prompt == ""
    assert p.extra["num_frames"] == 25 and "max_frames" not in p.extra and p.fps == 12
    assert errors(p) == {}
    looks = component_looks(C3, p)
    assert looks["input_row"]["visible"] is False and looks["weight.edge"]["visible"] is False
    assert looks["extra.max_frames"]["visible"] is False
    v2v = params_from_values(dict(values, **{"extra.mode": "video2video"}))
    assert v2v.input_video == "/me/in.mp4" and v2v.fps is None
    assert "num_frames" not in v2v.extra and v2v.extra["max_frames"] == 40
    assert component_looks(C3, v2v)["input_row"]["visible"] is True
    assert component_looks(get_profile("transfer2.5"))["seg_prompt"]["visible"] is True
