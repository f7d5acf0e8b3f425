"""Command lines: infrastructure only, always quoted, never `--key=value` for transfer.py."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backend.models.transfer1.command import (
    JOB_HEADER_PREFIX,
    OFFLOAD_FLAGS,
    TRANSFER_SCRIPT,
    build_docker_run_argv,
    build_job_script,
    build_transfer_argv,
    gpus_flag_value,
    pick_master_port,
    shell_join,
)
from backend.models.transfer1.params import GenerationParams
from backend.models.transfer1.spec import build_spec, spec_json

BASH = shutil.which("bash")
needs_bash = pytest.mark.skipif(BASH is None, reason="bash is not installed")

# Text an attacker (or a careless paste) could put in a prompt, a name or a path.
NASTY = ["$(touch /tmp/pwned)", "`id`", "; rm -rf ~", "'", '"', "\\", "\n", "\r", "\t", "&&",
         "|", ">", "<", "*", "?", "!", "#", "~", "{a,b}", "${HOME}", "%s", "%(%Y)T", "--x=1",
         "-e", "é", "東京", "🙂", "\u2028", " ", ""]
nasty_text = st.lists(st.sampled_from(NASTY) | st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
    max_size=6), max_size=8).map("".join)


def transfer_argv(**kw) -> list[str]:
    base = {"num_gpus": 1, "master_port": 29500, "checkpoint_dir": "/ckpt",
            "video_save_folder": "/cosmos/runs/r1/outputs", "video_save_name": "output",
            "controlnet_specs": "/cosmos/runs/r1/spec.json"}
    base.update(kw)
    return build_transfer_argv(**base)


def docker_argv(**kw) -> list[str]:
    base = {"docker": ["docker"], "name": "cosmos-r1", "labels": {"cosmos.run": "r1"},
            "mounts": [("/data/cosmos", "/cosmos", False), ("/opt/ct1", "/workspace/ct1", True)],
            "workdir": "/workspace/ct1", "env": {"HF_HOME": "/hf"}, "pass_env": ["HF_TOKEN"],
            "gpu_ids": [0], "ipc_host": True, "network": None,
            "image": "cosmos-transfer1:latest", "command": ["bash", "/cosmos/runs/r1/job.sh"]}
    base.update(kw)
    return build_docker_run_argv(**base)


# -- transfer argv --------------------------------------------------------------------------------
def test_transfer_argv_shape():
    argv = transfer_argv(num_gpus=4, master_port=29611,
                         offload_flags=["offload_guardrail_models", "--offload_text_encoder_model"])
    assert argv == [
        "torchrun", "--nproc_per_node=4", "--nnodes=1", "--node_rank=0", "--master_port=29611",
        TRANSFER_SCRIPT,
        "--checkpoint_dir", "/ckpt",
        "--video_save_folder", "/cosmos/runs/r1/outputs",
        "--video_save_name", "output",
        "--controlnet_specs", "/cosmos/runs/r1/spec.json",
        "--num_gpus", "4",
        "--offload_text_encoder_model", "--offload_guardrail_models",
    ]


def test_num_gpus_from_json_float():
    assert "--nproc_per_node=2" in transfer_argv(num_gpus=2.0)
    with pytest.raises(ValueError):
        transfer_argv(num_gpus=2.5)


def test_batch_and_upsample_flags():
    argv = transfer_argv(batch_input_path="/cosmos/runs/b/batch.jsonl", upsample_prompt=True,
                         offload_flags=OFFLOAD_FLAGS)
    assert argv[argv.index("--batch_input_path") + 1] == "/cosmos/runs/b/batch.jsonl"
    assert argv[-1] == "--upsample_prompt"
    assert all(f"--{flag}" in argv for flag in OFFLOAD_FLAGS)


@pytest.mark.parametrize("gpus", [1, 2, 4, 8])
def test_nproc_equals_num_gpus(gpus):
    argv = transfer_argv(num_gpus=gpus)
    assert f"--nproc_per_node={gpus}" in argv
    assert argv[argv.index("--num_gpus") + 1] == str(gpus)


def test_transfer_flags_are_never_key_equals_value():
    argv = transfer_argv(num_gpus=2, offload_flags=OFFLOAD_FLAGS,
                         batch_input_path="/b.jsonl", upsample_prompt=True)
    script_at = argv.index(TRANSFER_SCRIPT)
    for token in argv[script_at + 1:]:
        assert not (token.startswith("--") and "=" in token), token
    # Generation values live in the spec only, never on the command line.
    for key in ("prompt", "negative_prompt", "input_video_path", "sigma_max", "guidance",
                "num_steps", "seed", "fps", "blur_strength", "canny_threshold"):
        assert f"--{key}" not in argv


@pytest.mark.parametrize("kw", [
    {"num_gpus": 3}, {"num_gpus": 0}, {"num_gpus": True}, {"master_port": 80},
    {"master_port": 70000}, {"offload_flags": ["offload_tokenizer"]},
    {"checkpoint_dir": ""}, {"video_save_folder": "--evil"},
])
def test_transfer_argv_refuses_bad_values(kw):
    with pytest.raises(ValueError):
        transfer_argv(**kw)


# -- job script ------------------------------------------------------------------------------------
def job_script(tmp: Path, argv: list[str], **kw) -> str:
    base = {"run_id": "r1", "container_checkout": str(tmp / "checkout"),
            "container_log_path": str(tmp / "run.log"), "transfer_argv": argv}
    base.update(kw)
    return build_job_script(**base)


def run_script(tmp: Path, script: str) -> subprocess.CompletedProcess:
    path = tmp / "job.sh"
    path.write_text(script, encoding="utf-8")
    return subprocess.run([BASH, str(path)], capture_output=True, timeout=30, check=False,
                          env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")})


def test_job_script_text():
    script = build_job_script(run_id="r1", container_checkout="/workspace/ct1",
                              container_log_path="/cosmos/runs/r1/run.log",
                              transfer_argv=transfer_argv(), extra_env={"LOGURU_LEVEL": "INFO"})
    assert script.startswith("#!/usr/bin/env bash\n")
    assert "cd -- /workspace/ct1 " in script
    assert "export PYTHONPATH=/workspace/ct1\n" in script
    assert "export LOGURU_LEVEL=INFO\n" in script
    last = script.rstrip("\n").splitlines()[-1]
    assert last.startswith("exec torchrun --nproc_per_node=1 ")
    assert last.endswith(' >>"$log" 2>&1')


@needs_bash
def test_job_script_passes_bash_n(tmp_path):
    script = job_script(tmp_path, transfer_argv(), extra_env={"A": "x y", "B": "$(id)"})
    path = tmp_path / "job.sh"
    path.write_text(script)
    result = subprocess.run([BASH, "-n", str(path)], capture_output=True, timeout=10,
                            check=False)
    assert result.returncode == 0, result.stderr


@needs_bash
def test_job_script_runs_and_logs(tmp_path):
    (tmp_path / "checkout").mkdir()
    argv = ["bash", "-c", ('echo "cwd=$PWD pp=$PYTHONPATH a=$A unbuf=$PYTHONUNBUFFERED"; '
                           'echo to-stderr >&2; exit 7')]
    result = run_script(tmp_path, job_script(tmp_path, argv, extra_env={"A": "x 'y' $(z)"}))
    assert result.returncode == 7  # exec: the script's exit code is the job's
    assert result.stdout == b"" and result.stderr == b""  # everything went to the log
    log = (tmp_path / "run.log").read_text().splitlines()
    assert log[0].startswith(f"{JOB_HEADER_PREFIX} run r1 started ")
    checkout = tmp_path / "checkout"
    assert log[1] == f"cwd={checkout} pp={checkout} a=x 'y' $(z) unbuf=1"
    assert log[2] == "to-stderr"


@needs_bash
def test_job_script_execs_so_the_job_replaces_bash(tmp_path):
    (tmp_path / "checkout").mkdir()
    argv = ["bash", "-c", 'echo "$$"']
    path = tmp_path / "job.sh"
    path.write_text(job_script(tmp_path, argv))
    proc = subprocess.Popen([BASH, str(path)])
    proc.wait(timeout=10)
    assert (tmp_path / "run.log").read_text().splitlines()[1] == str(proc.pid)


@needs_bash
def test_job_script_logs_a_missing_checkout(tmp_path):
    result = run_script(tmp_path, job_script(tmp_path, ["true"]))
    assert result.returncode == 2
    log = (tmp_path / "run.log").read_text()
    assert "cannot enter the Cosmos checkout" in log


def test_job_script_refuses_bad_env_names(tmp_path):
    with pytest.raises(ValueError):
        job_script(tmp_path, ["true"], extra_env={"A; rm -rf /": "x"})


@needs_bash
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(words=st.lists(nasty_text, min_size=1, max_size=5), run_id=nasty_text,
       value=nasty_text)
def test_job_script_quotes_everything(words, run_id, value):
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        (tmp / "checkout").mkdir()
        (tmp / "out").mkdir()
        argv = ["printf", "%s\\0", *words]
        script = job_script(tmp, argv, run_id=run_id, extra_env={"X_VALUE": value})
        result = run_script(tmp, script)
        assert result.returncode == 0, result.stderr
        log = (tmp / "run.log").read_bytes()
        header = f"{JOB_HEADER_PREFIX} run {run_id} started ".encode()
        assert log.startswith(header)
        body = log.split(b"\n", run_id.count("\n") + 1)[-1]
        assert body.split(b"\0")[:-1] == [w.encode() for w in words]
        assert not Path("/tmp/pwned").exists()


# -- docker argv -----------------------------------------------------------------------------------
def test_docker_argv_shape():
    argv = docker_argv(docker=["sudo", "docker"], gpu_ids=[2, 3], network="none")
    assert argv[:4] == ["sudo", "docker", "run", "-d"]
    assert argv[argv.index("--name") + 1] == "cosmos-r1"
    assert argv[argv.index("--label") + 1] == "cosmos.run=r1"
    assert "/data/cosmos:/cosmos" in argv and "/opt/ct1:/workspace/ct1:ro" in argv
    assert argv[argv.index("-w") + 1] == "/workspace/ct1"
    assert argv[argv.index("--gpus") + 1] == '"device=2,3"'
    assert argv[argv.index("--ipc") + 1] == "host"
    assert argv[argv.index("--network") + 1] == "none"
    assert argv[-3:] == ["cosmos-transfer1:latest", "bash", "/cosmos/runs/r1/job.sh"]
    assert "--rm" not in argv


def test_docker_argv_secret_is_passed_by_name_only():
    argv = docker_argv(pass_env=["HF_TOKEN"], env={"HF_HOME": "/hf"})
    i = argv.index("HF_TOKEN")
    assert argv[i - 1] == "-e"
    assert not any(t.startswith("HF_TOKEN=") for t in argv)
    assert "HF_HOME=/hf" in argv


def test_docker_argv_without_gpus_ipc_network():
    argv = docker_argv(gpu_ids=None, ipc_host=False, network=None)
    assert "--gpus" not in argv and "--ipc" not in argv and "--network" not in argv


def test_gpus_value_is_one_token_with_literal_quotes():
    # docker parses --gpus as CSV: the quotes keep "device=0,1" one field.
    assert gpus_flag_value([0]) == '"device=0"'
    assert gpus_flag_value([0, 1, 2, 3]) == '"device=0,1,2,3"'
    for bad in ([], [0, 0], [-1], [True]):
        with pytest.raises(ValueError):
            gpus_flag_value(bad)


@pytest.mark.parametrize("kw", [
    {"name": "bad name"}, {"name": "-x"}, {"labels": {"a=b": "c"}},
    {"mounts": [("relative", "/x", False)]}, {"mounts": [("/a:b", "/x", False)]},
    {"env": {"1BAD": "x"}}, {"pass_env": ["A B"]}, {"workdir": "rel"}, {"image": ""},
    {"docker": []},
])
def test_docker_argv_refuses_bad_values(kw):
    with pytest.raises(ValueError):
        docker_argv(**kw)


# -- the prompt never reaches a command line -------------------------------------------------------
@settings(max_examples=200, deadline=None)
@given(prompt=nasty_text, run_id=nasty_text, label=nasty_text, env_value=nasty_text,
       gpus=st.sampled_from([1, 2, 4, 8]))
def test_prompt_never_on_a_command_line(prompt, run_id, label, env_value, gpus):
    prompt = "PROMPT<" + prompt + ">"
    p = GenerationParams(prompt=prompt, negative_prompt="NEG<" + prompt + ">",
                         input_video="/h/in.mp4", weights={"edge": 1.0}, num_gpus=gpus)
    spec = build_spec(p, input_video_path="/cosmos/runs/r/inputs/in.mp4", control_paths={},
                      fps=24)
    assert json.loads(spec_json(spec))["prompt"] == prompt  # it does travel, in the spec
    transfer = transfer_argv(num_gpus=gpus, master_port=pick_master_port(run_id, set()))
    script = build_job_script(run_id=run_id, container_checkout="/workspace/ct1",
                              container_log_path="/cosmos/runs/r/run.log",
                              transfer_argv=transfer, extra_env={"NOTE": env_value})
    docker = docker_argv(labels={"cosmos.run": run_id, "cosmos.note": label},
                         env={"NOTE": env_value}, gpu_ids=list(range(gpus)))
    for argv in (transfer, docker):
        assert not any(prompt in token for token in argv)
        assert prompt not in shell_join(argv)
        assert shlex.split(shell_join(argv)) == argv
    assert prompt not in script


@given(words=st.lists(nasty_text, max_size=10))
def test_shell_join_round_trips(words):
    assert shlex.split(shell_join(words)) == words


# -- master port -----------------------------------------------------------------------------------
def test_master_port_is_stable_in_range_and_skips_used():
    port = pick_master_port("run-abc", set())
    assert port == pick_master_port("run-abc", set())
    assert 29500 <= port < 30500
    assert pick_master_port("run-abc", {port}) != port
    ports = {pick_master_port(f"run-{i}", set()) for i in range(50)}
    assert len(ports) > 40  # spread out, so concurrent runs rarely even need to skip


def test_master_port_exhausted():
    with pytest.raises(RuntimeError):
        pick_master_port("r", set(range(40000, 40010)), base=40000, span=10)
    with pytest.raises(ValueError):
        pick_master_port("r", set(), base=65000, span=1000)
