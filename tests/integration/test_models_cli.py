"""Model profiles from the terminal: `cosmos models`, `--model` on run, create, enhance,
upscale and --dry-run, a Transfer2.5 run and a Transfer2.5 batch waited for on the simulator
box, and the VRAM pre-flight refusing a box whose GPUs are too small."""

from __future__ import annotations

import json

import pytest

from tests.helpers import SAMPLE, write_config
from tests.integration.test_cli import RUN_KEYS, Cli, wait_status

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def cli(tmp_path_factory) -> Cli:
    tmp = tmp_path_factory.mktemp("models-cli")
    small = tmp / "small"
    # a second simulated box whose simulated GPUs have 24 GB (COSMOS_SIM_GPU_MEMORY_MIB)
    extra = (f'[hosts.small]\nkind = "local"\ndocker = "cosmos-sim --root {small}/engine"\n'
             f'gpu_query = "env COSMOS_SIM_GPU_MEMORY_MIB=24576 cosmos-sim --root '
             f'{small}/engine nvidia-smi"\nremote_root = "{small}"\ngpus = [0, 1]\n'
             'simulated = true\nsame_paths_in_container = true\n'
             'env = { COSMOS_SIM_SECONDS = "1" }\n')
    config = write_config(tmp, sim_seconds=1, extra_host=extra)
    text = config.read_text().replace("[scheduler]", "[scheduler]\nbatching = true")
    config.write_text(text)
    return Cli(config)


def test_models_lists_the_profiles_and_who_serves_them(cli: Cli):
    models = {m["id"]: m for m in cli.json("models")["models"]}
    assert list(models) == ["transfer1", "transfer2.5", "cosmos3"]
    t25 = models["transfer2.5"]
    assert t25["hosts"] == ["sim", "small"] and t25["default"] is False
    assert t25["gpu_counts"] == [1, 2, 3, 4, 6, 8] and t25["run_types"] == ["inference"]
    fields = {f["name"]: f for f in t25["fields"]}
    assert (fields["guidance"]["kind"], fields["guidance"]["maximum"]) == ("integer", 7)
    assert "fps" not in fields and models["transfer1"]["default"] is True
    text = cli("models", "transfer2.5")
    assert text.returncode == 0 and "offload flags: offload_guardrail_models" in text.stdout
    assert cli("models", "cosmos9").returncode == 3


def test_dry_run_keeps_its_shape_and_adds_the_model_and_spec_files(cli: Cli):
    plan = cli.json("run", "a neon street", "--model", "transfer2.5", "--input", str(SAMPLE),
                    "--weight", "edge=0.8", "--weight", "seg=0.5", "--mask-prompt",
                    "seg=car . road", "--guidance", "4", "--resolution", "480",
                    "--dry-run")["dry_run"]
    assert plan["model"] == "transfer2.5"
    assert {"argv", "job_script", "spec", "spec_files", "command"} <= set(plan)
    spec = plan["spec"]
    assert spec["guidance"] == 4 and spec["resolution"] == "480" and spec["name"] == plan["run_id"]
    assert spec["seg"]["mask_prompt"] == "car . road" and "fps" not in spec
    assert list(plan["spec_files"]) == ["spec.json"]
    assert json.loads(plan["spec_files"]["spec.json"]) == spec
    assert "examples/inference.py" in plan["job_script"] and "COSMOS_VERBOSE=1" in plan["job_script"]
    assert "neon" not in " ".join(plan["argv"]) and "neon" not in plan["job_script"]
    batch = cli.json("run", "a neon street", "--model", "transfer2.5", "--input", str(SAMPLE),
                     "--batch-with", str(SAMPLE), "--dry-run")["dry_run"]
    assert list(batch["spec_files"]) == ["batch.jsonl"] and len(batch["batch_runs"]) == 2
    lines = [json.loads(x) for x in batch["spec_files"]["batch.jsonl"].splitlines()]
    assert [x["name"] for x in lines] == batch["batch_runs"]
    t1 = cli.json("run", "x", "--input", str(SAMPLE), "--batch-size", "2", "--batch-with",
                  str(SAMPLE), "--dry-run")["dry_run"]
    assert set(t1["spec_files"]) == {"spec.json", "batch.jsonl"} and t1["model"] == "transfer1"
    assert "--batch_size" in t1["job_script"]


def test_options_reach_the_spec_from_the_command_line(cli: Cli, tmp_path):
    weights = tmp_path / "edge_weights.pt"
    weights.write_bytes(b"not really a tensor")
    refused = cli("run", "x", "--input", str(SAMPLE), "--weight", "edge=1", "--weight",
                  "seg=0.5", "--region-box", "0,0,0.5,1=red dress", "--variant", "distilled",
                  "--dry-run")
    assert refused.returncode == 2  # distilled: one control, no regional prompts
    assert "exactly one control" in refused.stderr and "drops regional prompts" in refused.stderr
    plan = cli.json("run", "x", "--input", str(SAMPLE), "--weight", "edge=1", "--weight",
                    "seg=0.5", "--weight-map", f"edge={weights}", "--weight-prompt", "arms",
                    "--ckpt", "seg=post/seg.pt", "--region-box", "0,0,0.5,1=red dress",
                    "--region-prompt", "woman on the right=blue dress", "--offload",
                    "offload_diffusion_transformer", "--dry-run")["dry_run"]
    spec = plan["spec"]
    assert spec["edge"]["control_weight"].endswith("/inputs/edge_weights.pt")
    assert spec["seg"] == {"control_weight": 0.5, "control_weight_prompt": "arms",
                           "ckpt_path": "post/seg.pt"}
    assert spec["regional_prompts"][0]["region_definitions_path"] == [0.0, 0.0, 0.5, 1.0]
    assert spec["regional_prompts"][1]["mask_prompt"] == "woman on the right"
    assert "--offload_diffusion_transformer" in plan["job_script"]
    assert "--offload_text_encoder_model" not in plan["job_script"]  # the run's own choice
    bad = cli("run", "x", "--input", str(SAMPLE), "--model", "transfer2.5", "--fps", "24",
              "--ckpt", "edge=x.pt")
    assert bad.returncode == 2
    assert "no fps setting" in bad.stderr and "control_options.edge.ckpt_path" in bad.stderr


def test_a_transfer25_run_and_batch_complete_and_show_their_model(cli: Cli):
    result = cli("run", "a rainy street", "--model", "transfer2.5", "--input", str(SAMPLE),
                 "--weight", "edge=1", "--weight", "depth=0.4", "--wait", "--json", timeout=180)
    assert result.returncode == 0, result.stderr[-3000:]
    run = json.loads(result.stdout)["run"]
    assert set(run) == RUN_KEYS and run["model"] == "transfer2.5" and run["status"] == "completed"
    shown = cli.json("show", run["id"])["run"]
    assert shown["model"] == "transfer2.5" and shown["recipe"]["name"] == run["id"]
    assert shown["recipe"]["seed"] == 2025  # the resolved arguments the model used
    files = {f["role"] for f in shown["outputs"]["model_files"]}
    assert files == {"control.edge", "control.depth"}
    text = cli("show", run["id"])
    assert "model      transfer2.5" in text.stdout and "_control_depth.mp4" in text.stdout
    # a batch (the config batches): queued first, then one worker takes them as one job
    ids = [cli.json("run", f"street {i}", "--model", "transfer2.5", "--input", str(SAMPLE),
                    "--seed", str(i), "--weight", "edge=0.5")["run"]["id"] for i in range(2)]
    other_set = cli.json("run", "street depth", "--model", "transfer2.5", "--input",
                         str(SAMPLE), "--weight", "depth=1")["run"]["id"]
    worker = cli.start("worker")
    try:
        ended = [wait_status(cli, i, ("completed", "failed", "blocked"), timeout=180)
                 for i in ids + [other_set]]
    finally:
        worker.terminate()
        worker.wait(30)
    assert [r["status"] for r in ended] == ["completed"] * 3, ended
    details = [cli.json("show", i)["run"] for i in ids + [other_set]]
    notes = [" ".join(h["note"] for h in d["status_history"]) for d in details]
    assert "item 0 of 2" in notes[0] and "item 1 of 2" in notes[1]  # one job, two samples
    assert "of 2" not in notes[2]  # another set of controls: its own job (no multicontrol)
    assert details[0]["spec"] != details[1]["spec"]  # each keeps its own sample
    details = details[:2]
    assert all(d["recipe"]["seed"] == s for d, s in zip(details, (0, 1)))
    assert len({d["outputs"]["video"] for d in details}) == 2


def test_the_vram_preflight_refuses_before_anything_is_queued(cli: Cli):
    worker = cli.start("worker")  # its host monitor looks at the small box's GPUs
    try:
        from tests.helpers import wait_for

        refused = wait_for(lambda: (r := cli("run", "x", "--model", "transfer2.5", "--input",
                                             str(SAMPLE), "--host", "small")).returncode == 2
                           and r, timeout=60, interval=1, what="the small box's GPUs")
    finally:
        worker.terminate()
        worker.wait(30)
    assert "small cannot hold Cosmos-Transfer2.5-2B" in refused.stderr
    assert "at most 24.0 GB" in refused.stderr
    assert not [r for r in cli.json("list", "runs", "--host", "small")["runs"]]


def test_a_cosmos3_text2video_from_the_terminal_records_its_guardrails(cli: Cli):
    refused = cli("run", "a coast road", "--model", "cosmos3", "--setting",
                  "checkpoint=Cosmos3-Super", "--setting", "mode=text2video")
    assert refused.returncode != 0 and "needs 4 or more 80 GB GPUs" in refused.stderr
    done = cli("run", "a coast road", "--model", "cosmos3", "--setting", "mode=text2video",
               "--setting", "num_frames=25", "--setting", "resolution=256",
               "--setting", "guardrails=off", "--steps", "4", "--wait")
    assert done.returncode == 0, done.stdout + done.stderr
    run_id = done.stdout.strip().splitlines()[-1].split()[0]
    run = cli.json("show", run_id)["run"]
    assert run["model"] == "cosmos3" and run["status"] == "completed"
    assert run["guardrails"] is False and "--no-guardrails" in run["job_script"]
    assert run["spec"]["model_mode"] == "text2video" and "vision_path" not in run["spec"]
    assert run["recipe"]["num_frames"] == 25
