"""`run` options -> the container's config (docker's Config + HostConfig shape).

Containers are host processes, so a few docker options change meaning:
* volumes must map a path to itself (the process sees host paths); `:ro` is recorded but not
  enforced;
* `--gpus` becomes `NVIDIA_VISIBLE_DEVICES` (host device ids, as the NVIDIA runtime sets it)
  and `CUDA_VISIBLE_DEVICES` (the container's renumbered view 0..n-1, what CUDA inside a real
  container enumerates). Without `--gpus` a real container sees no GPU, so
  `CUDA_VISIBLE_DEVICES` is set empty and the fake Cosmos fails as CUDA would;
* options that only matter to a real kernel sandbox (`--ipc`, `--network`, `--shm-size`,
  `--ulimit`, `--user`, ...) are accepted and recorded, not applied.
"""

from __future__ import annotations

import csv
import logging
import os
import re
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .cliopts import FLAG, MULTI, VALUE, build_table, parse
from .errors import CliError

log = logging.getLogger(__name__)

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#: The Cosmos image's CMD; used when `run` gets no command.
DEFAULT_CMD = ["bash"]
_NAME_RE = re.compile(r"^/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$")
_VOLUME_MODES = {
    "ro", "rw", "z", "Z", "shared", "rshared", "slave", "rslave", "private", "rprivate",
    "nocopy", "delegated", "cached", "consistent",
}

RUN_TABLE = build_table(
    [
        ("--detach|-d", FLAG, "detach"),
        ("--rm", FLAG, "rm"),
        ("--init", FLAG, "init"),
        ("--interactive|-i", FLAG, "interactive"),
        ("--tty|-t", FLAG, "tty"),
        ("--privileged", FLAG, "privileged"),
        ("--read-only", FLAG, "read_only"),
        ("--name", VALUE, "name"),
        ("--label|-l", MULTI, "label"),
        ("--volume|-v", MULTI, "volume"),
        ("--mount", MULTI, "mount"),
        ("--workdir|-w", VALUE, "workdir"),
        ("--env|-e", MULTI, "env"),
        ("--env-file", MULTI, "env_file"),
        ("--gpus", VALUE, "gpus"),
        ("--ipc", VALUE, "ipc"),
        ("--network|--net", VALUE, "network"),
        ("--user|-u", VALUE, "user"),
        ("--entrypoint", VALUE, "entrypoint"),
        ("--hostname|-h", VALUE, "hostname"),
        ("--shm-size", VALUE, "shm_size"),
        ("--ulimit", MULTI, "ulimit"),
        ("--memory|-m", VALUE, "memory"),
        ("--cpus", VALUE, "cpus"),
        ("--cap-add", MULTI, "cap_add"),
        ("--cap-drop", MULTI, "cap_drop"),
        ("--security-opt", MULTI, "security_opt"),
        ("--runtime", VALUE, "runtime"),
        ("--pull", VALUE, "pull"),
        ("--restart", VALUE, "restart"),
        ("--log-driver", VALUE, "log_driver"),
        ("--log-opt", MULTI, "log_opt"),
        ("--stop-signal", VALUE, "stop_signal"),
        ("--stop-timeout", VALUE, "stop_timeout"),
        ("--platform", VALUE, "platform"),
        ("--group-add", MULTI, "group_add"),
        ("--add-host", MULTI, "add_host"),
    ]
)


@dataclass
class RunRequest:
    """What `run` needs besides the config: how to attach and the container's env."""

    detach: bool
    name: str | None
    config: dict[str, Any]
    env: dict[str, str] = field(default_factory=dict)


def parse_run(args: list[str], caller_env: dict[str, str]) -> RunRequest:
    """Parse `run` arguments into a RunRequest; raises CliError(125) like docker."""
    opts, rest = parse("run", args, RUN_TABLE, interspersed=False)
    if not rest:
        raise CliError(
            "\"docker run\" requires at least 1 argument.\nSee 'docker run --help'.", 125
        )
    image, cmd = rest[0], rest[1:]
    name = opts.get("name")
    if name is not None and not _NAME_RE.match(str(name)):
        raise CliError(
            f"Error response from daemon: Invalid container name ({name}), only "
            "[a-zA-Z0-9][a-zA-Z0-9_.-] are allowed.\nSee 'docker run --help'.",
            125,
        )
    workdir = str(opts.get("workdir") or "/")
    if not os.path.isabs(workdir):
        raise CliError(
            f"Error response from daemon: the working directory '{workdir}' is invalid, "
            "it needs to be an absolute path.\nSee 'docker run --help'.",
            125,
        )
    binds = [_check_volume(v) for v in opts["volume"]]  # type: ignore[union-attr]
    mounts = [_check_mount(m) for m in opts["mount"]]  # type: ignore[union-attr]
    user_env = _user_env(opts, caller_env)
    gpu_env, device_requests = gpu_environment(opts.get("gpus"), caller_env)  # type: ignore[arg-type]
    entrypoint = opts.get("entrypoint")
    argv = ([str(entrypoint)] if entrypoint else []) + (cmd or ([] if entrypoint else DEFAULT_CMD))
    labels = dict(_split_label(lbl) for lbl in opts["label"])  # type: ignore[union-attr]
    config = {
        "Name": "/" + str(name).lstrip("/") if name else None,
        "Image": image,
        "Cmd": cmd or (None if entrypoint else DEFAULT_CMD),
        "Entrypoint": [entrypoint] if entrypoint else None,
        "Argv": argv,
        "WorkingDir": workdir,
        "Labels": labels,
        "User": opts.get("user") or "",
        "Hostname": opts.get("hostname"),
        "HostConfig": {
            "Binds": [b["spec"] for b in binds] or None,
            "AutoRemove": bool(opts.get("rm")),
            "Init": bool(opts.get("init")) or None,
            "IpcMode": opts.get("ipc") or "private",
            "NetworkMode": opts.get("network") or "default",
            "ShmSize": opts.get("shm_size"),
            "Ulimits": opts["ulimit"] or None,
            "Runtime": opts.get("runtime") or "cosmos-sim",
            "DeviceRequests": device_requests,
            "Privileged": bool(opts.get("privileged")),
        },
        "Mounts": [b["mount"] for b in binds] + mounts,
        "GpuEnv": gpu_env,
    }
    return RunRequest(
        detach=bool(opts.get("detach")),
        name=str(name).lstrip("/") if name else None,
        config=config,
        env=user_env,
    )


def _split_label(text: str) -> tuple[str, str]:
    key, _, value = text.partition("=")
    return key, value


def _user_env(opts: dict[str, Any], caller_env: dict[str, str]) -> dict[str, str]:
    """`--env-file` then `-e` values; `-e K` copies K from the caller, as docker does."""
    env: dict[str, str] = {}
    entries: list[str] = []
    for path in opts["env_file"]:
        try:
            lines = Path(path).read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise CliError(f"open {path}: {exc.strerror.lower()}\nSee 'docker run --help'.", 125)
        entries += [ln.strip() for ln in lines if ln.strip() and not ln.lstrip().startswith("#")]
    entries += list(opts["env"])
    for entry in entries:
        key, eq, value = entry.partition("=")
        if not key:
            raise CliError(f"invalid environment variable: {entry}\nSee 'docker run --help'.", 125)
        if eq:
            env[key] = value
        elif key in caller_env:
            env[key] = caller_env[key]
    return env


def _check_volume(spec: str) -> dict[str, Any]:
    """Validate `-v SRC:DST[:opts]`; containers are host processes so SRC must equal DST."""
    parts = spec.split(":")
    if len(parts) == 1:
        raise CliError(
            f"cosmos-sim runs containers as host processes; anonymous volumes are not "
            f"supported: {spec}",
            125,
        )
    if len(parts) > 3:
        raise CliError(f"Error response from daemon: invalid volume specification: '{spec}'", 125)
    src, dst = parts[0], parts[1]
    modes = parts[2].split(",") if len(parts) == 3 and parts[2] else []
    bad = [m for m in modes if m not in _VOLUME_MODES]
    if bad:
        raise CliError(f"Error response from daemon: invalid mode: {bad[0]}", 125)
    if not os.path.isabs(src):
        raise CliError(
            f"cosmos-sim runs containers as host processes; named volumes are not supported: "
            f"{spec}",
            125,
        )
    if not os.path.isabs(dst):
        raise CliError(
            f"Error response from daemon: invalid volume specification: '{spec}': "
            "mount path must be absolute",
            125,
        )
    if os.path.normpath(src) != os.path.normpath(dst):
        raise CliError(
            "cosmos-sim runs containers as host processes; a volume must map a path to "
            f"itself: {src}:{dst}",
            125,
        )
    os.makedirs(src, exist_ok=True)  # docker creates a missing bind source for -v
    rw = "ro" not in modes
    return {
        "spec": spec,
        "mount": {
            "Type": "bind",
            "Source": src,
            "Destination": dst,
            "Mode": ",".join(modes),
            "RW": rw,
            "Propagation": "rprivate",
        },
    }


def _check_mount(spec: str) -> dict[str, Any]:
    """Validate `--mount type=bind,source=..,target=..[,readonly]` with the identity rule."""
    fields: dict[str, str] = {}
    for item in next(csv.reader([spec])):
        key, _, value = item.partition("=")
        fields[key.strip()] = value.strip()
    kind = fields.get("type", "volume")
    src = fields.get("source") or fields.get("src") or ""
    dst = fields.get("target") or fields.get("destination") or fields.get("dst") or ""
    if kind != "bind":
        raise CliError(
            f"cosmos-sim runs containers as host processes; only bind mounts are supported: "
            f"{spec}",
            125,
        )
    if not src or not dst or os.path.normpath(src) != os.path.normpath(dst):
        raise CliError(
            "cosmos-sim runs containers as host processes; a volume must map a path to "
            f"itself: {src}:{dst}",
            125,
        )
    if not os.path.exists(src):
        raise CliError(
            f"invalid argument \"{spec}\" for \"--mount\" flag: bind source path does not "
            f"exist: {src}\nSee 'docker run --help'.",
            125,
        )
    readonly = fields.get("readonly", fields.get("ro", "false")) in ("", "true", "1")
    return {
        "Type": "bind",
        "Source": src,
        "Destination": dst,
        "Mode": "ro" if readonly else "",
        "RW": not readonly,
        "Propagation": "rprivate",
    }


def host_gpu_count(caller_env: dict[str, str]) -> int:
    """How many GPUs the simulated box has (env COSMOS_SIM_GPUS, default 8)."""
    try:
        return max(0, int(caller_env.get("COSMOS_SIM_GPUS", "8")))
    except ValueError:
        return 8


def gpu_environment(
    spec: str | None, caller_env: dict[str, str]
) -> tuple[dict[str, str], list[dict[str, Any]] | None]:
    """`--gpus` -> (env for the container, HostConfig.DeviceRequests)."""
    if spec is None:
        return {"CUDA_VISIBLE_DEVICES": ""}, None
    total = host_gpu_count(caller_env)
    devices: list[str] | None = None
    count: int | None = None
    for item in next(csv.reader([spec.strip().strip("'")])):
        item = item.strip().strip('"')
        key, eq, value = item.partition("=")
        if not eq and key == "all":
            count = -1
        elif not eq and key.isdigit():
            count = int(key)
        elif key == "count":
            count = -1 if value == "all" else _int_or_fail(value, spec)
        elif key == "device":
            devices = [d.strip() for d in value.split(",") if d.strip()]
        elif key in ("driver", "capabilities", "options"):
            continue
        else:
            raise CliError(f"invalid argument \"{spec}\" for \"--gpus\" flag\n"
                           "See 'docker run --help'.", 125)
    if devices is None:
        n = total if count in (None, -1) else count
        if n > total:
            raise CliError(
                "Error response from daemon: could not select device driver \"nvidia\" with "
                f"capabilities: [[gpu]]: requested {n} GPUs but the simulated host has {total}",
                125,
            )
        devices = [str(i) for i in range(n)]
    for dev in devices:
        if not dev.isdigit() or int(dev) >= total:
            raise CliError(
                "Error response from daemon: failed to create task for container: failed to "
                "create shim task: OCI runtime create failed: nvidia-container-cli: device "
                f"error: {dev}: unknown device: unknown",
                125,
            )
    env = {
        "NVIDIA_VISIBLE_DEVICES": "all" if count == -1 else ",".join(devices),
        "CUDA_VISIBLE_DEVICES": ",".join(str(i) for i in range(len(devices))),
    }
    request = [{
        "Driver": "",
        "Count": count if count is not None else 0,
        "DeviceIDs": devices if count is None else None,
        "Capabilities": [["gpu"]],
        "Options": {},
    }]
    return env, request


def _int_or_fail(value: str, spec: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise CliError(f"invalid argument \"{spec}\" for \"--gpus\" flag", 125) from None


def container_env(
    cid: str, config: dict[str, Any], user_env: dict[str, str], shims: Path, caller_env: dict[str, str]
) -> dict[str, str]:
    """The full environment of the container process.

    A clean minimal env like an image's (PATH, HOME, LANG, HOSTNAME), the GPU view, where the
    simulator's python and ffmpeg are, then the user's `-e` values on top. The shims folder is
    always first on PATH so `torchrun` (and `ffmpeg`) resolve to the simulator's.
    """
    env = {
        "PATH": os.pathsep.join([os.path.dirname(sys.executable), DEFAULT_PATH]),
        "HOSTNAME": config.get("Hostname") or cid[:12],
        "HOME": caller_env.get("HOME") or os.path.expanduser("~"),
        "LANG": "C.UTF-8",
        "COSMOS_SIM_PYTHON": sys.executable,
    }
    ffmpeg = find_ffmpeg(caller_env)
    if ffmpeg:
        env["COSMOS_SIM_FFMPEG"] = ffmpeg
    env.update(config.get("GpuEnv") or {})
    env.update(user_env)
    path_parts = env.get("PATH", "").split(os.pathsep)
    if str(shims) not in path_parts:
        env["PATH"] = os.pathsep.join([str(shims)] + [p for p in path_parts if p])
    return env


def find_ffmpeg(caller_env: dict[str, str]) -> str | None:
    """ffmpeg for the fake Cosmos: the caller's COSMOS_SIM_FFMPEG, imageio-ffmpeg's, or PATH."""
    if caller_env.get("COSMOS_SIM_FFMPEG"):
        return caller_env["COSMOS_SIM_FFMPEG"]
    try:
        import imageio_ffmpeg  # type: ignore[import-not-found]

        return str(imageio_ffmpeg.get_ffmpeg_exe())
    except Exception as exc:  # noqa: BLE001 - any failure means "not available here"
        log.debug("imageio-ffmpeg unavailable: %s", exc)
    return shutil.which("ffmpeg")
