"""The Hosts card's doctor section and GPU error (issue 15): pure HTML, no app."""

from __future__ import annotations

from components.hosts import host_card

FAILING = {"checked_at": 1000.0, "ok": False, "status": "fail", "checks": [
    {"name": "shell", "status": "ok", "finding": "reachable", "fix": "", "details": {}},
    {"name": "gpu_runtime", "status": "fail", "finding": "the engine cannot give containers "
     "GPUs", "fix": "sudo nvidia-ctk runtime configure --runtime=docker", "details": {}},
    {"name": "hf_token", "status": "warn", "finding": "no <token>", "fix": "set hf_token_file",
     "details": {}}]}


def card(**over) -> str:
    base = {"name": "gpu1", "kind": "ssh", "simulated": False, "reachable": True,
            "error": None, "gpus": [], "running": [], "queued": [], "orphans": []}
    base.update(over)
    return host_card(base)


def test_a_reachable_box_that_doctor_fails_is_not_green_and_lists_each_fix():
    html = card(doctor=FAILING)
    assert "reachable, doctor fails" in html and "host-up" not in html
    assert "1 failing, 1 warning" in html
    assert "gpu_runtime" in html and "sudo nvidia-ctk runtime configure" in html
    assert "no &lt;token&gt;" in html  # findings are escaped
    assert "shell:" not in html  # checks that pass are not listed
    assert "data-host-action='recheck'" in html and "data-host-action='setup'" in html


def test_a_passing_box_is_green_and_an_unchecked_one_says_so():
    passing = dict(FAILING, checks=[FAILING["checks"][0]])
    assert "host-up" in card(doctor=passing) and "all 1 checks pass" in card(doctor=passing)
    assert "Not checked yet." in card(doctor=None)


def test_a_reachable_box_whose_nvidia_smi_fails_shows_the_error():
    html = card(gpu_error="`nvidia-smi` failed: NVIDIA-SMI has failed because it couldn't "
                "communicate with the NVIDIA driver")
    assert "couldn&#x27;t communicate with the NVIDIA driver" in html or \
        "couldn't communicate with the NVIDIA driver" in html
    assert "No GPU readings (yet)" not in html
    assert "No GPU readings (yet)" in card()
