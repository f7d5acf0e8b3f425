"""Every `cosmos` verb as a real subprocess on the simulator box: exit codes and --json shapes.

The CLI runs as `python -m backend.cli` against a throwaway config; runs are executed by a real
`cosmos worker` subprocess or by the scheduler `run --wait` starts in its own process. Nothing
is mocked. The shapes asserted here are the ones docs/cli-json.md promises.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import (ROOT, RUN_FINISHES, RUN_STARTS, SAMPLE, STATE_CHANGES, wait_for,
                           write_config)

pytestmark = pytest.mark.integration

RUN_KEYS = {"id", "name", "type", "status", "host", "simulated", "prompt", "parent_id",
            "result_prompt_id", "created_at", "started_at", "finished_at", "exit_code",
            "failure_cause", "failure_evidence", "progress", "gpus", "output_path",
            "thumbnail_path", "cancel_requested", "rating", "ratings", "model",
            # issue 16: who launched it, its GPUs, why it waits, its real start, GPU time and
            # time in a cluster's queue, the Slurm job and node
            "owner", "gpu_count", "priority", "wait_reason", "ran_at", "queue_seconds",
            "gpu_seconds", "slurm_job_id", "node",
            # issue 15: what makes it reproducible (with the detail's guardrails)
            "image_digest", "checkpoints_manifest"}
DETAIL_KEYS = RUN_KEYS | {"prompt_id", "params", "spec", "command", "job_script",
                          "container_name", "container_id", "master_port", "log_lines",
                          "status_history", "outputs", "recipe", "notes", "guardrails",
                          # issue 18: the run's webhook delivery attempts
                          "webhooks"}
PROMPT_KEYS = {"id", "name", "text", "negative_prompt", "parent_id", "created_at", "runs"}


class Cli:
    def __init__(self, config: Path, env: dict[str, str | None] | None = None, *,
                 box_root: Path | None = None) -> None:
        self.config = config
        #: the sim box's remote_root, where a held run's release file goes
        self.box_root = box_root or config.parent / "data" / "sim-box"
        self.env = dict(os.environ, PYTHONPATH=str(ROOT))
        for name, value in dict({"COSMOS_CONFIG": None, "COSMOS_DATA_DIR": None},
                                **(env or {})).items():
            if value is None:
                self.env.pop(name, None)
            else:
                self.env[name] = value

    def argv(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "backend.cli", "--config", str(self.config), *args]

    def __call__(self, *args: str, timeout: float = 90) -> subprocess.CompletedProcess:
        return subprocess.run(self.argv(*args), cwd=str(ROOT), env=self.env, text=True,
                              capture_output=True, timeout=timeout)

    def json(self, *args: str, code: int = 0, timeout: float = 90) -> dict:
        result = self(*args, "--json", timeout=timeout)
        assert result.returncode == code, (args, result.returncode, result.stderr[-2000:])
        return json.loads(result.stdout)

    def start(self, *args: str) -> subprocess.Popen:
        return subprocess.Popen(self.argv(*args), cwd=str(ROOT), env=self.env, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def stop_worker(proc: subprocess.Popen) -> tuple[int, str]:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        _, err = proc.communicate(timeout=STATE_CHANGES)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
    return proc.returncode, err


@pytest.fixture(scope="module")
def cli(tmp_path_factory) -> Cli:
    tmp = tmp_path_factory.mktemp("cli")
    return Cli(write_config(tmp, sim_seconds=1, kill_grace=3))


@pytest.fixture
def worker(cli: Cli):
    proc = cli.start("worker")
    wait_for(lambda: cli.json("status")["workers"], what="the worker to register")
    yield proc
    code, err = stop_worker(proc)
    assert code == 0, err[-2000:]


def total_runs(cli: Cli) -> int:
    return cli.json("list", "runs")["total"]


def wait_status(cli: Cli, run_id: str, statuses: tuple[str, ...],
                timeout: float = RUN_FINISHES) -> dict:
    return wait_for(lambda: (r := cli.json("show", run_id)["run"])["status"] in statuses and r,
                    timeout=timeout, interval=0.3, what=f"run {run_id} to be {statuses}")


# -- no worker needed ---------------------------------------------------------------------------
def test_create_prompt_show_list_and_dry_run_from_it(cli: Cli):
    prompt = cli.json("create", "prompt", "a lighthouse in a storm", "--name", "lighthouse",
                      "--negative", "blurry")["prompt"]
    assert set(prompt) == PROMPT_KEYS
    assert (prompt["text"], prompt["negative_prompt"], prompt["runs"]) == \
        ("a lighthouse in a storm", "blurry", 0)
    assert cli.json("show", prompt["id"]) == {"prompt": prompt}
    listed = cli.json("list", "prompts", "--limit", "5")
    assert prompt["id"] in [p["id"] for p in listed["prompts"]] and listed["total"] >= 1
    text = cli("list", "prompts")
    assert text.returncode == 0 and "lighthouse" in text.stdout

    before = total_runs(cli), listed["total"]
    plan = cli.json("run", "--prompt-id", prompt["id"], "--input", str(SAMPLE), "--weight",
                    "edge=0.6", "--seed", "7", "--dry-run")["dry_run"]
    assert " run -d " in plan["command"]  # the box's docker command, local or over SSH
    assert f"cosmos.run={plan['run_id']}" in plan["command"]
    assert f"--name cosmos-{plan['run_id']}" in plan["command"]
    assert "lighthouse" not in plan["command"] and "lighthouse" not in plan["job_script"]
    assert plan["spec"]["prompt"] == "a lighthouse in a storm"
    assert plan["spec"]["negative_prompt"] == "blurry"
    assert plan["spec"]["edge"] == {"control_weight": 0.6} and plan["spec"]["seed"] == 7
    assert plan["spec"]["input_video_path"].endswith(f"runs/{plan['run_id']}/inputs/input.mp4")
    assert json.loads(plan["spec_json"]) == plan["spec"]
    assert "torchrun" in plan["job_script"] and plan["files"]["spec"] in plan["job_script"]
    # the plan before launch: what it makes (the sample: 121 frames at 24 fps: one clip)
    p = plan["plan"]
    assert (p["frames"], p["fps"], p["chunks"], p["seams"]) == (121, 24.0, 1, [])
    assert p["width"] and p["height"] and p["eta_seconds"] > 0 and p["eta_source"]
    # the text form prints the same three things
    shown = cli("run", "a lighthouse in a storm", "--input", str(SAMPLE), "--dry-run")
    assert shown.returncode == 0, shown.stderr
    assert "# docker command" in shown.stdout and "# job script" in shown.stdout
    assert "# plan: " in shown.stdout and "121 frames at 24 fps; 1 chunk" in shown.stdout
    assert "--label cosmos.run=" in shown.stdout and '"prompt": "a lighthouse in a storm"' in \
        shown.stdout
    # and nothing was queued or stored
    assert (total_runs(cli), cli.json("list", "prompts")["total"]) == before


def test_usage_validation_and_not_found_exit_codes(cli: Cli):
    before = total_runs(cli)
    cases = [
        (("run", "   ", "--input", str(SAMPLE)), 2, "prompt:"),
        (("run", "x", "--input", str(SAMPLE), "--weight", "edge=1.5"), 2, "weights.edge"),
        (("run", "x", "--input", str(SAMPLE), "--weight", "edge"), 2, "CONTROL=VALUE"),
        (("run", "x", "--input", "/nonexistent/clip.mp4"), 2, "no such file"),
        (("run", "x", "--input", str(SAMPLE), "--gpus", "3"), 2, "use 1, 2, 4 or 8"),
        (("run", "x", "--input", str(SAMPLE), "--model", "transfer2.5", "--gpus", "5"), 2,
         "use 1, 2, 3, 4, 6 or 8"),
        (("run", "x", "--input", str(SAMPLE), "--model", "cosmos9"), 2, "no such model"),
        (("run", "x", "--input", str(SAMPLE), "--steps", "0"), 2, "num_steps"),
        (("run", "--input", str(SAMPLE)), 2, "prompt text"),
        (("run", "x", "--input", str(SAMPLE), "--host", "nowhere"), 2, "Unknown host"),
        (("run", "--prompt-id", "01zzzzzzzzzzzzzzzzzzzzzzzz", "--input", str(SAMPLE)), 3,
         "no prompt"),
        (("show", "01zzzzzzzzzzzzzzzzzzzzzzzz"), 3, "no run or prompt"),
        (("kill", "01zzzzzzzzzzzzzzzzzzzzzzzz"), 3, "no run"),
        (("dequeue", "01zzzzzzzzzzzzzzzzzzzzzzzz"), 3, "no run"),
        (("upscale", "01zzzzzzzzzzzzzzzzzzzzzzzz"), 3, "no run"),
        (("status", "--stream", "01zzzzzzzzzzzzzzzzzzzzzzzz"), 3, "no run"),
        (("doctor", "--host", "nowhere"), 3, "no host nowhere"),
        (("list", "prompts", "--status", "failed"), 2, "filter runs"),
        (("list", "jobs"), 2, "invalid choice"),
        (("user", "add", "bob"), 2, "--password-stdin"),  # no terminal to ask on
        (("user", "add", "bad name!", "--password-stdin"), 2, "letters, digits"),
        (("user", "remove", "nobody"), 2, "no user named nobody"),
        (("ui", "--share"), 2, "no user exists yet"),
        ((), 2, "usage"),
    ]
    for args, code, words in cases:
        result = cli(*args)
        assert result.returncode == code, (args, result.returncode, result.stderr)
        assert words.lower() in result.stderr.lower(), (args, result.stderr)
        assert result.stdout.strip() == "" or args == (), (args, result.stdout)
    bad_config = Cli(cli.config.with_name("missing.toml"))("list", "runs")
    assert bad_config.returncode == 2 and "config file not found" in bad_config.stderr
    assert total_runs(cli) == before


def test_run_wait_completes_and_show_list_search_tell_everything(cli: Cli):
    # held at its first sampling step ([sim:hold]) until the store says it is diffusing, so
    # the progress lines can be checked for that phase however briefly a loaded machine
    # would have shown it
    prompt = "a sunlit street, photorealistic [sim:hold]"
    dry = cli.json("run", prompt, "--input", str(SAMPLE), "--weight",
                   "edge=0.7", "--weight", "vis=0.3", "--dry-run")["dry_run"]
    proc = cli.start("run", prompt, "--input", str(SAMPLE), "--weight",
                     "edge=0.7", "--weight", "vis=0.3", "--name", "street", "--wait", "--json")
    try:
        held = wait_for(lambda: [r for r in cli.json("list", "runs", "--status", "running")["runs"]
                                 if r["name"] == "street"
                                 and (r.get("progress") or {}).get("phase") == "clip_diffuse"],
                        timeout=RUN_FINISHES, what="the run to be diffusing")
        (cli.box_root / "runs" / held[0]["id"] / "outputs" / "sim-release").touch()
        stdout, stderr = proc.communicate(timeout=RUN_FINISHES)
    finally:
        if proc.poll() is None:
            proc.kill()
    result = subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout)
    run = out["run"]
    assert set(out) == {"run", "upscale"} and out["upscale"] is None
    assert set(run) == RUN_KEYS and run["status"] == "completed" and run["simulated"]
    assert run["owner"] == dry["owner"] and run["owner"]  # the CLI's user, in both
    assert run["gpu_seconds"] > 0 and run["queue_seconds"] is None
    assert Path(run["output_path"]).stat().st_size > 0
    # progress went to stderr as plain lines (not a TTY), with the phase and a percentage
    progress = [line for line in result.stderr.splitlines() if line.startswith(run["id"])]
    assert any("diffusing" in line for line in progress) and any("100%" in line
                                                                  for line in progress)
    assert f"run {run['id']} completed" in result.stderr

    shown = cli.json("show", run["id"][:20])["run"]
    assert set(shown) == DETAIL_KEYS
    assert [h["status"] for h in shown["status_history"]] == \
        ["queued", "staging", "running", "collecting", "completed"]
    assert shown["spec"]["prompt"] == prompt
    assert shown["params"]["weights"]["vis"] == 0.3 and shown["failure_cause"] is None
    assert f"cosmos.run={run['id']}" in shown["command"] and "sunlit" not in shown["command"]
    assert Path(shown["outputs"]["video"]).exists() and Path(shown["outputs"]["log"]).exists()
    assert shown["outputs"]["info"]["width"] == 1280 and shown["log_lines"] > 5
    # the dry run printed exactly what the executor then used, up to the ids and port
    real, fake = run["id"], dry["run_id"]
    assert shown["command"] == dry["command"].replace(fake, real)
    assert shown["job_script"] == dry["job_script"].replace(fake, real).replace(
        f"--master_port={dry['master_port']}", f"--master_port={shown['master_port']}")
    assert json.dumps(shown["spec"]) == json.dumps(dry["spec"]).replace(fake, real)

    text = cli("show", run["id"], "--log", "3")
    assert text.returncode == 0 and "completed" in text.stdout and "Saved" in text.stdout
    listed = cli.json("list", "runs", "--status", "completed", "--type", "inference", "--host",
                      "sim", "--limit", "5")
    assert run["id"] in [r["id"] for r in listed["runs"]]
    assert all(set(r) == RUN_KEYS for r in listed["runs"])
    assert run["id"] not in [r["id"] for r in cli.json("list", "runs", "--status",
                                                       "failed")["runs"]]
    found = cli.json("search", "sunlit")
    assert set(found) == {"runs", "total_runs", "prompts", "total_prompts"}
    assert [r["id"] for r in found["runs"]] == [run["id"]] and found["total_runs"] == 1
    assert found["prompts"][0]["text"] == prompt
    assert cli.json("search", "nothingmatchesthis")["total_runs"] == 0
    # the scheduler `run --wait` started in its process is gone with it
    assert cli.json("status")["workers"] == []

    # upscale the result: queued (no worker now), then taken out of the queue again
    up = cli.json("upscale", run["id"], "--weight", "0.4")["run"]
    assert (up["type"], up["status"], up["parent_id"]) == ("upscale", "queued", run["id"])
    assert cli.json("dequeue", up["id"])["run"]["status"] == "cancelled"


def test_run_wait_of_an_oom_prompt_exits_1_with_the_cause_on_stderr(cli: Cli):
    result = cli("run", "a street [sim:oom]", "--input", str(SAMPLE), "--wait")
    assert result.returncode == 1, result.stderr[-2000:]
    assert "failed: CUDA out of memory" in result.stderr
    assert "evidence:" in result.stderr
    run_id = result.stdout.strip()
    run = cli.json("show", run_id)["run"]
    assert run["status"] == "failed" and "out of memory" in run["failure_cause"].lower()


# -- with a `cosmos worker` -------------------------------------------------------------------
def test_queue_dequeue_kill_stream_and_status_with_a_worker(cli: Cli):
    waiting = cli("run", "waiting its turn", "--input", str(SAMPLE))
    assert waiting.returncode == 0 and "no worker is running" in waiting.stderr
    queued = waiting.stdout.strip()
    refused = cli("kill", queued)
    assert refused.returncode == 1 and "dequeue it instead" in refused.stderr
    assert cli.json("dequeue", queued)["run"]["status"] == "cancelled"
    again = cli("dequeue", queued)
    assert again.returncode == 1 and "not queued" in again.stderr

    proc = cli.start("worker")
    try:
        status = wait_for(lambda: (s := cli.json("status"))["workers"] and s)
        assert set(status) == {"workers", "counts", "running", "queued", "hosts"}
        assert set(status["workers"][0]) == {"id", "pid", "hostname", "started_at",
                                             "heartbeat_at"}
        assert status["workers"][0]["pid"] == proc.pid
        assert set(status["hosts"][0]) == {"name", "simulated", "gpus", "busy_gpus",
                                           "max_concurrent", "running", "queued",
                                           "busy_count", "taken_by_others"}

        hung = cli.json("run", "stuck forever [sim:hang]", "--input", str(SAMPLE))["run"]
        wait_for(lambda: cli.json("show", hung["id"])["run"]["log_lines"] > 3,
                 timeout=RUN_STARTS)
        status = cli.json("status")
        assert hung["id"] in [r["id"] for r in status["running"]]
        assert status["hosts"][0]["busy_gpus"] == hung["gpus"] or status["hosts"][0]["running"]
        assert "in progress" in cli("status").stdout
        bad = cli("kill", hung["id"], "--grace", "-1")
        assert bad.returncode == 2 and "grace" in bad.stderr
        killed = cli.json("kill", hung["id"], "--grace", "1", "--wait")["run"]
        assert killed["status"] == "cancelled" and killed["exit_code"] in (143, 137)
        assert killed["cancel_requested"] == "graceful:1"
        ended = cli("kill", hung["id"])
        assert ended.returncode == 1 and "already ended" in ended.stderr

        streamed = cli.json("run", "a quiet street at noon", "--input", str(SAMPLE))["run"]
        follow = cli("status", "--stream", streamed["id"])
        assert follow.returncode == 0, follow.stderr[-2000:]
        assert "Saved video to" in follow.stdout
        lines = follow.stdout.splitlines()
        assert len(lines) == cli.json("show", streamed["id"])["run"]["log_lines"]
        assert len(set(lines)) > 10  # the whole log, each line once
        failed = cli.json("run", "a street [sim:crash]", "--input", str(SAMPLE))["run"]
        follow = cli("status", "--stream", failed["id"], "--json")
        assert follow.returncode == 1 and "failed" in follow.stderr
        records = [json.loads(line) for line in follow.stdout.splitlines()]
        assert [r["seq"] for r in records[:-1]] == list(range(len(records) - 1))
        assert set(records[0]) == {"seq", "line"} and records[-1]["run"]["status"] == "failed"
    finally:
        code, err = stop_worker(proc)
    assert code == 0, err[-2000:]
    assert cli.json("status")["workers"] == []


def test_with_upscale_waits_for_the_4k_run_too(cli: Cli, worker):
    out = cli.json("run", "a harbour at dusk", "--input", str(SAMPLE), "--with-upscale",
                   "--upscale-weight", "0.3", "--wait", timeout=2 * RUN_FINISHES)
    assert out["run"]["status"] == "completed"
    up = out["upscale"]
    assert set(up) == RUN_KEYS and (up["type"], up["status"]) == ("upscale", "completed")
    assert up["parent_id"] == out["run"]["id"]
    assert cli.json("show", up["id"])["run"]["outputs"]["info"]["width"] == 3840


def test_enhance_a_stored_prompt_and_worker_once_drains_the_queue(cli: Cli):
    prompt = cli.json("create", "prompt", "robot arm on a table")["prompt"]
    queued = cli.json("enhance", prompt["id"][:16], "--input", str(SAMPLE))["run"]
    assert (queued["type"], queued["status"]) == ("enhance", "queued")
    crash = cli.json("run", "a street [sim:crash]", "--input", str(SAMPLE))["run"]
    done = cli("worker", "--once", timeout=2 * RUN_FINISHES)
    assert done.returncode == 0 and "queue drained" in done.stderr, done.stderr[-2000:]
    enhanced = cli.json("show", queued["id"])["run"]
    assert enhanced["status"] == "completed" and enhanced["prompt_id"] == prompt["id"], \
        (enhanced, done.stderr[-3000:])
    new_prompt = cli.json("show", enhanced["result_prompt_id"])["prompt"]
    assert new_prompt["parent_id"] == prompt["id"]
    assert new_prompt["text"].startswith("robot arm on a table") and \
        len(new_prompt["text"]) > len(prompt["text"])
    assert cli.json("show", crash["id"])["run"]["status"] == "failed"
    assert cli.json("status")["counts"]["queued"] == 0
    # enhance --wait prints the new prompt
    out = cli.json("enhance", "a foggy pier", "--input", str(SAMPLE), "--wait")
    assert out["run"]["status"] == "completed" and set(out["prompt"]) == PROMPT_KEYS
    assert out["prompt"]["text"].startswith("a foggy pier")


# -- over real SSH -----------------------------------------------------------------------------
def test_doctor_run_and_show_on_an_ssh_box(tmp_path, sshd, remote_root, remote_python):
    ssh_host = f"""
[hosts.sshbox]
kind = "ssh"
hostname = "{sshd.host}"
port = {sshd.port}
user = "{sshd.user}"
identity_file = "{sshd.client_key}"
docker = "{remote_python} -m backend.simulator.engine --root {remote_root}/engine"
gpu_query = "{remote_python} -m backend.simulator.engine --root {remote_root}/engine nvidia-smi"
remote_root = "{remote_root}"
image = "cosmos-sim/transfer1:latest"
gpus = [0, 1]
simulated = true
same_paths_in_container = true
env = {{ COSMOS_SIM_SECONDS = "1" }}
"""
    config = write_config(tmp_path, sim_seconds=1, extra_host=ssh_host)
    (tmp_path / "data").mkdir(exist_ok=True)
    (tmp_path / "data" / "known_hosts").write_text(sshd.known_hosts_line())
    ssh_cli = Cli(config, env={"COSMOS_SSH_CONFIG": str(tmp_path / "no-ssh-config"),
                               "SSH_AUTH_SOCK": None})
    report = ssh_cli.json("doctor", "--host", "sshbox")
    checks = {c["name"]: c for c in report["hosts"][0]["checks"]}
    assert report["ok"], report
    assert "over SSH" in checks["shell"]["finding"] and checks["checkout"]["details"]["installed"]
    assert checks["image"]["details"]["id"].startswith("sha256:")
    assert [g["index"] for g in checks["gpus"]["details"]["gpus"] if g["configured"]] == [0, 1]

    out = ssh_cli.json("run", "a street seen over ssh", "--input", str(SAMPLE), "--host",
                       "sshbox", "--wait", timeout=RUN_FINISHES)
    run = out["run"]
    assert (run["status"], run["host"]) == ("completed", "sshbox"), run
    assert Path(run["output_path"]).stat().st_size > 0
    shown = ssh_cli.json("show", run["id"])["run"]
    assert shown["spec"]["input_video_path"].startswith(remote_root)
    assert Path(remote_root, "runs", run["id"], "spec.json").exists()
