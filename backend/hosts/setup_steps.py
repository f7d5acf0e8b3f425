"""`cosmos setup`'s steps on one box, for one model: root, image, checkpoints, manifest.

Each step is safe to repeat and says what it found: what is there already is reused (and the
log says so), what is missing is made. The long steps (a build, a pull, a fetch) stream their
output through `SetupIO.stream`, which the run executor (backend/runs/setup_run.py) feeds into
the run's log and stops on a kill. Every command is an argument list; the Hugging Face token
reaches the fetch container through a read-only mounted file or a `-e HF_TOKEN` whose value
docker takes from its own environment on the box, never through an argv, a log or an event.
"""

from __future__ import annotations

import json
import posixpath
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from backend.config import HostConfig
from backend.hosts import hf_cache, manifest
from backend.hosts.kind import SetupEngines
from backend.hosts.doctor_models import SUSPICIOUS_BYTES, _checkpoint_root
from backend.hosts.doctor_report import last_line
from backend.remote.docker import LABEL_APP, LABEL_RUN
from backend.remote.shell import Shell

FETCH_SCRIPT = Path(__file__).with_name("setup_fetch.py")
#: The label a setup container carries (prune and the Hosts tab know it as ours).
LABEL_SETUP = "cosmos.setup"
#: Where the simulator box keeps its stand-in model store (under remote_root).
SIM_STORE = "setup/sim-model-store"


class SetupFailed(Exception):
    """A step cannot go on: the cause, and the exact command or key that fixes it."""

    def __init__(self, cause: str, fix: str = "") -> None:
        super().__init__(cause)
        self.cause, self.fix = cause, fix


class SetupCancelled(Exception):
    """The user killed the setup."""


@dataclass
class SetupIO:
    """How steps talk to the run: a log line, and a long command streamed into the log
    (`container`: the container to kill when the user kills the setup; a non-zero exit raises
    SetupFailed with the last lines); and where engine commands run (the host kind's choice:
    the box's own `docker`, or srun onto a cluster's nodes)."""

    say: Callable[[str], None]
    stream: Callable[[Sequence[str], str | None], list[str]]
    run_id: str
    instance_id: str
    engines: SetupEngines


def _fail_if(result: Any, cause: str, fix: str = "") -> None:
    if not result.ok:
        raise SetupFailed(f"{cause}: {last_line(result)}", fix)


# -- remote_root ------------------------------------------------------------------------------
def check_root(host: HostConfig, shell: Shell, io: SetupIO) -> None:
    """remote_root exists (made if need be) and the SSH user may write there."""
    root, who = host.remote_root, host.user or "the SSH user"
    fix = (f"on the box: sudo mkdir -p {root} && sudo chown {who} {root}; or set remote_root "
           f"in [hosts.{host.name}] to a folder {who} owns")
    result = shell.run(["mkdir", "-p", "--", root], timeout=60)
    _fail_if(result, f"remote_root {root} cannot be created", fix)
    probe = posixpath.join(root, f".cosmos-write-test-{io.run_id}")
    result = shell.run(["touch", "--", probe], timeout=60)
    _fail_if(result, f"remote_root {root} is not writable by {who}", fix)
    shell.run(["rm", "-f", "--", probe], timeout=60)
    free = shell.run(["df", "-Pk", "--", root], timeout=60)
    avail = free.out.splitlines()[-1].split()[3] if free.ok and free.out.strip() else "?"
    io.say(f"remote_root {root}: exists and is writable ({_gb(avail)} free)")


def _gb(kib: str) -> str:
    return f"{int(kib) / (1 << 20):.1f} GB" if kib.isdigit() else "unknown space"


def user_flag(shell: Shell) -> list[str]:
    """`--user uid:gid` of the SSH user, so what containers write stays the user's."""
    uid, gid = shell.run(["id", "-u"], timeout=30), shell.run(["id", "-g"], timeout=30)
    if uid.ok and gid.ok and uid.out.strip().isdigit() and gid.out.strip().isdigit():
        return ["--user", f"{uid.out.strip()}:{gid.out.strip()}"]
    return []


# -- the image --------------------------------------------------------------------------------
def image_digest(host: HostConfig, shell: Shell, image: str,
                 docker: Sequence[str] | None = None) -> str | None:
    """The image's content id (`sha256:...`) on the box, or None when it is not there (on
    any of the machines `docker` reaches: srun prints one line per node)."""
    result = shell.run([*(docker or host.docker), "image", "inspect", "--format", "{{.Id}}",
                        image], timeout=300)
    digest = result.out.strip().splitlines()[0] if result.ok and result.out.strip() else ""
    return digest or None


def get_image(host: HostConfig, shell: Shell, io: SetupIO, profile: Any,
              previous: dict[str, Any] | None = None) -> tuple[str, str, str | None]:
    """Build or pull the model's image; (digest, how it was got, the commit built at). An
    image already there is reused, keeping what the last setup recorded of it."""
    place = host.for_model(profile.id)
    image = place.image
    engine = io.engines.every
    have = image_digest(host, shell, image, engine)
    if host.image_source == "pull":
        io.say(f"image {image}: pulling")
        io.stream([*engine, "pull", image], None)
        digest = image_digest(host, shell, image, engine)
        if digest is None:
            raise SetupFailed(f"{image} is still not on the box after the pull",
                              f"check `{' '.join(host.docker)} pull {image}` on the box")
        io.say(f"image {image}: {digest} (pulled)")
        return digest, "pull", None
    if have is not None:
        what = "the simulator's stand-in" if host.simulated and not host.dockerfile else \
            "already on the box"
        io.say(f"image {image}: {what} ({have}), reusing it")
        if previous and previous.get("image_digest") == have:
            return have, previous.get("image_source") or "present", previous.get("commit")
        return have, "present", None
    context, dockerfile, commit = _build_context(host, shell, io, profile)
    io.say(f"image {image}: building {dockerfile}" + (f" at {commit}" if commit else ""))
    build_args = [] if host.dockerfile else [
        a for arg in profile.image.build_args for a in ("--build-arg", arg)]
    io.stream([*engine, "build", *build_args, "-t", image, "-f", dockerfile, context], None)
    digest = image_digest(host, shell, image, engine)
    if digest is None:
        raise SetupFailed(f"the build of {image} ended but the image is not on the box",
                          f"run `{' '.join(host.docker)} build -t {image} -f {dockerfile} "
                          f"{context}` on the box and read its output")
    io.say(f"image {image}: built {digest}")
    return digest, "build", commit


def _build_context(host: HostConfig, shell: Shell, io: SetupIO, profile: Any
                   ) -> tuple[str, str, str | None]:
    """(context folder, Dockerfile, commit): the host's own Dockerfile, or the model's repo
    cloned on the box and checked out at the pinned commit."""
    if host.dockerfile:
        if not shell.exists(host.dockerfile):
            raise SetupFailed(f"dockerfile {host.dockerfile} is not on the box",
                              f"copy it there or fix dockerfile in [hosts.{host.name}]")
        return posixpath.dirname(host.dockerfile), host.dockerfile, None
    repo = profile.image.repository
    if not repo:
        raise SetupFailed(f"{profile.name} names no repository to build its image from",
                          f"set image_source = \"pull\" or dockerfile in [hosts.{host.name}]")
    src = posixpath.join(manifest.setup_dir(host.remote_root, profile.id), "src")
    if not shell.exists(posixpath.join(src, ".git")):
        io.say(f"cloning {repo} into {src}")
        shell.run(["rm", "-rf", "--", src], timeout=120)  # a clone killed half way
        io.stream(["git", "clone", "--", repo, src], None)
    else:
        io.say(f"reusing the clone at {src}")
    if host.repo_commit:
        io.stream(["git", "-C", src, "fetch", "--tags", "origin"], None)
        io.stream(["git", "-C", src, "checkout", "--detach", host.repo_commit], None)
    head = shell.run(["git", "-C", src, "rev-parse", "HEAD"], timeout=60)
    _fail_if(head, f"cannot read the commit of {src}")
    return src, posixpath.join(src, "Dockerfile"), head.out.strip()


# -- checkpoints ------------------------------------------------------------------------------
def _sizes(shell: Shell, paths: list[str]) -> dict[str, int]:
    if not paths:
        return {}
    result = shell.run(["stat", "-L", "-c", "%s %n", "--", *paths], timeout=120)
    sizes: dict[str, int] = {}
    for line in result.out.splitlines():
        size, _, path = line.partition(" ")
        if size.isdigit():
            sizes[path] = int(size)
    return sizes


def fetch_checkpoints(host: HostConfig, shell: Shell, io: SetupIO, profile: Any, image: str,
                      previous: dict[str, Any] | None) -> tuple[str | None, list[dict]]:
    """Every checkpoint the profile lists, on the box and verified; (root, manifest entries)."""
    place = host.for_model(profile.id)
    if not profile.checkpoints:
        io.say(f"{profile.name} lists no checkpoint files")
        return None, []
    root_kind = profile.checkpoints[0].root
    root = _checkpoint_root(place, root_kind)
    if root is None:
        if host.simulated:
            io.say("checkpoints: not needed, the simulator downloads nothing")
            return None, []
        key = "hf_home" if root_kind == "hf_home" else "checkpoint_dir"
        raise SetupFailed(f"{profile.name}'s checkpoints go where the box cannot see them",
                          f"set {key} in [hosts.{host.name}] to a folder on the box "
                          "(checkpoint_dir: relative to the checkout)")
    wanted = {c.path: c for c in profile.checkpoints}
    sizes = _sizes(shell, [posixpath.join(root, rel) for rel in wanted])
    have = {rel for rel in wanted if posixpath.join(root, rel) in sizes}
    missing = [rel for rel in wanted if rel not in have]
    io.say(f"checkpoints under {root}: {len(have)} of {len(wanted)} present"
           + (f", reusing them; fetching {len(missing)}" if missing and have else
              ", reusing them all" if not missing else f", fetching {len(missing)}"))
    fetched: dict[str, str] = {}
    if missing:
        fetched = _fetch(host, shell, io, profile, image, root, missing)
        sizes = _sizes(shell, [posixpath.join(root, rel) for rel in wanted])
    return root, _verify(host, shell, io, root, wanted, sizes, fetched, previous)


def _fetch(host: HostConfig, shell: Shell, io: SetupIO, profile: Any, image: str, root: str,
           missing: list[str]) -> dict[str, str]:
    """Run the fetch inside the model's container; rel -> sha256 of what it fetched."""
    source = host.checkpoint_source
    if source is None and host.simulated:
        source = _fill_sim_store(host, shell, io, missing)
    work = manifest.setup_dir(host.remote_root, profile.id)
    # made by the SSH user first: docker would make a missing bind source root-owned
    _fail_if(shell.run(["mkdir", "-p", "--", root, work], timeout=60),
             f"cannot create the checkpoint folder {root}",
             f"on the box: mkdir -p {root} as {host.user or 'the SSH user'} (or fix its owner)")
    name = f"cosmos-setup-{io.run_id.lower()}-{profile.id.replace('.', '')}"
    # --init: the fetch is not PID 1, so a TERM (Slurm's scancel, passed on by the docker
    # client) ends it instead of being ignored as PID 1 ignores it
    argv = [*io.engines.once, "run", "--rm", "--init", "--name", name, "--label", f"{LABEL_SETUP}={io.run_id}",
            "--label", f"{LABEL_RUN}={io.run_id}", "--label", f"{LABEL_APP}={io.instance_id}",
            *user_flag(shell)]
    mounts = [(root, root, False)] + list(host.extra_mounts)
    env = dict(host.env)
    if host.hf_token_file:
        mounts.append((host.hf_token_file, host.hf_token_file, True))
        env["HF_TOKEN_PATH"] = host.hf_token_file
    if source is not None:
        script = posixpath.join(work, "setup_fetch.py")
        shell.write_file(script, FETCH_SCRIPT.read_bytes(), 0o755)
        mounts.append((work, work, True))
        if not source.startswith(("http://", "https://")):
            mounts.append((source, source, True))
        commands = [["--entrypoint", "python3", image, script, source, root, *missing]]
        network = "host" if source.startswith(("http://", "https://")) else host.network
    else:
        commands = _download_command(host, profile, image, root, missing, mounts, env)
        network = None  # the model's download step needs the internet
    for src, dst, read_only in mounts:
        argv += ["-v", f"{src}:{dst}" + (":ro" if read_only else "")]
    for key, value in env.items():
        argv += ["-e", f"{key}={value}"]
    if not host.hf_token_file:
        argv += ["-e", "HF_TOKEN"]  # no value: docker copies it from its own environment
    if network:
        argv += ["--network", network]
    io.say(f"fetching {len(missing)} checkpoint file(s) in a container of {image}"
           + (f" from {source}" if source else " with the model's own download step"))
    # a fetch left by a setup whose worker died (this run is being resumed) goes first
    shell.run([*io.engines.every, "rm", "-f", name], timeout=300)
    lines = [line for command in commands for line in io.stream(argv + command, name)]
    fetched = {}
    for line in lines:
        parts = line.split()
        if len(parts) == 4 and parts[0] == "fetched":
            fetched[parts[1]] = parts[3]
    return fetched


def _download_command(host: HostConfig, profile: Any, image: str, root: str,
                      missing: list[str], mounts: list, env: dict[str, str]
                      ) -> list[list[str]]:
    """The model's own download step (ImageFacts.download_argv) as container commands (one
    per file for a per-file Hugging Face download)."""
    template = profile.image.download_argv
    if not template:
        raise SetupFailed(f"{profile.name} has no download step setup can run",
                          f"set checkpoint_source in [hosts.{host.name}] to a mirror")
    place = host.for_model(profile.id)
    if "{file}" in " ".join(template):  # a per-file Hugging Face download into HF_HOME
        env["HF_HOME"] = root
        whole = {c.path for c in profile.checkpoints if c.whole_repo}
        steps = [hf_cache.download_argv(template, rel, rel in whole) for rel in missing]
        return [["--entrypoint", step[0], image, *step[1:]] for step in dict.fromkeys(
            tuple(step) for step in steps)]
    mounts.append((place.cosmos_checkout, place.cosmos_checkout, False))
    env["PYTHONPATH"] = place.cosmos_checkout
    argv = [a.format(checkpoint_dir=root) for a in template]
    return [["-w", place.cosmos_checkout, "--entrypoint", argv[0], image, *argv[1:]]]


def _fill_sim_store(host: HostConfig, shell: Shell, io: SetupIO, missing: list[str]) -> str:
    """The simulator box's local stand-in model store: placeholder files at the real paths,
    fetched from like a mirror."""
    store = posixpath.join(host.remote_root, SIM_STORE)
    for rel in missing:
        data = (b'{"simulated": true}\n' if rel.endswith(".json") else
                f"cosmos-sim placeholder checkpoint: {rel}\n".encode())
        shell.write_file(posixpath.join(store, rel), data, 0o644)
    io.say(f"simulator: the stand-in model store at {store} holds the {len(missing)} file(s)")
    return store


def _expected_hashes(host: HostConfig, shell: Shell) -> dict[str, str]:
    """SHA256SUMS of a folder mirror, when it has one (`<hash>  <rel>` lines)."""
    source = host.checkpoint_source
    if not source or source.startswith(("http://", "https://")):
        return {}
    text = shell.read_from(posixpath.join(source, "SHA256SUMS"), 0).decode(errors="replace")
    pins = {}
    for line in text.splitlines():
        digest, _, rel = line.strip().partition("  ")
        if len(digest) == 64 and rel:
            pins[rel.lstrip("*")] = digest.lower()
    return pins


def _verify(host: HostConfig, shell: Shell, io: SetupIO, root: str, wanted: dict, sizes: dict,
            fetched: dict[str, str], previous: dict[str, Any] | None) -> list[dict]:
    """Every file present, not suspiciously small, and matching a pinned sha256."""
    known = {f["path"]: f for f in (previous or {}).get("checkpoints", [])}
    pins = _expected_hashes(host, shell)
    entries, bad = [], []
    for rel, ckpt in wanted.items():
        path = posixpath.join(root, rel)
        size = sizes.get(path)
        if size is None:
            bad.append(f"{rel} ({ckpt.needed_for}) is missing after the fetch")
            continue
        digest = fetched.get(rel)
        if digest is None and known.get(rel, {}).get("size") == size:
            digest = known[rel].get("sha256")  # unchanged since the last setup: not re-read
        if digest is None:
            result = shell.run(["sha256sum", "--", path], timeout=3600)
            _fail_if(result, f"cannot hash {path}")
            digest = result.out.split()[0]
        pin = ckpt.sha256 or pins.get(rel)
        problem = None
        if pin and pin != digest:
            problem = f"{rel}: sha256 {digest[:12]}... is not the pinned {pin[:12]}..."
        elif not pin and size < SUSPICIOUS_BYTES and rel.endswith(".pt") and not host.simulated:
            problem = f"{rel} is only {size} bytes (a failed download)"
        if problem and rel in fetched:  # ours: removed, so the next setup fetches it again
            shell.run(["rm", "-f", "--", path], timeout=60)
            bad.append(problem + " (removed)")
            continue
        if problem:  # found there, not fetched by us: the user decides
            bad.append(problem + f" (found on the box: `rm {path}` and set up again)")
            continue
        entries.append({"path": rel, "size": size, "sha256": digest,
                        "revision": ckpt.revision or None, "needed_for": ckpt.needed_for,
                        "verified": "pinned sha256" if pin else "size"})
    if bad:
        raise SetupFailed("checkpoints failed verification: " + "; ".join(bad),
                          "run `cosmos setup` again (it fetches only what is missing)")
    io.say(f"checkpoints verified: {len(entries)} file(s), "
           f"{sum(e['size'] for e in entries)} bytes, "
           f"{sum(e['verified'] != 'size' for e in entries)} against pinned sha256")
    return entries


# -- the manifest -----------------------------------------------------------------------------
def read_box_manifest(host: HostConfig, shell: Shell, model: str) -> dict[str, Any] | None:
    text = shell.read_from(manifest.box_path(host.remote_root, model), 0)
    return manifest.parse(text.decode(errors="replace")) if text else None


def write_manifest(host: HostConfig, shell: Shell, io: SetupIO, doc: dict[str, Any]) -> str:
    """On the box, atomically (a kill between the two commands leaves the old one)."""
    path = manifest.box_path(host.remote_root, doc["model"])
    tmp = f"{path}.{io.run_id}.tmp"
    shell.write_file(tmp, (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode(), 0o644)
    _fail_if(shell.run(["mv", "-f", "--", tmp, path], timeout=60),
             f"cannot write the manifest {path}")
    io.say(f"manifest {doc['id']} written to {path}")
    return path


def setup_model(host: HostConfig, shell: Shell, io: SetupIO, profile: Any) -> dict[str, Any]:
    """Image, checkpoints and manifest of one model; returns the manifest."""
    previous = read_box_manifest(host, shell, profile.id)
    image = host.for_model(profile.id).image
    digest, source, commit = get_image(host, shell, io, profile, previous)
    root, files = fetch_checkpoints(host, shell, io, profile, image, previous)
    doc = manifest.build(host=host.name, model=profile.id, image=image, image_digest=digest,
                         image_source=source, commit=commit, checkpoint_root=root,
                         files=files, offline_env=dict(profile.image.offline_env),
                         written_at=time.time())
    if previous and previous.get("id") == doc["id"]:
        io.say(f"nothing changed since the last setup (manifest {doc['id']})")
    write_manifest(host, shell, io, doc)
    if doc["offline_env"]:
        io.say("later runs get " + ", ".join(f"{k}={v}" for k, v in doc["offline_env"].items())
               + " (every checkpoint is on the box)")
    return doc
