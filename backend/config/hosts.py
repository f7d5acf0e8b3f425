"""One `[hosts.<name>]` table -> a HostConfig: the settings every kind of host shares.

What only one kind of host reads (Slurm's partition, account, ...) is that kind's business:
the kind (backend/extensions.py) lists its keys and reads them into `HostConfig.options`;
here the generic keys are read and a key of another kind is refused, naming its kind.
"""

from __future__ import annotations

import dataclasses
import posixpath
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from backend.config.reader import Reader, expand, expand_command, parse_mount

PULL_POLICIES = ("never", "missing", "always", "omit")
OFFLOAD_FLAGS = (
    "offload_diffusion_transformer",
    "offload_text_encoder_model",
    "offload_guardrail_models",
    "offload_prompt_upsampler",
)


@dataclass(frozen=True)
class HostConfig:
    """One GPU box (or the simulator box, or a cluster's login node) and how to drive it."""

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
    #: GPU memory (MiB) a run needs free on each of its GPUs; 0 = do not check (issue 16).
    vram_mb: int = 0
    #: Look at what really uses the box's GPUs before placing a run (nvidia-smi, containers
    #: of other installations, their leases under remote_root/leases) and take a lease there.
    check_box: bool = True
    #: What only this host's kind reads (e.g. backend.slurm.config.SlurmOptions), or None.
    options: Any = None
    #: The model profiles this host serves (backend/extensions.py), first = its default.
    models: tuple[str, ...] = ("transfer1",)
    #: Per served model: where its code is on the box (None: inside the image) and its image.
    model_places: Mapping[str, "ModelPlace"] = field(default_factory=dict)
    #: Whether `cosmos_checkout` is mounted into the container (False: the code is in the image).
    mount_checkout: bool = True
    #: What the container's entrypoint is replaced by, and image paths kept under the mount.
    entrypoint: str | None = None
    keep_image_paths: tuple[str, ...] = ()
    #: `cosmos setup` (issue 15): how the image is got ("build" the profile's Dockerfile at a
    #: pinned commit, or "pull" `image`), a Dockerfile on the box to build instead of the
    #: model's (its folder is the context), the commit of the model's repository to build at,
    #: a mirror of the checkpoints (a folder on the box or an http(s) URL) used instead of the
    #: model's own download step, and a file on the box holding the Hugging Face token.
    image_source: str = "build"
    dockerfile: str | None = None
    repo_commit: str | None = None
    checkpoint_source: str | None = None
    hf_token_file: str | None = None
    #: Retention (`cosmos prune` and the scheduler's automatic prune): collected run folders
    #: older than this many days go (0: never automatically), and the input cache is evicted
    #: least-recently-used down to this many GB (0: no cap).
    retention_days: float = 0.0
    cache_max_gb: float = 0.0
    #: Run containers as the SSH user's uid:gid (`--user`, HOME=/tmp), so what they write on
    #: the box is the user's, not root's; false (default): as the image's user (root), which
    #: every Cosmos image supports. `container_user` is the resolved "uid:gid", filled in at
    #: launch (not a config key). Setup's containers always run as the SSH user.
    run_as_user: bool = False
    container_user: str | None = None

    def serves(self, model: str) -> bool:
        return model in self.models

    def for_model(self, model: str) -> "HostConfig":
        """This host as a job of `model` sees it: that model's checkout, image and container
        paths (everything else stays the host's)."""
        place = self.model_places.get(model)
        if place is None:
            return self
        return dataclasses.replace(
            self, cosmos_checkout=place.checkout or "", image=place.image,
            container_checkout=place.container_checkout, mount_checkout=bool(place.checkout),
            entrypoint=place.entrypoint,
            # a stand-in checkout (simulated box) has no venv of its own to keep
            keep_image_paths=() if self.same_paths_in_container or self.simulated
            else place.keep_image_paths)

    def container_path(self, host_path: str) -> str:
        """Map a path under remote_root to where the container sees it."""
        if self.same_paths_in_container:
            return host_path
        rel = Path(host_path).relative_to(self.remote_root)
        return str(Path(self.container_root) / rel)

    @property
    def checkout_in_container(self) -> str:
        if self.same_paths_in_container and self.mount_checkout and self.cosmos_checkout:
            return self.cosmos_checkout
        return self.container_checkout


@dataclass(frozen=True)
class ModelPlace:
    """Where one model lives on one host: its checkout on the box (None: the code is in the
    image, built standalone), its image, and where the code is inside the container."""

    checkout: str | None
    image: str
    container_checkout: str
    entrypoint: str | None = None
    keep_image_paths: tuple[str, ...] = ()


#: The keys of a host table every kind reads.
GENERIC_KEYS = (frozenset(HostConfig.__dataclass_fields__)
                - {"name", "options", "model_places", "mount_checkout", "entrypoint",
                   "keep_image_paths", "container_user"}) | {"checkouts", "images"}


def _refuse_foreign_keys(r: Reader, kind_name: str, kinds: Mapping[str, Any]) -> None:
    """A key that belongs to another kind gets a message naming that kind."""
    for other in kinds.values():
        if other.name == kind_name:
            continue
        for key in other.option_keys:
            if key in r.table:
                raise r.fail(key, r.table[key], f"nothing here: {key} is only for kind = "
                             f"\"{other.name}\" hosts")


def read_host(path: Path, name: str, r: Reader, data_dir: Path) -> HostConfig:
    from backend.extensions import host_kinds  # the registry imports config: import late

    kinds = host_kinds()
    names = ", ".join(kinds)
    if not name.replace("-", "").replace("_", "").isalnum():
        raise r.fail("", name, "host names made of letters, digits, '-' and '_'")
    kind_name = r.get("kind", str, None, "one of " + names, lambda v: v in kinds)
    if kind_name is None:
        raise r.fail("kind", None, "one of " + names)
    kind = kinds[kind_name]
    _refuse_foreign_keys(r, kind_name, kinds)
    r.unknown_keys(set(GENERIC_KEYS) | set(kind.option_keys))
    docker_text = r.get("docker", str, "docker", "a command such as \"docker\", \"sudo docker\","
                        " \"podman\" or \"cosmos-sim\"", lambda v: bool(v.strip()))
    remote_root_raw = r.get("remote_root", str, None, "an absolute path (or {data_dir}/...)",
                            lambda v: bool(v.strip()))
    if remote_root_raw is None:
        raise r.fail("remote_root", None, "an absolute path (or {data_dir}/...)")
    local = not kind.remote(r.table)
    remote_root = expand(remote_root_raw, path.parent, local=local, data_dir=str(data_dir))
    if not remote_root.startswith("/"):
        raise r.fail("remote_root", remote_root_raw, "an absolute path on the box (no ~), or "
                     "{data_dir}/... for a local box")
    sub = {"data_dir": str(data_dir), "remote_root": remote_root}
    simulated = r.get("simulated", bool, False, "true or false")
    models = _read_models(r, simulated)
    from backend.models.profile import get_profile

    first = get_profile(models[0]).image
    checkout = expand(r.get("cosmos_checkout", str, "{remote_root}/" + first.checkout_dir,
                            f"a path to the {models[0]} checkout (the host's first model)"),
                      path.parent, local=local, **sub)
    if not checkout.startswith("/"):
        raise r.fail("cosmos_checkout", checkout, "an absolute path on the box (no ~)")
    gpus = r.get("gpus", list, kind.default_gpus(), "a list of GPU ids such as [0, 1, 2, 3]",
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
        mount = parse_mount(expand(text, path.parent, local=local, **sub))
        if mount is None:
            raise r.fail("extra_mounts", text, mounts_allowed)
        extra_mounts.append(mount)
    kind.check_table(r)
    options = kind.read_options(r, remote_root)
    image = r.get("image", str, first.default_image, "a Docker image name",
                  lambda v: bool(v.strip()))
    container_checkout = r.get("container_checkout", str, first.container_checkout,
                               "an absolute container path", lambda v: v.startswith("/"))
    places = _model_places(r, path, local, sub, models, simulated, checkout=checkout,
                           image=image, container_checkout=container_checkout)
    return HostConfig(
        name=name,
        kind=kind_name,
        docker=expand_command(docker_text, local, sub),
        remote_root=remote_root,
        cosmos_checkout=checkout,
        image=image,
        gpus=tuple(gpus),
        max_concurrent=r.get("max_concurrent", int, kind.default_max_concurrent(gpus),
                             "a whole number >= 1", lambda v: v >= 1),
        simulated=simulated,
        same_paths_in_container=r.get("same_paths_in_container", bool, False, "true or false"),
        container_root=r.get("container_root", str, "/cosmos", "an absolute container path",
                             lambda v: v.startswith("/")),
        container_checkout=container_checkout,
        checkpoint_dir=r.get("checkpoint_dir", str, "checkpoints",
                             "a path relative to the checkout or absolute in the container"),
        hf_home=expand(hf_home, path.parent, local=local, **sub) if hf_home else None,
        docker_gpus=r.get("docker_gpus", bool, True, "true or false"),
        gpu_query=expand_command(r.get(
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
        image_source=r.get("image_source", str, "build", "\"build\" or \"pull\"",
                           lambda v: v in ("build", "pull")),
        dockerfile=_box_path(r, "dockerfile", path, local, sub),
        repo_commit=r.get("repo_commit", str, None, "a git commit (hex) or tag",
                          lambda v: bool(v.strip()) and not v.startswith("-")),
        checkpoint_source=_checkpoint_source(r, path, local, sub),
        hf_token_file=_box_path(r, "hf_token_file", path, local, sub),
        retention_days=float(r.get("retention_days", (int, float), 0, "a number of days >= 0",
                                   lambda v: not isinstance(v, bool) and v >= 0)),
        cache_max_gb=float(r.get("cache_max_gb", (int, float), 0, "a number of GB >= 0",
                                 lambda v: not isinstance(v, bool) and v >= 0)),
        run_as_user=r.get("run_as_user", bool, False, "true or false"),
        vram_mb=r.get("vram_mb", int, 0, "a whole number of MiB >= 0 (free GPU memory a run "
                      "needs on each GPU; 0 = do not check)", lambda v: 0 <= v <= 10_000_000),
        check_box=r.get("check_box", bool, True, "true or false (look at the box's GPUs and "
                        "take a lease before placing a run)"),
        options=options,
        models=models,
        model_places=places,
    )


def _box_path(r: Reader, key: str, path: Path, local: bool, sub: Mapping[str, str]
              ) -> str | None:
    """An optional absolute path on the box ({remote_root}/... and {data_dir}/... allowed)."""
    text = r.get(key, str, None, "an absolute path on the box", lambda v: bool(v.strip()))
    if text is None:
        return None
    where = expand(text, path.parent, local=local, **sub)
    if not where.startswith("/") or ":" in where:
        raise r.fail(key, text, "an absolute path on the box (no ~, no ':')")
    return where


def _checkpoint_source(r: Reader, path: Path, local: bool, sub: Mapping[str, str]
                       ) -> str | None:
    text = r.get("checkpoint_source", str, None, "a folder on the box or an http(s):// URL",
                 lambda v: bool(v.strip()))
    if text is None or text.startswith(("http://", "https://")):
        return text
    return _box_path(r, "checkpoint_source", path, local, sub)


def _read_models(r: Reader, simulated: bool) -> tuple[str, ...]:
    """`models = [...]`: registered profile ids, no repeats. Default: every profile on the
    simulator box (its stand-in speaks them all), Transfer1 elsewhere (what configs written
    before profiles meant)."""
    from backend.extensions import model_profiles
    from backend.models.params import LEGACY_MODEL

    known = list(model_profiles())
    allowed = "a list of model ids drawn from " + ", ".join(known) + " (`cosmos models`)"
    default = known if simulated else [LEGACY_MODEL]
    models = r.get("models", list, default, allowed,
                   lambda v: bool(v) and all(isinstance(m, str) and m in known for m in v)
                   and len(set(v)) == len(v))
    return tuple(models)


def _model_places(r: Reader, path: Path, local: bool, sub: Mapping[str, str],
                  models: tuple[str, ...], simulated: bool, *, checkout: str, image: str,
                  container_checkout: str) -> dict[str, ModelPlace]:
    """Each served model's checkout and image. The first model's are `cosmos_checkout` and
    `image`; another's come from `checkouts`/`images`, else its profile's image and (on the
    simulator box, where a stand-in is installed) a checkout beside the first one; a real box
    without a checkout for it runs the code built into its image."""
    from backend.models.profile import get_profile

    mapping = "a table of model id = \"...\" for models this host serves (" + \
        ", ".join(models) + ")"
    checkouts = r.get("checkouts", dict, {}, mapping,
                      lambda v: all(k in models and isinstance(x, str) and x.strip()
                                    for k, x in v.items()))
    images = r.get("images", dict, {}, mapping,
                   lambda v: all(k in models and isinstance(x, str) and x.strip()
                                 for k, x in v.items()))
    places: dict[str, ModelPlace] = {}
    for index, model in enumerate(models):
        facts = get_profile(model).image
        if model in checkouts:
            where = expand(checkouts[model], path.parent, local=local, **sub)
            if not where.startswith("/"):
                raise r.fail("checkouts", checkouts[model], "absolute paths on the box (no ~)")
        elif index == 0:
            where = checkout
        elif simulated:
            where = posixpath.join(posixpath.dirname(checkout), facts.checkout_dir)
        else:
            where = None
        places[model] = ModelPlace(
            checkout=where, image=images.get(model, image if index == 0 else
                                              facts.default_image),
            container_checkout=container_checkout if index == 0 else facts.container_checkout,
            entrypoint=facts.entrypoint, keep_image_paths=facts.keep_image_paths if where
            else ())
    return places
