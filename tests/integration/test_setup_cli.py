"""`cosmos setup` and a reproducible run, as real subprocesses on the simulator box: setup
against the stand-in checkout and the local stand-in model store, then a run whose
`cosmos show --json` and MP4 metadata name its model, image digest, manifest and guardrails."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from backend import media
from tests.helpers import ROOT, RUN_FINISHES, SAMPLE, write_config

pytestmark = pytest.mark.integration


def cosmos(config, *args: str, timeout: float = RUN_FINISHES) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "backend.cli", "--config", str(config), *args],
                          cwd=str(ROOT), text=True, capture_output=True, timeout=timeout)


def test_setup_on_the_simulator_then_a_reproducible_run(tmp_path):
    config = write_config(tmp_path, sim_seconds=1)
    first = cosmos(config, "setup", "sim", "--wait")
    assert first.returncode == 0, first.stderr[-2000:]
    out = first.stdout
    assert "stand-in model store" in out and "fetched nvidia/Cosmos-Guardrail1/" in out
    assert "manifest m-" in out and out.rstrip().splitlines()[-1].startswith("ready: ")

    again = cosmos(config, "setup", "sim", "--model", "transfer1", "--wait", "--json")
    assert again.returncode == 0, again.stderr[-2000:]
    shown = json.loads(again.stdout)
    assert shown["run"]["type"] == "setup" and shown["run"]["status"] == "completed"
    [doc] = shown["manifests"]
    assert "reusing them all" in again.stderr and "fetching " not in again.stderr
    assert doc["model"] == "transfer1" and doc["image_digest"].startswith("sha256:")
    assert any(f["path"].startswith("google-t5/") for f in doc["checkpoints"])

    run = cosmos(config, "run", "a quiet harbour at dawn", "--input", str(SAMPLE), "--wait",
                 "--json")
    assert run.returncode == 0, run.stderr[-2000:]
    run_id = json.loads(run.stdout)["run"]["id"]
    detail = json.loads(cosmos(config, "show", run_id, "--json").stdout)["run"]
    assert detail["model"] == "transfer1"
    assert detail["image_digest"] == doc["image_digest"]
    assert detail["checkpoints_manifest"] == doc["id"]
    assert detail["guardrails"] is True
    embedded = media.read_embedded_settings(detail["output_path"])
    for key in ("model", "image_digest", "checkpoints_manifest", "guardrails"):
        assert embedded[key] == detail[key]


def test_setup_refuses_an_unknown_host_and_a_model_it_does_not_serve(tmp_path):
    config = write_config(tmp_path)
    missing = cosmos(config, "setup", "nosuchbox")
    assert missing.returncode == 3 and "nosuchbox" in missing.stderr
    wrong = cosmos(config, "setup", "sim", "--model", "nosuchmodel")
    assert wrong.returncode == 2 and "model: sim does not serve 'nosuchmodel'" in wrong.stderr


def test_prune_dry_run_and_delete_from_the_cli(tmp_path):
    config = write_config(tmp_path, sim_seconds=1)
    run = cosmos(config, "run", "a windmill", "--input", str(SAMPLE), "--wait", "--json")
    assert run.returncode == 0, run.stderr[-2000:]
    run_id = json.loads(run.stdout)["run"]["id"]
    dry = cosmos(config, "prune", "--dry-run", "--older-than", "0", "--json")
    assert dry.returncode == 0, dry.stderr
    [host] = json.loads(dry.stdout)["hosts"]
    assert [f["id"] for f in host["run_folders"]] == [run_id]
    box = tmp_path / "data" / "sim-box" / "runs" / run_id
    assert box.is_dir()  # a dry run removes nothing
    text = cosmos(config, "prune", "--dry-run", "--older-than", "0")
    assert f"would remove runs/{run_id}" in text.stdout

    refused = cosmos(config, "delete", run_id)  # stdin is not a terminal: --yes is needed
    assert refused.returncode == 2 and "--yes" in refused.stderr
    assert cosmos(config, "show", run_id).returncode == 0
    deleted = cosmos(config, "delete", run_id, "--yes", "--json")
    assert deleted.returncode == 0, deleted.stderr
    assert json.loads(deleted.stdout)["deleted"] == run_id
    assert cosmos(config, "show", run_id).returncode == 3
    assert not (tmp_path / "data" / "runs" / run_id).exists()


def test_hosts_overview_carries_doctor_and_the_gpu_query_error(tmp_path):
    from backend.config import load_config
    from backend.wiring import start_backend
    from tests.helpers import wait_for

    smi = tmp_path / "broken-nvidia-smi"
    smi.write_text("#!/bin/sh\necho 'NVIDIA-SMI has failed because it could not communicate "
                   "with the NVIDIA driver' >&2\nexit 9\n")
    smi.chmod(0o755)
    extra = f"""
[hosts.nodriver]
kind = "local"
docker = "{sys.executable} -m backend.simulator.engine --root {{remote_root}}/engine"
gpu_query = "{smi}"
remote_root = "{{data_dir}}/nodriver-box"
gpus = [0]
simulated = true
same_paths_in_container = true
models = ["transfer1"]
"""
    b = start_backend(load_config(write_config(tmp_path, extra_host=extra)))
    try:
        def box():
            return next(h for h in b.ops.hosts_overview() if h["name"] == "nodriver")

        wait_for(lambda: box()["doctor"] is not None, what="the monitor's first doctor")
        seen = box()
        assert seen["reachable"] is True and seen["gpus"] == []
        assert "could not communicate with the NVIDIA driver" in seen["gpu_error"]
        gpus = {c["name"]: c for c in seen["doctor"]["checks"]}["gpus"]
        assert gpus["status"] == "fail" and "NVIDIA driver" in gpus["finding"]
        first = seen["doctor"]["checked_at"]
        b.ops.recheck("nodriver")
        wait_for(lambda: box()["doctor"]["checked_at"] > first, what="the re-check")
    finally:
        b.close()
