"""config.toml -> typed, validated Settings (hosts: hosts.py; value reading: reader.py).

Why hand-written validation instead of trusting TOML types: an artist edits this file by hand,
and a typo must stop the app at start with a message that names the file, the key, the bad
value and what is allowed, instead of failing an hour later on a GPU box.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

from backend.config.hosts import OFFLOAD_FLAGS, PULL_POLICIES, HostConfig, read_host  # noqa: F401
from backend.config.notify import NotifySettings, read_notify
from backend.config.prepare import PrepareSettings, read_prepare
from backend.config.people import (FairShare, SignInPolicy, read_cli_user, read_fair_share,
                                   read_input_roots, read_sign_in)
from backend.config.reader import ConfigError, Reader
from backend.models.transfer1.params import CONTROLS, GPU_COUNTS, PRESETS

#: Cosmos-Transfer1's own default negative prompt (transfer.py parse_arguments, word for word;
#: Transfer2.5's config.DEFAULT_NEGATIVE_PROMPT is the same text); never send an empty one.
DEFAULT_NEGATIVE_PROMPT = (
    "The video captures a game playing, with bad crappy graphics and cartoonish frames. It "
    "represents a recording of old outdated games. The lighting looks very fake. The textures "
    "are very raw and basic. The geometries are very primitive. The images are very pixelated "
    "and of poor CG quality. There are many subtitles in the footage. Overall, the video is "
    "unrealistic at all."
)
#: The file shipped next to launch.py.
from backend.paths import DEFAULT_CONFIG_PATH  # noqa: E402


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
    #: The model the Create form and the CLI start with (a registered profile id).
    model: str = "transfer1"


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
    reviewers_may_approve: bool = True  # [review]: may a reviewer set a version Approved?
    review_link_max_days: int = 30  # [review]: the longest a review link may stay valid
    #: issue 16: people (fair share, limits), who the CLI is, sign-in, inputs, the box check
    fair_share: FairShare = FairShare()
    cli_user: str | None = None
    sign_in: SignInPolicy = SignInPolicy()
    input_roots: tuple[Path, ...] = ()
    backfill: bool = False
    backfill_seconds: float = 0.0
    gpu_busy_memory_mb: float = 1024.0
    lease_seconds: float = 120.0
    #: issue 18: webhooks and the public address of the app ([notify])
    notify: NotifySettings = NotifySettings()
    #: issue 18: image sequences -> input and control videos ([prepare])
    prepare: PrepareSettings = PrepareSettings()

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


def load_config(path: str | Path | None = None, *, data_dir: str | Path | None = None) -> Settings:
    """Read and validate a config file; `data_dir` (e.g. from --data-dir) overrides the file."""
    path = Path(path or DEFAULT_CONFIG_PATH).expanduser().resolve()
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    root = Reader(path, raw)
    root.unknown_keys({"data_dir", "ui", "generation", "scheduler", "hosts", "fair_share",
                       "cli", "review", "notify", "prepare"})

    data_text = str(data_dir) if data_dir is not None else root.get(
        "data_dir", str, "data", "a folder path", lambda v: bool(v.strip()))
    resolved_data = Path(data_text).expanduser()
    if not resolved_data.is_absolute():
        base = Path.cwd() if data_dir is not None else path.parent
        resolved_data = (base / resolved_data).resolve()

    ui = root.sub("ui")
    ui.unknown_keys({"host", "port", "max_upload_mb", "input_roots", "session_hours",
                     "sign_in_free_attempts", "sign_in_lockout_after", "sign_in_lockout_minutes"})
    gen = root.sub("generation")
    gen.unknown_keys(set(GenerationDefaults.__dataclass_fields__))
    sched = root.sub("scheduler")
    sched.unknown_keys({"poll_interval", "kill_grace", "telemetry_interval", "batching",
                        "max_batch", "stale_worker_seconds", "backfill", "backfill_seconds",
                        "gpu_busy_memory_mb", "lease_seconds"})

    review = root.sub("review")
    review.unknown_keys({"reviewers_may_approve", "link_max_days"})

    hosts_r = root.sub("hosts")
    hosts: dict[str, HostConfig] = {}
    for name in hosts_r.table:
        hosts[name] = read_host(path, name, hosts_r.sub(name), resolved_data)
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
    from backend.extensions import model_profiles
    from backend.models.params import LEGACY_MODEL

    default_model = gen.get("model", str, LEGACY_MODEL, "a model the default host "
                            f"{default_host} serves: " + ", ".join(hosts[default_host].models),
                            lambda v: v in model_profiles() and hosts[default_host].serves(v))
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
        model=default_model,
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
        reviewers_may_approve=review.get("reviewers_may_approve", bool, True, "true or false"),
        review_link_max_days=review.get("link_max_days", int, 30, "a whole number of days "
                                        "from 1 to 365", lambda v: 1 <= v <= 365),
        fair_share=read_fair_share(root),
        cli_user=read_cli_user(root),
        sign_in=_checked_sign_in(ui),
        input_roots=read_input_roots(ui, path.parent),
        backfill=sched.get("backfill", bool, False, "true or false"),
        backfill_seconds=sched.get("backfill_seconds", float, 0.0, "a number of seconds from "
                                   "0 to 86400 (0: no time limit, fair share alone bounds "
                                   "backfill)", lambda v: 0 <= v <= 86400),
        gpu_busy_memory_mb=sched.get("gpu_busy_memory_mb", float, 1024.0, "a number of MiB "
                                     "from 1 to 1000000", lambda v: 1 <= v <= 1_000_000),
        lease_seconds=sched.get("lease_seconds", float, 120.0, "a number of seconds from 10 "
                                "to 3600", lambda v: 10 <= v <= 3600),
        notify=read_notify(root),
        prepare=read_prepare(root),
    )


def _checked_sign_in(ui: Reader) -> SignInPolicy:
    policy = read_sign_in(ui)
    if policy.lockout_after <= policy.free_attempts:
        raise ui.fail("sign_in_lockout_after", policy.lockout_after, "a number above "
                      f"sign_in_free_attempts ({policy.free_attempts})")
    return policy
