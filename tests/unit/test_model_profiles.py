"""The profile mechanism: registration, hosts that serve models, the VRAM pre-flight, the form
switching models, and the rule that generic code never names a model."""

from __future__ import annotations

import ast
import re
import json
from pathlib import Path

import pytest

from backend.config import ConfigError, load_config
from backend.extensions import BUILTIN_MODULES, model_profiles
from backend.models.params import GenerationParams
from backend.models.profile import ModelProfile, UnknownModel, get_profile
from backend.operations.preflight import model_errors, vram_errors
from components.form_values import params_from_values, parse_regions, spec_preview
from components.model_switch import component_looks, switch_values
from tests.helpers import write_config

ROOT = Path(__file__).resolve().parents[2]
T1, T25 = get_profile("transfer1"), get_profile("transfer2.5")


def test_both_profiles_are_registered_from_the_builtin_modules():
    assert "backend.models.transfer1.profile" in BUILTIN_MODULES
    assert "backend.models.transfer2_5.profile" in BUILTIN_MODULES
    assert list(model_profiles()) == ["transfer1", "transfer2.5", "cosmos3"]
    assert all(isinstance(p, ModelProfile) for p in model_profiles().values())
    with pytest.raises(UnknownModel):
        get_profile("cosmos9")
    described = T25.describe()
    assert described["gpu_counts"] == [1, 2, 3, 4, 6, 8] and described["vram_gb"] == 65.4
    assert [c["name"] for c in described["controls"]] == ["edge", "vis", "depth", "seg"]
    assert all("mask_path" in c["options"] for c in described["controls"])
    json.dumps(described)


# -- hosts serve models ------------------------------------------------------------------------
def test_the_sim_serves_every_model_and_places_each_stand_in(tmp_path):
    sim = load_config(write_config(tmp_path)).hosts["sim"]
    assert sim.models == ("transfer1", "transfer2.5", "cosmos3")
    assert sim.for_model("cosmos3").cosmos_checkout.endswith("/sim-box/cosmos-framework")
    t25 = sim.for_model("transfer2.5")
    assert t25.cosmos_checkout.endswith("/sim-box/cosmos-transfer2.5")
    assert t25.checkout_in_container == t25.cosmos_checkout  # same paths on the sim box
    assert t25.entrypoint == "bash" and t25.keep_image_paths == ()
    assert sim.for_model("transfer1").cosmos_checkout.endswith("/sim-box/cosmos-transfer1")


def test_a_real_box_serves_transfer1_unless_told_and_runs_in_image_code(tmp_path):
    extra = ('[hosts.gpu]\nkind = "ssh"\nhostname = "gpu1"\nremote_root = "/data/c"\n'
             'models = ["transfer1", "transfer2.5"]\n'
             'images = { "transfer2.5" = "studio/t25:1.5" }\n'
             '[hosts.old]\nkind = "ssh"\nhostname = "gpu2"\nremote_root = "/data/c"\n')
    hosts = load_config(write_config(tmp_path, extra_host=extra)).hosts
    assert hosts["old"].models == ("transfer1",)
    t25 = hosts["gpu"].for_model("transfer2.5")
    assert t25.image == "studio/t25:1.5" and not t25.mount_checkout
    assert t25.checkout_in_container == "/workspace"
    mounted = load_config(write_config(tmp_path, extra_host=extra.replace(
        'images =', 'checkouts = { "transfer2.5" = "/data/ct25" }\nimages ='))).hosts["gpu"]
    place = mounted.for_model("transfer2.5")
    assert place.cosmos_checkout == "/data/ct25" and place.keep_image_paths == ("/workspace/.venv",)


@pytest.mark.parametrize("line, words", [
    ('models = ["cosmos9"]', "drawn from transfer1, transfer2.5, cosmos3"),
    ('models = []', "drawn from"),
    ('models = ["transfer1", "transfer1"]', "drawn from"),
    ('images = { "transfer2.5" = "x" }', "for models this host serves (transfer1)"),
])
def test_bad_models_keys_stop_the_app_with_what_is_allowed(tmp_path, line, words):
    extra = f'[hosts.gpu]\nkind = "ssh"\nhostname = "g"\nremote_root = "/d"\n{line}\n'
    with pytest.raises(ConfigError, match="hosts.gpu") as info:
        load_config(write_config(tmp_path, extra_host=extra))
    assert words in str(info.value)


def test_the_default_model_must_be_served_by_the_default_host(tmp_path):
    path = write_config(tmp_path)
    path.write_text(path.read_text().replace("[scheduler]", '[generation]\nmodel = "cosmos9"\n'
                                             "[scheduler]"))
    with pytest.raises(ConfigError, match="generation.model") as info:
        load_config(path)
    assert "transfer1, transfer2.5" in str(info.value)


# -- pre-flight --------------------------------------------------------------------------------
def _gpus(*rows):
    return {"gpus": [{"index": i, "memory_total": total, "memory_used": used}
                     for i, (total, used) in enumerate(rows)]}


def test_vram_preflight_refuses_a_box_that_cannot_hold_the_model(tmp_path):
    host = load_config(write_config(tmp_path)).hosts["sim"]
    small = _gpus((24576, 0), (24576, 0), (24576, 0), (24576, 0))
    [error] = vram_errors(T25, host, 1, small, ours=())
    assert error.field == "host" and "cannot hold Cosmos-Transfer2.5-2B" in error.message
    assert "65.4 GB" in error.message and "at most 24.0 GB" in error.message
    assert "offload_guardrail_models" in error.message and "nothing was queued" in error.message
    big = _gpus((81559, 4), (81559, 4), (81559, 70000), (81559, 70000))
    assert vram_errors(T25, host, 2, big, ours=()) == []
    busy = vram_errors(T25, host, 3, big, ours=())  # someone else holds GPUs 2 and 3
    assert busy and "GPU 2 has 11.3 of 79.6 GB free" in busy[0].message
    assert vram_errors(T25, host, 4, big, ours={2, 3}) == []  # ours: they free up
    # with the box check on, the scheduler keeps the run off GPUs others use until they are
    # free (it waits in the queue, saying why): only GPUs too small for the model refuse
    assert vram_errors(T25, host, 4, big, ours=(), others_wait=True) == []
    [error] = vram_errors(T25, host, 1, small, ours=(), others_wait=True)
    assert "at most 24.0 GB" in error.message
    assert vram_errors(T25, host, 1, None, ours=()) == []  # no look yet: nothing to say


def test_the_host_must_serve_the_model_and_the_model_have_the_run_type(tmp_path):
    extra = '[hosts.old]\nkind = "ssh"\nhostname = "g"\nremote_root = "/d"\n'
    old = load_config(write_config(tmp_path, extra_host=extra)).hosts["old"]
    [error] = model_errors(T25, old, "inference")
    assert "old does not serve transfer2.5; it serves transfer1" in error.message
    sim = load_config(write_config(tmp_path)).hosts["sim"]
    assert "no upscale run" in model_errors(T25, sim, "upscale")[0].message
    assert model_errors(T1, sim, "enhance") == []


# -- the form ---------------------------------------------------------------------------------
def values_for(tmp_path, profile, **over):
    from components.form_values import values_from_params

    params = profile.defaults(load_config(write_config(tmp_path)).generation)
    values = values_from_params(params)
    values.update(over)
    return values, params


def test_switching_keeps_what_applies_and_says_what_changed(tmp_path):
    values, t1_defaults = values_for(tmp_path, T1, **{"weight.keypoint": 0.4, "fps": 12,
                                                     "num_steps": 20})
    new_defaults = T25.defaults(None)
    out, changed, unused = switch_values(values, T1, T25, host_offload=(
        "offload_text_encoder_model", "offload_guardrail_models"), old_defaults=t1_defaults,
        new_defaults=new_defaults)
    assert out["model"] == "transfer2.5" and out["guidance"] == 3 and out["seed"] == 2025
    assert out["sigma_max"] is None and "num_steps" not in out  # 20 was chosen and is valid
    assert any("guidance 5 → 3" in c for c in changed)
    assert any("seed 1 → 2025" in c for c in changed)
    assert any("keypoint control" in u and "no keypoint" in u for u in unused)
    assert any(u.startswith("fps 12") for u in unused)
    assert out["offload"] == ["offload_guardrail_models"]
    chosen = dict(values, guidance=5.5)
    out, changed, _ = switch_values(chosen, T1, T25, old_defaults=t1_defaults,
                                    new_defaults=new_defaults)
    assert out["guidance"] == 3 and any("5.5 → 3" in c and "whole number" in c for c in changed)


def test_switching_back_restores_transfer1s_defaults(tmp_path):
    values, _ = values_for(tmp_path, T25)
    t1 = T1.defaults(load_config(write_config(tmp_path)).generation)
    out, changed, _ = switch_values(values, T25, T1, old_defaults=T25.defaults(None),
                                    new_defaults=t1)
    assert (out["guidance"], out["seed"], out["sigma_max"]) == (5.0, 1, 70.0)
    assert any("sigma max empty → 70" in c for c in changed)


def test_component_looks_follow_the_profile():
    looks = component_looks(T25)
    assert not looks["weight.keypoint"]["visible"] and not looks["fps"]["visible"]
    assert looks["mask.edge"]["visible"] and not looks["ckpt.edge"]["visible"]
    assert looks["num_gpus"]["choices"] == [1, 2, 3, 4, 6, 8]
    assert looks["guidance"]["maximum"] == 7 and looks["extra.resolution"]["visible"]
    t1 = component_looks(T1)
    assert t1["weight.keypoint"]["visible"] and t1["ckpt.seg"]["visible"]
    assert t1["weight_prompt"]["visible"] and not t1["mask.edge"]["visible"]


def test_form_values_read_only_the_models_fields():
    values = {"model": "transfer2.5", "prompt": "p", "negative_prompt": "n", "fps": 24,
              "weight.edge": 1.0, "weight.keypoint": 0.6, "guidance": 3.0, "sigma_max": None,
              "mask_prompt.edge": " arm ", "ckpt.edge": "hidden.pt", "extra.max_frames": 50,
              "extra.resolution": "480", "offload": ["offload_guardrail_models"]}
    p = params_from_values(values, host_offload=("offload_guardrail_models",))
    assert p.model == "transfer2.5" and p.fps is None and p.weights == {
        "edge": 1.0, "vis": 0.0, "depth": 0.0, "seg": 0.0}
    assert p.control_options == {"edge": {"mask_prompt": "arm"}} and p.guidance == 3
    assert p.extra == {"max_frames": 50, "resolution": "480"} and p.offload is None
    p = params_from_values(dict(values, offload=[]), host_offload=("offload_guardrail_models",))
    assert p.offload == []


def test_regional_prompt_lines():
    assert parse_regions("red dress @ 0,0,0.5,1\nblue @ woman on the right\n\n"
                         "lift @ /h/forklift.mp4\nno region") == [
        {"prompt": "red dress", "box": [0.0, 0.0, 0.5, 1.0]},
        {"prompt": "blue", "mask_prompt": "woman on the right"},
        {"prompt": "lift", "mask_video": "/h/forklift.mp4"}, {"prompt": "no region"}]


def test_the_spec_preview_is_the_models_own():
    p = T25.defaults(None)
    p.prompt, p.input_video = "a street", "/home/me/in.mov"
    spec = json.loads(spec_preview(p, 29.97))
    assert spec["video_path"] == "/cosmos/runs/<run id>/inputs/input.mov"
    assert spec["guidance"] == 3 and "fps" not in spec and spec["name"] == "<run id>"
    assert "not a valid spec yet" in spec_preview(GenerationParams(
        prompt="p", negative_prompt="n", model="cosmos9"), None)


# -- generic code asks the profile --------------------------------------------------------------
GENERIC = ["backend/runs", "backend/operations", "backend/cli", "backend/hosts",
           "backend/slurm", "backend/sweeps", "components", "cosmos_ui"]


def test_generic_code_never_names_a_model():
    """String constants naming a model (docstrings and help texts aside) would be a branch
    on a model's name, or a message true of one model only; profiles are looked up by the id
    a run or form carries, and their facts (image, repository, downloads) come from them."""
    names = re.compile(r"transfer[ _-]?(1|2)|cosmos[ _-]?3|cosmos_framework", re.I)
    offenders = []
    for folder in GENERIC:
        for path in sorted((ROOT / folder).rglob("*.py")):
            tree = ast.parse(path.read_text())
            docs = {id(n.body[0].value) for n in ast.walk(tree)
                    if isinstance(n, (ast.Module, ast.FunctionDef, ast.ClassDef,
                                      ast.AsyncFunctionDef))
                    and n.body and isinstance(n.body[0], ast.Expr)
                    and isinstance(n.body[0].value, ast.Constant)}
            helps = {id(c) for n in ast.walk(tree) if isinstance(n, ast.keyword)
                     and n.arg in ("help", "info", "description") for c in ast.walk(n.value)}
            helps |= {id(c) for n in ast.walk(tree) if isinstance(n, ast.Call)
                      and getattr(n.func, "attr", "") == "add_argument_group"
                      for a in n.args for c in ast.walk(a)}
            for node in ast.walk(tree):
                if isinstance(node, ast.Constant) and isinstance(node.value, str) \
                        and id(node) not in docs | helps and names.search(node.value):
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.value!r}")
            for node in ast.walk(tree):
                if isinstance(node, ast.ImportFrom) and node.module and (
                        "transfer1" in node.module or "transfer2_5" in node.module):
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} imports "
                                     f"{node.module}")
    assert offenders == []


# -- the plan before launch (issue 14) ------------------------------------------------------
@pytest.mark.parametrize("model,frames,chunks,seams", [
    ("transfer1", 121, 1, []),             # one 121-frame clip
    ("transfer1", 300, 3, [120, 240]),     # 121-frame clips overlapping by 1: +120 each
    ("transfer2.5", 121, 2, [92]),         # 93-frame chunks overlapping by 1: +92 each
    ("transfer2.5", 300, 4, [92, 184, 276]),
    ("cosmos3", 121, 2, [92]),             # its default: 93-frame chunks, 1 conditional
    ("cosmos3", 300, 4, [92, 184, 276]),
])
def test_the_plan_counts_chunks_and_places_seams_per_profile(model, frames, chunks, seams):
    from backend.models.params import GenerationParams
    from backend.models.profile import get_profile, output_plan, plan_text

    profile = get_profile(model)
    params = GenerationParams(prompt="p", negative_prompt="n", model=model)
    plan = output_plan(profile, params, width=1280, height=704, frames=frames, fps=24.0)
    assert (plan["width"], plan["height"], plan["frames"], plan["fps"]) == (1280, 704, frames,
                                                                             24.0)
    assert plan["chunks"] == chunks
    assert [s["frame"] for s in plan["seams"]] == seams
    assert [s["seconds"] for s in plan["seams"]] == [round(f / 24, 3) for f in seams]
    assert plan["eta_is_default"] and "default" in plan["eta_source"]
    learned = output_plan(profile, params, width=1280, height=704, frames=frames, fps=24.0,
                          history=[50.0, 60.0, 400.0])
    assert learned["eta_seconds"] == 60.0 * chunks and not learned["eta_is_default"]
    assert "3 finished runs" in learned["eta_source"]
    assert f"{chunks} chunk" in plan_text(plan) and "1280x704" in plan_text(plan)


def test_the_plan_follows_the_requests_own_chunking_and_frame_limit():
    from backend.models.params import GenerationParams
    from backend.models.profile import get_profile, output_plan

    c3 = GenerationParams(prompt="p", negative_prompt="n", model="cosmos3",
                          extra={"chunk_frames": 61, "conditional_frames": 2})
    assert get_profile("cosmos3").plan_chunks(c3, 121) == (3, [59, 118])  # 1 + ceil(60/59)
    t25 = GenerationParams(prompt="p", negative_prompt="n", model="transfer2.5", extra={"max_frames": 93}, fps=12)
    plan = output_plan(get_profile("transfer2.5"), t25, width=640, height=360, frames=300,
                       fps=24.0)
    assert (plan["frames"], plan["fps"], plan["chunks"]) == (93, 12.0, 1)
