"""config.toml -> typed, validated settings.

Why hand-written validation instead of trusting TOML types: an artist edits this file by hand,
and a typo must stop the app at start with a message that names the file, the key, the bad
value and what is allowed, instead of failing an hour later on a GPU box.
"""

from __future__ import annotations

import os
import re
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

from backend.models.transfer1.params import CONTROLS, GPU_COUNTS, PRESETS

HOST_KINDS = ("local", "ssh", "slurm")
#: How a Slurm job runs the container (kind = "slurm"): Docker on the node, Pyxis/Enroot
#: (`srun --container-image`), or no container at all (job.sh on the node; simulator/tests).
SLURM_CONTAINERS = ("docker", "pyxis", "none")
#: How a Slurm job asks for its GPUs: `--gres=gpu:N` or `--gpus=N`.
GRES_STYLES = ("gres", "gpus")
#: Keys that only mean something for kind = "slurm".
SLURM_KEYS = ("partition", "account", "time_limit", "gres_style", "sbatch_extra",
              "slurm_container", "slurm_env")
#: kind = "slurm": how many of a host's runs may sit in Slurm (queued or running) at once by
#: default. Slurm owns queueing and GPU placement, so this only guards against flooding it.
SLURM_MAX_JOBS = 256
_SLURM_TIME = re.compile(r"(?:\d+-)?\d+(?::\d{1,2}){0,2}|UNLIMITED|INFINITE")
_SLURM_NAME = re.compile(r"[A-Za-z0-9_.\-]+")
PULL_POLICIES = ("never", "missing", "always", "omit")
OFFLOAD_FLAGS = (
    "offload_diffusion_transformer",
    "offload_text_encoder_model",
    "offload_guardrail_models",
    "offload_prompt_upsampler",
)
#: Cosmos-Transfer1's own default negative prompt (transfer.py); never send an empty one.
DEFAULT_NEGATIVE_PROMPT = (
    "The video captures a series of frames showing ugly scenes, static with no motion, motion "
    "blur, over-saturation, shaky footage, low resolution, grainy texture, pixelated images, "
    "poorly lit areas, underexposed and overexposed scenes, poor color balance, washed out "
    "colors, choppy sequences, jerky movements, low frame rate, artifacting, color banding, "
    "unnatural transitions, outdated special effects, fake elements, unconvincing visuals, "
    "poorly edited content, jump cuts, visual noise, and flickering. Overall, the video is of "
    "poor quality."
)
#: The file shipped next to launch.py.
from backend.paths import DEFAULT_CONFIG_PATH  # noqa: E402


class ConfigError(ValueError):
    """A setting is wrong; the message is meant for the person who edits the file."""


@dataclass(frozen=True)
class HostConfig:
    """One GPU box (or the simulator box) and how to drive Docker on it."""

    name: str
    kind: str
    docker: tuple[str, ...]
    remote_root: str
    cosmos_checkout: str
    image: str
    gpus: tuple[int, ...]
    max_concurrent: int
    simulated: bool = False
    same_paths_in_container: bool = False
    container_root: str = "/cosmos"
    container_checkout: str = "/workspace/cosmos-transfer1"
    checkpoint_dir: str = "checkpoints"
    hf_home: str | None = None
    docker_gpus: bool = True
    gpu_query: tuple[str, ...] = ("nvidia-smi",)
    ipc_host: bool = True
    network: str | None = None
    #: Extra bind mounts "src:dst[:ro|rw]" (e.g. host binaries for a minimal test image).
    extra_mounts: tuple[tuple[str, str, bool], ...] = ()
    #: `docker run --pull` policy; "never" fails at once on a missing image instead of trying
    #: a registry; "omit" leaves the flag out (engines older than Docker 20.10).
    pull: str = "never"
    offload: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    pass_env: tuple[str, ...] = ("HF_TOKEN",)
    hostname: str | None = None
    user: str | None = None
    port: int | None = None
    identity_file: str | None = None
    trust_on_first_use: bool = False
    # kind = "slurm": the login node is reached like an ssh host (or is this machine when
    # hostname is not set); see backend/slurm_executor.py.
    partition: str | None = None
    account: str | None = None
    time_limit: str | None = None
    gres_style: str = "gres"
    sbatch_extra: tuple[str, ...] = ()
    slurm_container: str = "docker"
    slurm_env: Mapping[str, str] = field(default_factory=dict)

    def container_path(self, host_path: str) -> str:
        """Map a path under remote_root to where the container sees it."""
        if self.same_paths_in_container:
            return host_path
        rel = Path(host_path).relative_to(self.remote_root)
        return str(Path(self.container_root) / rel)

    @property
    def checkout_in_container(self) -> str:
        return self.cosmos_checkout if self.same_paths_in_container else self.container_checkout


@dataclass(frozen=True)
class GenerationDefaults:
    host: str
    negative_prompt: str
    sigma_max: float
    guidance: float
    num_steps: int
    seed: int
    blur_strength: str
    canny_threshold: str
    num_gpus: int
    upscale_weight: float
    weights: Mapping[str, float]


@dataclass(frozen=True)
class Settings:
    config_path: Path
    data_dir: Path
    ui_host: str
    ui_port: int
    max_upload_mb: int
    generation: GenerationDefaults
    poll_interval: float
    kill_grace: int
    telemetry_interval: float
    hosts: Mapping[str, HostConfig]
    batching: bool = False
    max_batch: int = 4
    stale_worker_seconds: float = 15.0

    @property
    def db_path(self) -> Path:
        return self.data_dir / "cosmos.db"

    @property
    def runs_dir(self) -> Path:
        """Local copies of each run's log and outputs."""
        return self.data_dir / "runs"

    @property
    def uploads_dir(self) -> Path:
        return self.data_dir / "uploads"


class _Reader:
    """Reads typed values out of a TOML table and words errors the same way every time."""

    def __init__(self, path: Path, table: Mapping[str, Any], prefix: str = "") -> None:
        self.path = path
        self.table = table
        self.prefix = prefix

    def fail(self, key: str, value: Any, allowed: str) -> ConfigError:
        return ConfigError(
            f"{self.path}: {self.prefix}{key} = {value!r} is not valid; allowed: {allowed}"
        )

    def sub(self, key: str) -> "_Reader":
        value = self.table.get(key, {})
        if not isinstance(value, dict):
            raise self.fail(key, value, "a table")
        return _Reader(self.path, value, f"{self.prefix}{key}.")

    def get(self, key: str, kind: type | tuple[type, ...], default: Any, allowed: str,
            check: Callable[[Any], bool] = lambda v: True) -> Any:
        value = self.table.get(key, default)
        if value is None and default is None:
            return None
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if isinstance(value, bool) and kind is not bool:
            raise self.fail(key, value, allowed)
        if not isinstance(value, kind) or not check(value):
            raise self.fail(key, value, allowed)
        return value

    def unknown_keys(self, known: set[str]) -> None:
        extra = sorted(set(self.table) - known)
        if extra:
            raise ConfigError(
                f"{self.path}: unknown key {self.prefix}{extra[0]}; allowed keys here: "
                + ", ".join(sorted(known))
            )


def _expand(text: str, base: Path, *, local: bool = True, **values: str) -> str:
    """Fill {data_dir}/{remote_root}; expand ~ only for paths on this machine.

    On an SSH box `~` would mean the remote home, which SFTP cannot resolve; such paths must
    be absolute and are checked where they are read.
    """
    for name, value in values.items():
        text = text.replace("{" + name + "}", value)
    return str(Path(text).expanduser()) if local else text


def _expand_command(text: str, local: bool, values: Mapping[str, str]) -> tuple[str, ...]:
    """A command line from config: placeholders filled, split like a shell would.

    Not run through Path() as paths are: that would turn `docker -H unix:///x.sock` into
    `unix:/x.sock`. A leading `~` is still expanded on a local box.
    """
    for name, value in values.items():
        text = text.replace("{" + name + "}", value)
    words = shlex.split(text)
    if local and words:
        words[0] = os.path.expanduser(words[0])
    return tuple(words)


def _parse_mount(text: str) -> tuple[str, str, bool] | None:
    """"/src:/dst[:ro|rw]" -> (src, dst, read_only), or None if it is not that shape."""
    parts = text.split(":")
    if len(parts) == 3 and parts[2] in ("ro", "rw"):
        read_only = parts[2] == "ro"
    elif len(parts) == 2:
        read_only = False
    else:
        return None
    src, dst = parts[0], parts[1]
    if not (src.startswith("/") and dst.startswith("/")):
        return None
    return src, dst, read_only


def _read_host(path: Path, name: str, r: _Reader, data_dir: Path) -> HostConfig:
    r.unknown_keys(set(HostConfig.__dataclass_fields__) - {"name"})
    if not name.replace("-", "").replace("_", "").isalnum():
        raise r.fail("", name, "host names made of letters, digits, '-' and '_'")
    kind = r.get("kind", str, None, "one of " + ", ".join(HOST_KINDS), lambda v: v in HOST_KINDS)
    if kind is None:
        raise r.fail("kind", None, "one of " + ", ".join(HOST_KINDS))
    docker_text = r.get("docker", str, "docker", "a command such as \"docker\", \"sudo docker\","
                        " \"podman\" or \"cosmos-sim\"", lambda v: bool(v.strip()))
    remote_root_raw = r.get("remote_root", str, None, "an absolute path (or {data_dir}/...)",
                            lambda v: bool(v.strip()))
    if remote_root_raw is None:
        raise r.fail("remote_root", None, "an absolute path (or {data_dir}/...)")
    local = kind == "local" or (kind == "slurm" and not r.table.get("hostname"))
    remote_root = _expand(remote_root_raw, path.parent, local=local, data_dir=str(data_dir))
    if not remote_root.startswith("/"):
        raise r.fail("remote_root", remote_root_raw, "an absolute path on the box (no ~), or "
                     "{data_dir}/... for a local box")
    sub = {"data_dir": str(data_dir), "remote_root": remote_root}
    checkout = _expand(r.get("cosmos_checkout", str, "{remote_root}/cosmos-transfer1",
                             "a path to the Cosmos-Transfer1 checkout"), path.parent,
                       local=local, **sub)
    if not checkout.startswith("/"):
        raise r.fail("cosmos_checkout", checkout, "an absolute path on the box (no ~)")
    # On a Slurm cluster Slurm picks the GPUs; `gpus` then only says how many one node has
    # (the most a run may ask for).
    gpus = r.get("gpus", list, list(range(8)) if kind == "slurm" else [0],
                 "a list of GPU ids such as [0, 1, 2, 3]",
                 lambda v: all(isinstance(g, int) and not isinstance(g, bool) and g >= 0
                               for g in v) and len(set(v)) == len(v))
    env = r.get("env", dict, {}, "a table of NAME = \"value\" strings",
                lambda v: all(isinstance(k, str) and isinstance(x, str) for k, x in v.items()))
    offload = r.get("offload", list, [], "a list drawn from " + ", ".join(OFFLOAD_FLAGS),
                    lambda v: all(f in OFFLOAD_FLAGS for f in v))
    hf_home = r.get("hf_home", str, None, "a path on the host")
    mounts_allowed = ("a list of \"/host/path:/container/path\" strings, each optionally ending"
                      " in :ro or :rw; both paths absolute")
    mount_texts = r.get("extra_mounts", list, [], mounts_allowed,
                        lambda v: all(isinstance(m, str) for m in v))
    extra_mounts = []
    for text in mount_texts:
        mount = _parse_mount(_expand(text, path.parent, local=local, **sub))
        if mount is None:
            raise r.fail("extra_mounts", text, mounts_allowed)
        extra_mounts.append(mount)
    if kind == "ssh" and not r.table.get("hostname"):
        raise r.fail("hostname", None, "the SSH host name or ~/.ssh/config alias (required for"
                     " kind = \"ssh\")")
    slurm = _read_slurm(r, kind, remote_root)
    return HostConfig(
        name=name,
        kind=kind,
        docker=_expand_command(docker_text, local, sub),
        remote_root=remote_root,
        cosmos_checkout=checkout,
        image=r.get("image", str, "cosmos-transfer1:latest", "a Docker image name",
                    lambda v: bool(v.strip())),
        gpus=tuple(gpus),
        max_concurrent=r.get("max_concurrent", int,
                             SLURM_MAX_JOBS if kind == "slurm" else max(1, len(gpus)),
                             "a whole number >= 1", lambda v: v >= 1),
        simulated=r.get("simulated", bool, False, "true or false"),
        same_paths_in_container=r.get("same_paths_in_container", bool, False, "true or false"),
        container_root=r.get("container_root", str, "/cosmos", "an absolute container path",
                             lambda v: v.startswith("/")),
        container_checkout=r.get("container_checkout", str, "/workspace/cosmos-transfer1",
                                 "an absolute container path", lambda v: v.startswith("/")),
        checkpoint_dir=r.get("checkpoint_dir", str, "checkpoints",
                             "a path relative to the checkout or absolute in the container"),
        hf_home=_expand(hf_home, path.parent, local=local, **sub) if hf_home else None,
        docker_gpus=r.get("docker_gpus", bool, True, "true or false"),
        gpu_query=_expand_command(r.get(
            "gpu_query", str, "nvidia-smi", "the nvidia-smi command on the box",
            lambda v: bool(v.strip())), local, sub),
        ipc_host=r.get("ipc_host", bool, True, "true or false"),
        network=r.get("network", str, None, "a docker network name such as \"none\""),
        extra_mounts=tuple(extra_mounts),
        pull=r.get("pull", str, "never", "one of " + ", ".join(PULL_POLICIES),
                   lambda v: v in PULL_POLICIES),
        offload=tuple(offload),
        env=dict(env),
        pass_env=tuple(r.get("pass_env", list, ["HF_TOKEN"], "a list of variable names",
                             lambda v: all(isinstance(x, str) and x.isidentifier() for x in v))),
        hostname=r.get("hostname", str, None, "a host name or ~/.ssh/config alias"),
        user=r.get("user", str, None, "a user name"),
        port=r.get("port", int, None, "a port number 1-65535", lambda v: 0 < v < 65536),
        identity_file=r.get("identity_file", str, None, "a path to a private key"),
        trust_on_first_use=r.get("trust_on_first_use", bool, False, "true or false"),
        **slurm,
    )


def _read_slurm(r: _Reader, kind: str, remote_root: str) -> dict[str, Any]:
    """The kind = "slurm" settings (refused, saying why, on any other kind)."""
    if kind != "slurm":
        for key in SLURM_KEYS:
            if key in r.table:
                raise r.fail(key, r.table[key], f"nothing here: {key} is only for kind = "
                             "\"slurm\" hosts")
        return {}
    if any(ch.isspace() for ch in remote_root):
        raise r.fail("remote_root", remote_root, "a path without spaces on a Slurm host (it is "
                     "written into #SBATCH lines)")
    container = r.get("slurm_container", str, "docker", "one of " + ", ".join(SLURM_CONTAINERS)
                      + " (how the job runs Cosmos on the node)",
                      lambda v: v in SLURM_CONTAINERS)
    if container == "none" and not r.table.get("same_paths_in_container", False):
        raise r.fail("slurm_container", container, "\"none\" only with same_paths_in_container "
                     "= true (without a container, job.sh sees the cluster's own paths)")
    extra = r.get("sbatch_extra", list, [], "a list of sbatch options such as "
                  "[\"--qos=high\", \"--constraint=a100\"] (one option per item)",
                  lambda v: all(isinstance(x, str) and x.strip().startswith("-")
                                and "\n" not in x and "\r" not in x for x in v))
    env = r.get("slurm_env", dict, {}, "a table of NAME = \"value\" strings for the Slurm "
                "commands, such as { SLURM_CONF = \"/etc/slurm/slurm.conf\" }",
                lambda v: all(isinstance(k, str) and k.isidentifier() and isinstance(x, str)
                              for k, x in v.items()))
    return dict(
        partition=r.get("partition", str, None, "a Slurm partition name (or several, comma "
                        "separated)", lambda v: all(_SLURM_NAME.fullmatch(p)
                                                    for p in v.split(","))),
        account=r.get("account", str, None, "a Slurm account name",
                      lambda v: bool(_SLURM_NAME.fullmatch(v))),
        time_limit=r.get("time_limit", str, None, "a Slurm time limit such as \"90\" "
                         "(minutes), \"4:00:00\", \"1-12:00:00\" or \"UNLIMITED\"",
                         lambda v: bool(_SLURM_TIME.fullmatch(v))),
        gres_style=r.get("gres_style", str, "gres", "\"gres\" (--gres=gpu:N) or \"gpus\" "
                         "(--gpus=N)", lambda v: v in GRES_STYLES),
        sbatch_extra=tuple(x.strip() for x in extra),
        slurm_container=container,
        slurm_env=dict(env),
    )


def load_config(path: str | Path | None = None, *, data_dir: str | Path | None = None) -> Settings:
    """Read and validate a config file; `data_dir` (e.g. from --data-dir) overrides the file."""
    path = Path(path or DEFAULT_CONFIG_PATH).expanduser().resolve()
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    root = _Reader(path, raw)
    root.unknown_keys({"data_dir", "ui", "generation", "scheduler", "hosts"})

    data_text = str(data_dir) if data_dir is not None else root.get(
        "data_dir", str, "data", "a folder path", lambda v: bool(v.strip()))
    resolved_data = Path(data_text).expanduser()
    if not resolved_data.is_absolute():
        base = Path.cwd() if data_dir is not None else path.parent
        resolved_data = (base / resolved_data).resolve()

    ui = root.sub("ui")
    ui.unknown_keys({"host", "port", "max_upload_mb"})
    gen = root.sub("generation")
    gen.unknown_keys(set(GenerationDefaults.__dataclass_fields__))
    sched = root.sub("scheduler")
    sched.unknown_keys({"poll_interval", "kill_grace", "telemetry_interval", "batching",
                        "max_batch", "stale_worker_seconds"})

    hosts_r = root.sub("hosts")
    hosts: dict[str, HostConfig] = {}
    for name in hosts_r.table:
        hosts[name] = _read_host(path, name, hosts_r.sub(name), resolved_data)
    if not hosts:
        raise ConfigError(f"{path}: no [hosts.<name>] table; define at least one host "
                          "(the shipped config.toml has the simulator box [hosts.sim])")

    weights = gen.get("weights", dict, {"edge": 1.0}, "a table of control = weight with "
                      "controls from " + ", ".join(CONTROLS) + " and weights between 0 and 1",
                      lambda v: all(k in CONTROLS and isinstance(w, (int, float))
                                    and not isinstance(w, bool) and 0 <= w <= 1
                                    for k, w in v.items()))
    default_host = gen.get("host", str, next(iter(hosts)), "one of the hosts: "
                           + ", ".join(hosts), lambda v: v in hosts)
    generation = GenerationDefaults(
        host=default_host,
        negative_prompt=gen.get("negative_prompt", str, DEFAULT_NEGATIVE_PROMPT, "a non-empty text (Cosmos crashes"
                                " on an empty negative prompt)", lambda v: bool(v.strip())),
        sigma_max=gen.get("sigma_max", float, 70.0, "a number from 0 to 80",
                          lambda v: 0 <= v <= 80),
        guidance=gen.get("guidance", float, 5.0, "a number from 0 to 20", lambda v: 0 <= v <= 20),
        num_steps=gen.get("num_steps", int, 35, "a whole number from 1 to 200",
                          lambda v: 1 <= v <= 200),
        seed=gen.get("seed", int, 1, "a whole number from 0 to 4294967295",
                     lambda v: 0 <= v < 2**32),
        blur_strength=gen.get("blur_strength", str, "medium", "one of " + ", ".join(PRESETS),
                              lambda v: v in PRESETS),
        canny_threshold=gen.get("canny_threshold", str, "medium", "one of " + ", ".join(PRESETS),
                                lambda v: v in PRESETS),
        num_gpus=gen.get("num_gpus", int, 1, "one of 1, 2, 4, 8", lambda v: v in GPU_COUNTS),
        upscale_weight=gen.get("upscale_weight", float, 0.5, "a number from 0 to 1",
                               lambda v: 0 <= v <= 1),
        weights={c: float(weights.get(c, 0.0)) for c in CONTROLS},
    )
    return Settings(
        config_path=path,
        data_dir=resolved_data,
        ui_host=ui.get("host", str, "127.0.0.1", "an IP address or host name",
                       lambda v: bool(v.strip())),
        ui_port=ui.get("port", int, 7860, "a port number 1-65535", lambda v: 0 < v < 65536),
        max_upload_mb=ui.get("max_upload_mb", int, 500, "a whole number of MB >= 1",
                             lambda v: v >= 1),
        generation=generation,
        poll_interval=sched.get("poll_interval", float, 0.2, "a number of seconds from 0.05 to 10",
                                lambda v: 0.05 <= v <= 10),
        kill_grace=sched.get("kill_grace", int, 10, "a whole number of seconds from 0 to 3600",
                             lambda v: 0 <= v <= 3600),
        telemetry_interval=sched.get("telemetry_interval", float, 2.0,
                                     "a number of seconds from 0.5 to 300",
                                     lambda v: 0.5 <= v <= 300),
        batching=sched.get("batching", bool, False, "true or false"),
        max_batch=sched.get("max_batch", int, 4, "a whole number from 2 to 64",
                            lambda v: 2 <= v <= 64),
        stale_worker_seconds=sched.get("stale_worker_seconds", float, 15.0,
                                       "a number of seconds from 3 to 3600",
                                       lambda v: 3 <= v <= 3600),
        hosts=hosts,
    )
