"""The Slurm host kind without a cluster: parsers, the batch script, state mapping, config."""

from __future__ import annotations

import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from backend.config import ConfigError, HostConfig, load_config
from backend.runs.plan import plan_launch
from backend.slurm.client import (SQUEUE_FORMAT, gpus_per_node, parse_sacct, parse_sbatch_parsable,
                                  parse_scontrol_jobs, parse_scontrol_record, parse_sinfo,
                                  parse_squeue)
from backend.slurm.config import SlurmOptions
from backend.slurm.engine import job_state, slurm_end_cause
from backend.slurm.script import SlurmScriptError, build_batch_script, parse_docker_run

SCONTROL_DONE = (
    "JobId=17 JobName=cosmos-01m8abc UserId=artist(1001) GroupId=artist(1001) MCS_label=N/A "
    "Priority=4294901759 Nice=0 Account=(null) QOS=(null) JobState=COMPLETED Reason=None "
    "Dependency=(null) Requeue=1 Restarts=0 BatchFlag=1 Reboot=0 ExitCode=0:0 RunTime=00:00:04 "
    "TimeLimit=00:10:00 TimeMin=N/A SubmitTime=2026-11-24T07:58:34 StartTime=2026-11-24T07:58:35 "
    "EndTime=2026-11-24T07:58:39 Partition=debug AllocNode:Sid=vm:11331 ReqNodeList=(null) "
    "NodeList=vm BatchHost=vm NumNodes=1 NumCPUs=1 NumTasks=1 CPUs/Task=1 ReqB:S:C:T=0:0:*:* "
    "TRES=cpu=1,node=1,billing=1,gres/gpu=1 Socks/Node=* NtasksPerN:B:S:C=0:0:*:* "
    "Comment=cosmos.app=inst,cosmos.run=01m8abc WorkDir=/shared/runs/01m8abc "
    "StdOut=/shared/runs/01m8abc/run.log Power= TresPerNode=gres:gpu:1")
SCONTROL_PENDING = (
    "JobId=18 JobName=cosmos-01m8abd UserId=artist(1001) JobState=PENDING "
    "Reason=(ReqNodeNotAvail, UnavailableNodes:gpu[01-02]) ExitCode=0:0 NodeList=(null) "
    "StartTime=Unknown Partition=gpu Comment=(null) TimeLimit=1-00:00:00")


# -- parsers ----------------------------------------------------------------------------------
def test_sbatch_parsable_job_id_with_or_without_cluster_and_warnings():
    assert parse_sbatch_parsable("17\n") == "17"
    assert parse_sbatch_parsable("17;cosmostest\n") == "17"
    assert parse_sbatch_parsable("sbatch: warning: can't honor --x\n42\n") == "42"
    with pytest.raises(ValueError):
        parse_sbatch_parsable("Submitted batch job 17\n")


def test_scontrol_record_keeps_values_with_equals_commas_and_spaces():
    fields = parse_scontrol_record(SCONTROL_DONE)
    assert fields["TRES"] == "cpu=1,node=1,billing=1,gres/gpu=1"
    assert fields["Comment"] == "cosmos.app=inst,cosmos.run=01m8abc"
    assert fields["AllocNode:Sid"] == "vm:11331" and fields["Power"] == ""
    pending = parse_scontrol_record(SCONTROL_PENDING)
    assert pending["Reason"] == "(ReqNodeNotAvail, UnavailableNodes:gpu[01-02])"
    assert pending["ExitCode"] == "0:0"


def test_scontrol_jobs_to_states_and_exit_codes():
    done, pending = parse_scontrol_jobs(SCONTROL_DONE + "\n" + SCONTROL_PENDING + "\n")
    assert (done.job_id, done.state, done.nodes, done.exit_code) == ("17", "COMPLETED", "vm", 0)
    assert done.finished and done.started and done.user == "artist"
    assert done.labels() == {"cosmos.app": "inst", "cosmos.run": "01m8abc"}
    assert pending.waiting and not pending.started and pending.nodes == "" and \
        pending.comment == ""
    assert pending.reason.startswith("ReqNodeNotAvail")
    killed = parse_scontrol_jobs(SCONTROL_DONE.replace("JobState=COMPLETED", "JobState=FAILED")
                                 .replace("ExitCode=0:0", "ExitCode=0:9"))[0]
    assert killed.exit_code == 137 and killed.exit_signal == 9


def test_squeue_rows_with_a_pipe_in_the_job_name():
    line = "18|PENDING|Resources||gpu|4294901758|artist|2026-11-24T08:09:39|N/A|1-00:00:00|" \
           "cosmos.run=01m8abd|name|with|pipes"
    job, = parse_squeue(line + "\n\nnot a row\n")
    assert (job.job_id, job.state, job.reason, job.nodes) == ("18", "PENDING", "Resources", "")
    assert job.name == "name|with|pipes" and job.priority == 4294901758
    assert job.labels() == {"cosmos.run": "01m8abd"}
    assert SQUEUE_FORMAT.endswith("%k|%j")


def test_sacct_rows():
    rows = parse_sacct("17|cosmos-a|CANCELLED by 1001|0:15|vm|debug|t0|t1|t2\n"
                       "18|cosmos-b|CANCELLED by 1001|0:0|None assigned|debug|t0|t1|t2\n")
    assert rows[0].state == "CANCELLED" and rows[0].exit_code == 143 and rows[0].started
    assert rows[1].nodes == "" and not rows[1].started


def test_sinfo_merges_node_groups_and_counts_gpus():
    parts = parse_sinfo("gpu*|up|1-00:00:00|3|idle|gpu:a100:8(S:0-1)\n"
                        "gpu*|up|1-00:00:00|1|drain|gpu:a100:8(S:0-1)\n"
                        "cpu|down|infinite|4|idle|(null)\n")
    gpu, cpu = parts
    assert (gpu.name, gpu.default, gpu.nodes, gpu.states, gpu.up) == \
        ("gpu", True, 4, ("idle", "drain"), True)
    assert gpus_per_node(gpu.gres) == 8 and gpus_per_node(cpu.gres) == 0 and not cpu.up
    assert gpus_per_node(["gpu:4", "gpu:2"]) == 4


# -- state mapping ----------------------------------------------------------------------------
def test_slurm_states_map_to_what_the_executor_decides_on():
    done, pending = parse_scontrol_jobs(SCONTROL_DONE + "\n" + SCONTROL_PENDING)
    waiting = job_state("cosmos-x", pending)
    assert waiting.status == "pending" and waiting.running and waiting.exit_code is None
    finished = job_state("cosmos-x", done)
    assert finished.status == "exited" and not finished.running and finished.exit_code == 0
    never_ran = replace(pending, state="CANCELLED")
    assert job_state("cosmos-x", never_ran).exit_code is None  # dequeued: no exit code
    running = replace(done, state="COMPLETING")
    assert job_state("cosmos-x", running).running


def test_failures_slurm_caused_get_slurms_reason():
    done = parse_scontrol_jobs(SCONTROL_DONE)[0]
    assert slurm_end_cause(done) is None
    assert slurm_end_cause(replace(done, state="FAILED")) is None  # the log says why
    assert "time limit (00:10:00)" in slurm_end_cause(replace(done, state="TIMEOUT"))
    assert "node vm failed" in slurm_end_cause(replace(done, state="NODE_FAIL"))
    assert "preempted" in slurm_end_cause(replace(done, state="PREEMPTED"))


# -- the batch script -------------------------------------------------------------------------
SLURM_FIELDS = set(SlurmOptions.__dataclass_fields__)


def slurm_host(**over) -> HostConfig:
    """A Slurm host; keyword arguments set host keys or Slurm options alike."""
    base = dict(name="cluster", kind="slurm", docker=("docker",), remote_root="/shared/cosmos",
                cosmos_checkout="/shared/ct1", image="nvcr.io#nvidia/cosmos:1",
                gpus=tuple(range(8)), max_concurrent=256,
                env={"NOTE": "it's $HOME; rm -rf /"}, hf_home="/shared/hf")
    options = dict(partition="gpu", account="art", time_limit="4:00:00",
                   sbatch_extra=("--qos=high", "--mem=200G"))
    for key, value in over.items():
        (options if key in SLURM_FIELDS else base)[key] = value
    return HostConfig(**base, options=SlurmOptions(**options))


def planned(host: HostConfig, run_id: str = "01m8abc", num_gpus: int = 2):
    """The argv plan_launch makes for a Slurm host (docker_gpus off, as SlurmRuntime does)."""
    from backend.models.params import GenerationParams
    from backend.models.profile import JobItem, get_profile

    params = GenerationParams(prompt="p", negative_prompt="n", weights={"edge": 1.0},
                              num_gpus=num_gpus, input_video="/x/in.mp4")
    item = JobItem(run_id, params, {"input": f"{host.remote_root}/runs/{run_id}/inputs/in.mp4"})
    launch = plan_launch(host=replace(host, docker_gpus=False), run_id=run_id,
                         run_type="inference", profile=get_profile("transfer1"), items=[item],
                         gpus=[], master_port=29501, instance_id="inst", num_gpus=num_gpus)
    return parse_docker_run(launch.docker_argv, host.docker)


def script_for(host: HostConfig, **kw) -> str:
    return build_batch_script(host, planned(host), folder=f"{host.remote_root}/runs/01m8abc",
                              num_gpus=kw.get("num_gpus", 2), kill_grace=10)


def directives(script: str) -> list[str]:
    return [line for line in script.splitlines() if line.startswith("#SBATCH ")]


def test_plan_argv_is_taken_apart():
    run = planned(slurm_host())
    assert run.name == "cosmos-01m8abc" and run.labels == {"cosmos.run": "01m8abc",
                                                           "cosmos.app": "inst"}
    assert run.image == "nvcr.io#nvidia/cosmos:1"
    assert run.command == ["bash", "/cosmos/runs/01m8abc/job.sh"]
    assert "/shared/cosmos:/cosmos" in run.mounts and run.workdir == "/workspace/cosmos-transfer1"
    assert run.env["NOTE"] == "it's $HOME; rm -rf /" and run.env["HF_HOME"] == "/cosmos-hf"
    with pytest.raises(SlurmScriptError):
        parse_docker_run(["docker", "run", "-d", "--weird", "x", "img"], ("docker",))
    with pytest.raises(SlurmScriptError):
        parse_docker_run(["podman", "run", "img"], ("docker",))


@pytest.mark.parametrize("mode", ["docker", "pyxis", "none"])
def test_batch_script_directives_come_first_and_the_script_parses(mode, tmp_path):
    host = slurm_host(slurm_container=mode, same_paths_in_container=mode == "none")
    script = script_for(host)
    lines = script.splitlines()
    assert lines[0] == "#!/bin/bash"
    first_code = next(i for i, line in enumerate(lines[1:], 1) if not line.startswith("#"))
    assert all(not line.startswith("#SBATCH") for line in lines[first_code:])
    folder = "/shared/cosmos/runs/01m8abc"
    assert directives(script) == [
        "#SBATCH --job-name=cosmos-01m8abc",
        "#SBATCH --comment=cosmos.app=inst,cosmos.run=01m8abc",
        f"#SBATCH --output={folder}/run.log", "#SBATCH --open-mode=append",
        f"#SBATCH --chdir={folder}", "#SBATCH --nodes=1", "#SBATCH --ntasks=1",
        "#SBATCH --gres=gpu:2", "#SBATCH --partition=gpu", "#SBATCH --account=art",
        "#SBATCH --time=4:00:00", "#SBATCH --qos=high", "#SBATCH --mem=200G"]
    path = tmp_path / "slurm.sh"
    path.write_text(script)
    assert subprocess.run(["bash", "-n", str(path)]).returncode == 0
    assert "rm -rf /'" in script or "rm -rf /\"" in script  # quoted, never bare


def test_docker_mode_runs_in_the_foreground_with_slurms_gpus_and_traps():
    script = script_for(slurm_host(slurm_container="docker"))
    run_line = next(line for line in script.splitlines() if line.startswith("docker run"))
    assert run_line.startswith("docker run --rm --pull never --name cosmos-01m8abc ")
    assert " -d " not in run_line and run_line.endswith(" &")
    assert '--gpus "\\"device=${SLURM_JOB_GPUS:?' in run_line
    assert "trap 'docker stop -t 10 \"$name\"" in script and "USR1" in script
    no_gpus = script_for(slurm_host(slurm_container="docker", docker_gpus=False))
    assert "--gpus" not in no_gpus


def test_pyxis_mode_uses_srun_container_options():
    script = script_for(slurm_host(slurm_container="pyxis"))
    srun = next(line for line in script.splitlines() if line.startswith("exec srun"))
    assert "--container-image=nvcr.io#nvidia/cosmos:1" in srun
    assert "--container-mounts=/shared/cosmos:/cosmos,/shared/ct1:/workspace/cosmos-transfer1:ro" \
        in srun and "--container-workdir=/workspace/cosmos-transfer1" in srun
    assert srun.endswith("bash /cosmos/runs/01m8abc/job.sh")
    assert "export HF_HOME=/cosmos-hf" in script


def test_gpus_style_and_bad_values():
    host = slurm_host(gres_style="gpus", partition=None, account=None, time_limit=None,
                      sbatch_extra=())
    assert directives(script_for(host, num_gpus=4))[7:] == ["#SBATCH --gpus=4"]
    with pytest.raises(SlurmScriptError):
        build_batch_script(host, planned(host), folder="/shared/my runs/x", num_gpus=1,
                           kill_grace=5)


# -- config -----------------------------------------------------------------------------------
def write(tmp_path: Path, table: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(f'data_dir = "{tmp_path}/data"\n[hosts.cluster]\n{table}\n')
    return path


def test_slurm_host_config_defaults_and_fields(tmp_path):
    host = load_config(write(tmp_path, '''
kind = "slurm"
hostname = "login1"
remote_root = "/shared/cosmos"
partition = "gpu,gpu-long"
account = "art"
time_limit = "1-12:00:00"
gres_style = "gpus"
sbatch_extra = ["--qos=high"]
slurm_container = "pyxis"
slurm_env = { SLURM_CONF = "/etc/slurm/slurm.conf" }
''')).hosts["cluster"]
    opts = host.options
    assert (opts.partition, opts.account, opts.time_limit, opts.gres_style) == \
        ("gpu,gpu-long", "art", "1-12:00:00", "gpus")
    assert opts.sbatch_extra == ("--qos=high",) and opts.slurm_container == "pyxis"
    assert opts.slurm_env == {"SLURM_CONF": "/etc/slurm/slurm.conf"}
    assert host.gpus == tuple(range(8)) and host.max_concurrent == 256


@pytest.mark.parametrize("table, words", [
    ('kind = "ssh"\nhostname = "b"\nremote_root = "/r"\npartition = "gpu"',
     'only for kind = "slurm"'),
    ('kind = "slurm"\nremote_root = "/r"\ntime_limit = "soon"', "time limit"),
    ('kind = "slurm"\nremote_root = "/r"\nslurm_container = "singularity"', "docker, pyxis"),
    ('kind = "slurm"\nremote_root = "/r"\nslurm_container = "none"', "same_paths_in_container"),
    ('kind = "slurm"\nremote_root = "/r"\nsbatch_extra = ["qos=high"]', "sbatch options"),
    ('kind = "slurm"\nremote_root = "/r"\ngres_style = "mig"', "--gres=gpu:N"),
    ('kind = "slurm"\nremote_root = "/r"\npartition = "gpu long"', "partition"),
    ('kind = "slurm"\nremote_root = "/my runs"', "without spaces"),
])
def test_bad_slurm_settings_are_refused_with_the_key(tmp_path, table, words):
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, table))
    assert words in str(err.value) and "hosts.cluster." in str(err.value)


def test_a_slurm_host_without_hostname_is_the_login_node_itself(tmp_path):
    from backend.remote.shell import LocalShell
    from backend.runs.scheduler import open_shell

    host = load_config(write(tmp_path, 'kind = "slurm"\nremote_root = "/r"')).hosts["cluster"]
    assert isinstance(open_shell(host), LocalShell)
