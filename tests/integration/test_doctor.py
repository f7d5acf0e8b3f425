"""`cosmos doctor` on real boxes: a fresh simulator box passes; a missing checkpoint, a missing
image and an unreachable host are each reported with the cause and the fix, and exit 1.

The "missing image" host is the simulator behind a tiny docker wrapper that answers
`image inspect` for its image the way docker does when the image is not there.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import ROOT, free_port, write_config

pytestmark = pytest.mark.integration

#: the simulator box serves every model: Transfer2.5's and Cosmos 3's image, stand-in and
#: checkpoints too
CHECKS = ["shell", "docker", "image", "gpu_runtime", "remote_root", "checkout", "checkpoints",
          "image (transfer2.5)", "checkout (transfer2.5)", "checkpoints (transfer2.5)",
          "image (cosmos3)", "checkout (cosmos3)", "checkpoints (cosmos3)", "manifest",
          "manifest (transfer2.5)", "manifest (cosmos3)", "hf_token", "hf_cache", "disk", "gpus",
          "vram"]
MISSING_IMAGE = "studio/cosmos-transfer1:missing"


def doctor(config: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT), COSMOS_SSH_CONFIG=str(config.parent / "none"))
    env.pop("SSH_AUTH_SOCK", None)
    return subprocess.run([sys.executable, "-m", "backend.cli", "--config", str(config),
                           "doctor", *args], cwd=str(ROOT), env=env, text=True,
                          capture_output=True, timeout=120)


def checks_of(report: dict, host: str) -> dict[str, dict]:
    entry = next(h for h in report["hosts"] if h["host"] == host)
    return {c["name"]: c for c in entry["checks"]}


def test_fresh_sim_box_passes_and_a_deleted_checkpoint_fails(tmp_path):
    config = write_config(tmp_path)
    result = doctor(config, "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert report["ok"] is True and [h["host"] for h in report["hosts"]] == ["sim"]
    host = report["hosts"][0]
    assert set(host) == {"host", "kind", "simulated", "status", "ok", "checks"}
    assert [c["name"] for c in host["checks"]] == CHECKS
    assert all(set(c) == {"name", "status", "finding", "fix", "details"} for c in host["checks"])
    assert all(c["status"] in ("ok", "warn") for c in host["checks"]), host
    checks = checks_of(report, "sim")
    assert checks["checkout"]["details"]["installed"] is True  # stand-in installed first
    assert checks["image"]["details"]["id"].startswith("sha256:")
    assert checks["checkpoints"]["details"]["missing"] == []
    assert [g["index"] for g in checks["gpus"]["details"]["gpus"] if g["configured"]] == \
        [0, 1, 2, 3]
    assert checks["disk"]["details"]["free_gb"] > 0

    checkout = Path(checks["checkout"]["details"]["path"])
    (checkout / "checkpoints/nvidia/Cosmos-Transfer1-7B/edge_control.pt").unlink()
    result = doctor(config, "--json")
    assert result.returncode == 1
    report = json.loads(result.stdout)
    checks = checks_of(report, "sim")
    assert report["ok"] is False and report["hosts"][0]["status"] == "fail"
    assert checks["checkout"]["details"]["installed"] is False  # left as it is
    ckpt = checks["checkpoints"]
    assert ckpt["status"] == "fail" and "edge_control.pt (edge)" in ckpt["finding"]
    assert ckpt["details"]["missing"] == ["nvidia/Cosmos-Transfer1-7B/edge_control.pt"]
    assert ckpt["fix"]
    assert all(c["status"] != "fail" for n, c in checks.items() if n != "checkpoints")

    text = doctor(config)
    assert text.returncode == 1
    assert "FAIL  checkpoints" in text.stdout and "edge_control.pt" in text.stdout
    assert "fix: " in text.stdout and "GPU 3: Simulated" in text.stdout


def test_missing_image_and_unreachable_host_fail_with_the_cause(tmp_path):
    wrapper = tmp_path / "docker-without-image"
    wrapper.write_text(f"""#!/bin/sh
# The simulator as docker, except that {MISSING_IMAGE} was never pulled on this box.
case " $* " in
  *" inspect "*" {MISSING_IMAGE} "*)
    echo "Error: No such image: {MISSING_IMAGE}" >&2
    exit 1;;
esac
exec {sys.executable} -m backend.simulator.engine "$@"
""")
    wrapper.chmod(0o755)
    extra = f"""
[hosts.bare]
kind = "local"
docker = "{wrapper} --root {{remote_root}}/engine"
gpu_query = "{sys.executable} -m backend.simulator.engine --root {{remote_root}}/engine nvidia-smi"
remote_root = "{{data_dir}}/bare-box"
image = "{MISSING_IMAGE}"
gpus = [0, 1]
simulated = true
same_paths_in_container = true

[hosts.down]
kind = "ssh"
hostname = "127.0.0.1"
port = {free_port()}
user = "nobody"
remote_root = "/srv/cosmos"
"""
    config = write_config(tmp_path, extra_host=extra)
    result = doctor(config, "--host", "bare", "--json")
    assert result.returncode == 1, result.stdout + result.stderr
    report = json.loads(result.stdout)
    checks = checks_of(report, "bare")
    assert checks["docker"]["status"] == "ok"
    image = checks["image"]
    assert image["status"] == "fail"
    assert f"No such image: {MISSING_IMAGE}" in image["finding"]
    assert MISSING_IMAGE in image["fix"] and "pull" in image["fix"]
    # how to build it is the model's own (its profile's), not a fixed text
    from backend.models.profile import get_profile

    assert get_profile("transfer1").image.build in image["fix"]
    assert checks["checkpoints"]["status"] == "ok"  # the rest is still checked

    result = doctor(config, "--json")  # every host, in parallel
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert [(h["host"], h["ok"]) for h in report["hosts"]] == \
        [("sim", True), ("bare", False), ("down", False)]
    down = report["hosts"][2]["checks"]
    assert [c["name"] for c in down] == ["shell"] and down[0]["status"] == "fail"
    assert "cannot reach nobody@127.0.0.1" in down[0]["finding"] and "ssh" in down[0]["fix"]


def test_a_cosmos3_box_is_told_its_checkout_image_and_missing_checkpoints(tmp_path):
    hf = tmp_path / "hf"
    (hf / "hub/models--nvidia--Cosmos3-Nano/snapshots/abc123").mkdir(parents=True)
    (hf / "hub/models--nvidia--Cosmos3-Edge/snapshots/def456").mkdir(parents=True)
    extra = f"""
[hosts.c3]
kind = "local"
models = ["cosmos3"]
docker = "{sys.executable} -m backend.simulator.engine --root {{remote_root}}/engine"
gpu_query = "{sys.executable} -m backend.simulator.engine --root {{remote_root}}/engine nvidia-smi"
remote_root = "{{data_dir}}/c3-box"
hf_home = "{hf}"
gpus = [0]
"""
    result = doctor(write_config(tmp_path, extra_host=extra), "--host", "c3", "--json")
    assert result.returncode == 1, result.stdout + result.stderr
    checks = checks_of(json.loads(result.stdout), "c3")
    checkout = checks["checkout"]
    assert checkout["status"] == "fail" and "cosmos_framework/scripts/inference.py" in \
        checkout["finding"] and "git clone https://github.com/NVIDIA/cosmos-framework" in \
        checkout["fix"]
    assert "cosmos-framework:latest" in checks["image"]["finding"]  # the profile's image
    ckpt = checks["checkpoints"]
    assert ckpt["status"] == "warn" and "Cosmos3-Super (32B)" in ckpt["finding"]
    assert "Cosmos3-Nano" not in ckpt["finding"]
    assert f"HF_HOME={hf} hf download" in ckpt["fix"] and "nvidia/Cosmos3-Super" in ckpt["fix"]
