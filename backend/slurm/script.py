"""What a run becomes on a Slurm cluster: the batch script, built from the run's `docker run` plan.

Why from the plan's argv: backend/plan.py decides what a run's container gets (mounts, env,
workdir, image, `bash job.sh`); a Slurm job must run exactly that, only in the foreground
inside an allocation. So the argv `plan_launch` made is read back (`parse_docker_run`) and
re-emitted in one of three shapes (`slurm_container` in the host config):

* `docker`: `docker run --rm ...` in the foreground (no `-d`: the job lives as long as the
  container), the GPUs Slurm gave the job passed as `--gpus "device=$SLURM_JOB_GPUS"`. The
  script traps TERM (`docker stop -t <grace>`) and USR1 (`docker kill`), because a signal to
  the docker client alone would leave the container running on the node;
* `pyxis`: `srun --container-image=IMAGE --container-mounts=... --container-workdir=...`
  (Pyxis/Enroot, the usual way GPU clusters run containers);
* `none`: no container; the job runs `srun bash job.sh` on the node itself with the host's
  env (the simulator on a test cluster; needs same_paths_in_container = true).

Stopping (backend/slurm_executor.py): with a job step (`pyxis`, `none`) a graceful kill is
`scancel --signal=TERM` (every process of the step, exit 143) and a forced one
`scancel --signal=KILL --batch` (srun dies, Slurm tears the step down, exit 137); `docker` goes
through the traps above. (Slurm turns `--signal=KILL` to the steps into a plain cancel, TERM
first, so that is not used for force.)

Nothing here touches a box; every value is shlex-quoted or validated before it is written.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from backend.config import HostConfig
from backend.slurm.config import slurm_options

#: `docker run` options that take a value (as plan.py or a docker-compatible engine use them).
_VALUE_OPTS = frozenset({
    "--name", "--label", "-l", "--volume", "-v", "--mount", "--workdir", "-w", "--env", "-e",
    "--env-file", "--gpus", "--ipc", "--network", "--net", "--user", "-u", "--entrypoint",
    "--hostname", "-h", "--shm-size", "--ulimit", "--memory", "-m", "--cpus", "--cap-add",
    "--cap-drop", "--security-opt", "--runtime", "--pull", "--restart", "--log-driver",
    "--log-opt", "--stop-signal", "--stop-timeout", "--platform", "--group-add", "--add-host",
    "--device", "--tmpfs", "--pid", "--uts", "--userns", "--dns", "--label-file",
})
_FLAG_OPTS = frozenset({"-d", "--detach", "--rm", "--init", "-i", "--interactive", "-t", "--tty",
                        "--privileged", "--read-only"})
_SAFE = re.compile(r"[A-Za-z0-9_.,:/=+@%-]+")
#: Set by Slurm in a batch job: the node's ids of the GPUs allocated to it.
_GPU_VAR = "SLURM_JOB_GPUS"


class SlurmScriptError(ValueError):
    """The plan cannot become a Slurm job (an option we cannot carry over, a bad value)."""


@dataclass
class DockerRun:
    """A `docker run` argv taken apart."""

    docker: tuple[str, ...]
    #: (option, value or None, the argv tokens it came from), in order
    options: list[tuple[str, str | None, tuple[str, ...]]] = field(default_factory=list)
    image: str = ""
    command: list[str] = field(default_factory=list)

    def values(self, *names: str) -> list[str]:
        return [v for k, v, _ in self.options if k in names and v is not None]

    @property
    def name(self) -> str:
        names = self.values("--name")
        return names[-1] if names else ""

    @property
    def labels(self) -> dict[str, str]:
        out = {}
        for text in self.values("--label", "-l"):
            key, _, value = text.partition("=")
            out[key] = value
        return out

    @property
    def mounts(self) -> list[str]:
        return self.values("--volume", "-v")

    @property
    def workdir(self) -> str | None:
        found = self.values("--workdir", "-w")
        return found[-1] if found else None

    @property
    def env(self) -> dict[str, str]:
        """`-e K=V` values (a bare `-e K` passes the caller's value and is not listed)."""
        out = {}
        for text in self.values("--env", "-e"):
            key, eq, value = text.partition("=")
            if eq:
                out[key] = value
        return out


def parse_docker_run(argv: Sequence[str], docker: Sequence[str]) -> DockerRun:
    """`<docker> run [options] IMAGE [COMMAND...]` -> DockerRun; unknown options are refused."""
    argv = [str(a) for a in argv]
    prefix = list(docker)
    if argv[:len(prefix)] != prefix or argv[len(prefix):len(prefix) + 1] != ["run"]:
        raise SlurmScriptError(f"not a `{' '.join(prefix)} run` command: {argv[:4]}")
    run = DockerRun(tuple(prefix))
    i = len(prefix) + 1
    while i < len(argv):
        token = argv[i]
        if not token.startswith("-") or token == "-":
            break
        if token == "--":
            i += 1
            break
        key, eq, value = token.partition("=")
        if key in _FLAG_OPTS or (eq and key.startswith("--")):
            run.options.append((key, value if eq else None, (token,)))
            i += 1
        elif key in _VALUE_OPTS:
            if i + 1 >= len(argv):
                raise SlurmScriptError(f"docker option {token} has no value")
            run.options.append((key, argv[i + 1], (token, argv[i + 1])))
            i += 2
        else:
            raise SlurmScriptError(f"cannot carry the docker option {token} into a Slurm job")
    if i >= len(argv):
        raise SlurmScriptError("the docker run command names no image")
    run.image = argv[i]
    run.command = argv[i + 1:]
    return run


def _sbatch_value(what: str, value: str) -> str:
    """A value for an #SBATCH line: sbatch splits those at spaces, so only plain text."""
    if not _SAFE.fullmatch(value):
        raise SlurmScriptError(f"{what} {value!r} cannot go into an #SBATCH line "
                               "(spaces, quotes or shell characters)")
    return value


def sbatch_directives(host: HostConfig, *, job_name: str, comment: str, folder: str,
                      num_gpus: int) -> list[str]:
    """The #SBATCH lines: name and comment (the run id), output into the run folder, GPUs,
    partition, account, time limit and the host's extra options."""
    gpus = (f"--gres=gpu:{int(num_gpus)}" if slurm_options(host).gres_style == "gres"
            else f"--gpus={int(num_gpus)}")
    options = [
        f"--job-name={_sbatch_value('job name', job_name)}",
        f"--comment={_sbatch_value('comment', comment)}",
        # stdout/stderr of the job (Slurm's own messages, a failing docker/srun) land in the run
        # log, appended next to what job.sh writes, so the app shows and classifies them too
        f"--output={_sbatch_value('run folder', folder)}/run.log",
        "--open-mode=append",
        f"--chdir={folder}",
        "--nodes=1",
        "--ntasks=1",
        gpus,
    ]
    if slurm_options(host).partition:
        options.append(f"--partition={slurm_options(host).partition}")
    if slurm_options(host).account:
        options.append(f"--account={slurm_options(host).account}")
    if slurm_options(host).time_limit:
        options.append(f"--time={slurm_options(host).time_limit}")
    options += list(slurm_options(host).sbatch_extra)
    for option in options:
        if "\n" in option or "\r" in option:
            raise SlurmScriptError(f"sbatch option {option!r} spans lines")
    return [f"#SBATCH {option}" for option in options]


def _exports(env: Mapping[str, str]) -> list[str]:
    return [f"export {name}={shlex.quote(value)}" for name, value in env.items()
            if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name)]


def _docker_body(host: HostConfig, run: DockerRun, kill_grace: int) -> list[str]:
    q = shlex.quote
    docker = " ".join(q(w) for w in run.docker)
    words = [docker, "run", "--rm"]
    for key, _, tokens in run.options:
        if key in ("-d", "--detach", "--rm", "--gpus"):
            continue  # foreground; removed at exit; GPUs come from Slurm below
        words += [q(t) for t in tokens]
    if host.docker_gpus:
        # the node's ids of the GPUs Slurm allocated; docker wants "device=0,1" WITH the quotes
        words += ["--gpus", f'"\\"device=${{{_GPU_VAR}:?Slurm gave this job no GPUs}}\\""']
    words.append(q(run.image))
    words += [q(w) for w in run.command]
    name = q(run.name)
    return [
        f"name={name}",
        "# A signal to the docker client alone would leave the container running on the node:",
        "# TERM stops the container gracefully, USR1 kills it (scancel --signal=... --batch).",
        f"trap '{docker} stop -t {int(kill_grace)} \"$name\" >/dev/null 2>&1 || true' TERM INT",
        f"trap '{docker} kill \"$name\" >/dev/null 2>&1 || true' USR1",
        " ".join(words) + " &",
        "pid=$!",
        'while kill -0 "$pid" 2>/dev/null; do wait "$pid"; done',
        'wait "$pid"',
    ]


def _pyxis_body(run: DockerRun) -> list[str]:
    q = shlex.quote
    words = ["srun", "--ntasks=1", f"--container-image={run.image}"]
    mounts = []
    for spec in run.mounts:
        parts = spec.split(":")
        if len(parts) not in (2, 3) or "," in spec:
            raise SlurmScriptError(f"cannot give Pyxis the mount {spec!r}")
        mounts.append(spec if len(parts) == 2 or parts[2] in ("ro", "rw") else
                      ":".join(parts[:2]))
    if mounts:
        words.append("--container-mounts=" + ",".join(mounts))
    if run.workdir:
        words.append(f"--container-workdir={run.workdir}")
    return _exports(run.env) + ["exec " + " ".join(q(w) for w in words + run.command)]


def _bare_body(run: DockerRun) -> list[str]:
    q = shlex.quote
    lines = _exports(run.env)
    if run.workdir:
        lines.append(f"cd -- {q(run.workdir)}")
    # a job step (srun), not the batch shell: Slurm tracks and signals every process of a step,
    # also workers whose parent died, which the batch step's tracking can miss
    return lines + ["exec srun --ntasks=1 " + " ".join(q(w) for w in run.command)]


def build_batch_script(host: HostConfig, run: DockerRun, *, folder: str, num_gpus: int,
                       kill_grace: int) -> str:
    """The whole batch script for one run (or batch) whose container plan is `run`."""
    labels = run.labels
    comment = ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
    lines = ["#!/bin/bash"]
    lines += sbatch_directives(host, job_name=run.name, comment=comment, folder=folder,
                               num_gpus=num_gpus)
    how = {"docker": f"runs {run.name} with docker in the foreground",
           "pyxis": f"runs {run.name} in a Pyxis/Enroot container (srun)",
           "none": f"runs {run.name}'s job.sh on the node (srun, no container)"}
    lines += [
        "# Written by the Cosmos Workflow Orchestrator, submitted with sbatch --parsable: it",
        f"# {how[slurm_options(host).slurm_container]}. The prompt is in spec.json, not here.",
        "set -u",
    ]
    if slurm_options(host).slurm_container == "docker":
        lines += _docker_body(host, run, kill_grace)
    elif slurm_options(host).slurm_container == "pyxis":
        lines += _pyxis_body(run)
    else:
        lines += _bare_body(run)
    return "\n".join(lines) + "\n"
