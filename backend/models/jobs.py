"""The commands that start a model's job, whatever the model: the job script and `docker run`.

Everything is built as argument lists and quoted with shlex at the one place text is made, so
no user text ever reaches a shell unquoted. The prompt is never an input here: a model profile
puts it in the files the model reads (spec JSON), so it cannot leak into a process list, a log
header or `docker inspect`.
"""

from __future__ import annotations

import hashlib
import re
import shlex
from collections.abc import Mapping, Sequence

#: First word of the line the job script writes to the log before the model starts.
JOB_HEADER_PREFIX = "[cosmos-orchestrator]"

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_CONTAINER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]+")
_LABEL_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]*")


def _check_value(name: str, value: str) -> str:
    """A CLI value must be text that argparse will not mistake for an option."""
    if not isinstance(value, str) or not value or value.startswith("-") or "\0" in value:
        raise ValueError(f"{name} must be a non-empty path not starting with '-', got {value!r}")
    return value


def build_job_script(*, run_id: str, container_checkout: str, container_log_path: str,
                     transfer_argv: Sequence[str], extra_env: Mapping[str, str] = {}) -> str:
    """The bash script the container runs: enter the checkout, log a header, exec the model.

    `transfer_argv` is the model's command (a profile builds it). Why `exec`: the model's
    launcher (torchrun or python) replaces bash and becomes the container's PID 1, so `docker
    stop`'s SIGTERM reaches it directly and it can shut its workers down. Why the early `exec >>log`:
    a failing `cd` (or anything before Cosmos) also lands in the run log we collect, not only in
    `docker logs`. Every value is shlex-quoted; no user text is interpolated unquoted.
    """
    for name in extra_env:
        if not _ENV_NAME.fullmatch(name):
            raise ValueError(f"environment variable name {name!r} is not a valid shell name")
    if not transfer_argv:
        raise ValueError("transfer_argv is empty")
    q = shlex.quote
    lines = [
        "#!/usr/bin/env bash",
        "# Written by the Cosmos Workflow Orchestrator; the prompt is in spec.json, not here.",
        "set -eu",
        f"run_id={q(run_id)}",
        f"log={q(container_log_path)}",
        'exec >>"$log" 2>&1',
        (f"printf '{JOB_HEADER_PREFIX} run %s started %(%Y-%m-%dT%H:%M:%S%z)T on %s\\n' "
         '"$run_id" -1 "${HOSTNAME:-unknown}"'),
        (f"cd -- {q(container_checkout)} || {{ echo "
         f"{q(JOB_HEADER_PREFIX + ' cannot enter the Cosmos checkout ' + container_checkout)}"
         "; exit 2; }"),
        f"export PYTHONPATH={q(container_checkout)}",
        # Live logs: without this Python block-buffers stdout when it is a file.
        "export PYTHONUNBUFFERED=1",
    ]
    lines += [f"export {name}={q(str(value))}" for name, value in extra_env.items()]
    lines.append("exec " + " ".join(q(word) for word in transfer_argv) + ' >>"$log" 2>&1')
    return "\n".join(lines) + "\n"


def gpus_flag_value(gpu_ids: Sequence[int]) -> str:
    """The `--gpus` value for specific devices, e.g. '"device=0,1"' (quotes included).

    Why the literal double quotes: docker parses the --gpus value as CSV, so an unquoted
    `device=0,1` splits at the comma and is refused (or, in some versions, keeps only GPU 0).
    """
    ids = list(gpu_ids)
    if not ids or any(isinstance(g, bool) or not isinstance(g, int) or g < 0 for g in ids):
        raise ValueError(f"gpu_ids must be non-negative integers, got {gpu_ids!r}")
    if len(set(ids)) != len(ids):
        raise ValueError(f"gpu_ids has duplicates: {gpu_ids!r}")
    return '"device=' + ",".join(str(g) for g in ids) + '"'


def build_docker_run_argv(*, docker: Sequence[str], name: str, labels: Mapping[str, str],
                          mounts: Sequence[tuple[str, str, bool]], workdir: str,
                          env: Mapping[str, str], pass_env: Sequence[str] = (),
                          gpu_ids: Sequence[int] | None, ipc_host: bool, network: str | None,
                          image: str, command: Sequence[str], entrypoint: str | None = None,
                          keep_image_paths: Sequence[str] = (),
                          user: str | None = None) -> list[str]:
    """`<docker> run -d ...` argv for one job container.

    `pass_env` names go as `-e NAME` (no value): docker copies the value from its own
    environment, so a secret such as HF_TOKEN is never written into the argv, the run row or
    `docker inspect`'s Config.Cmd. `gpu_ids=None` leaves `--gpus` out (the simulator, or hosts
    whose runtime exposes GPUs another way). No `--rm`: the exit code must survive until the run
    is collected. `entrypoint` replaces the image's (a model whose entrypoint needs the network
    at every start); `keep_image_paths` are anonymous volumes (`-v /path`) that keep the image's
    own content visible under a bind mount (a venv inside a mounted checkout).
    """
    if not docker:
        raise ValueError("docker command is empty")
    if not _CONTAINER_NAME.fullmatch(name or ""):
        raise ValueError(f"container name {name!r} must match [A-Za-z0-9][A-Za-z0-9_.-]+")
    if not image or image.startswith("-"):
        raise ValueError(f"image {image!r} is not a valid image name")
    argv = [*docker, "run", "-d", "--name", name]
    for key, value in labels.items():
        if not _LABEL_KEY.fullmatch(key):
            raise ValueError(f"label key {key!r} must match [A-Za-z0-9][A-Za-z0-9._/-]*")
        argv += ["--label", f"{key}={value}"]
    for src, dst, read_only in mounts:
        for path in (src, dst):
            if not path.startswith("/") or ":" in path or "\0" in path:
                raise ValueError(f"mount path {path!r} must be absolute and contain no ':'")
        argv += ["-v", f"{src}:{dst}" + (":ro" if read_only else "")]
    for path in keep_image_paths:
        if not path.startswith("/") or ":" in path or "\0" in path:
            raise ValueError(f"kept image path {path!r} must be absolute and contain no ':'")
        argv += ["-v", path]
    if not workdir.startswith("/"):
        raise ValueError(f"workdir {workdir!r} must be an absolute container path")
    argv += ["-w", workdir]
    for key, value in env.items():
        if not _ENV_NAME.fullmatch(key):
            raise ValueError(f"environment variable name {key!r} is not valid")
        argv += ["-e", f"{key}={value}"]
    for key in pass_env:
        if not _ENV_NAME.fullmatch(key):
            raise ValueError(f"environment variable name {key!r} is not valid")
        argv += ["-e", key]
    if gpu_ids is not None:
        argv += ["--gpus", gpus_flag_value(gpu_ids)]
    if ipc_host:
        # torchrun workers share tensors through /dev/shm; docker's 64 MB default is too small.
        argv += ["--ipc", "host"]
    if network:
        argv += ["--network", network]
    if user is not None:
        if not re.fullmatch(r"\d+:\d+", user):
            raise ValueError(f"container user {user!r} must be uid:gid")
        # the files it writes stay the SSH user's; HOME must be somewhere that user may write
        argv += ["--user", user, "-e", "HOME=/tmp"]
    if entrypoint is not None:
        if not entrypoint or entrypoint.startswith("-") or "\0" in entrypoint:
            raise ValueError(f"entrypoint {entrypoint!r} is not a command")
        argv += ["--entrypoint", entrypoint]
    argv.append(image)
    argv += list(command)
    return argv


def shell_join(argv: Sequence[str]) -> str:
    """One shell-safe line for showing, storing or sending over SSH (shlex.join)."""
    return shlex.join(argv)


def pick_master_port(run_id: str, used: set[int], base: int = 29500, span: int = 1000) -> int:
    """A torchrun master port for this run, stable for the run id and not in `used`.

    Deterministic so a re-launch after a restart picks the same port; `used` holds the ports of
    the host's other active runs, which we skip.
    """
    if span < 1 or base < 1024 or base + span > 65536:
        raise ValueError(f"port range {base}..{base + span - 1} is not within 1024..65535")
    start = int.from_bytes(hashlib.sha256(run_id.encode("utf-8")).digest()[:8], "big") % span
    for step in range(span):
        port = base + (start + step) % span
        if port not in used:
            return port
    raise RuntimeError(f"every master port in {base}..{base + span - 1} is in use")
