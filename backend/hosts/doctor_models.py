"""`cosmos doctor`'s checks of what each model a host serves needs on the box: its image, its
checkout and the checkpoint files its profile lists. Every finding and fix comes from the
profile (ImageFacts, CheckpointFile), never from a model's name."""

from __future__ import annotations

import posixpath
import shlex

from backend.config import HostConfig
from backend.hosts import hf_cache
from backend.hosts.doctor_report import FAIL, OK, WARN, Check, last_line
from backend.remote.docker import explain_docker_failure
from backend.remote.shell import Shell

#: A real checkpoint is gigabytes; a file this small on a GPU box is a failed download.
SUSPICIOUS_BYTES = 1 << 20


def check_image(host: HostConfig, shell: Shell, index: int = 0) -> Check:
    """The image of the host's model `index` is on the box (the first model's is `image`,
    the others' `images`; check_models asks about those)."""
    place, profile = _model(host, index)
    name, key = ("image", "image") if index == 0 else (f"image ({profile.id})", "images")
    image, docker = place.image, " ".join(host.docker)
    result = shell.run([*host.docker, "image", "inspect", "--format", "{{.Id}}", image],
                       timeout=60)
    if result.ok and result.out.strip():
        digest = result.out.strip().splitlines()[0]
        return Check(name, OK, f"{image} present ({digest})",
                     details={"image": image, "id": digest})
    text = (result.err + result.out).lower()
    if "no such image" in text or "no such object" in text or "not found" in text:
        return Check(name, FAIL, f"{image} is not on the box: {last_line(result)}",
                     f"`cosmos setup {host.name}` (builds it on the box and records its "
                     f"digest; image_source = \"pull\" pulls it), or build or load it there "
                     f"(`{docker} pull {image}`, `docker load -i "
                     f"image.tar`, or build {profile.name}'s: {profile.image.build}), or set "
                     f"{key} in [hosts.{host.name}]", details={"image": image})
    return Check(name, FAIL, f"cannot inspect {image}: "
                 f"{explain_docker_failure(result, host.docker)}",
                 f"check `{docker} image inspect {image}` on the box",
                 details={"image": image})


def _model(host: HostConfig, index: int = 0):
    """(the host as model `index` sees it, that model's profile)."""
    from backend.models.profile import get_profile

    profile = get_profile(host.models[index])
    return host.for_model(profile.id), profile


def check_checkout(host: HostConfig, shell: Shell, index: int = 0) -> Check:
    """The code of the host's model (the first one: the others are check_models') is where
    the host says; for a model whose code is built into its image there is nothing to see."""
    place, profile = _model(host, index)
    name = "checkout" if index == 0 else f"checkout ({profile.id})"
    if not place.cosmos_checkout:
        return Check(name, OK, f"{profile.name}'s code is in the image {place.image} (no "
                     "checkout configured on the box)", details={"path": None,
                                                                 "installed": False})
    installed = False
    if host.simulated and not shell.exists(posixpath.join(place.cosmos_checkout, "COSMOS_SIM")):
        from backend.hosts.runtime import HostRuntime

        HostRuntime(host, shell).ensure_sim_checkout()
        installed = True
    script = posixpath.join(place.cosmos_checkout, profile.image.entry_script)
    key = "cosmos_checkout" if index == 0 else "checkouts"
    if not shell.exists(script):
        return Check(name, FAIL, f"no {profile.name} checkout at {place.cosmos_checkout}"
                     f" ({profile.image.entry_script} is missing)",
                     (f"git clone {profile.image.repository} {place.cosmos_checkout} on the "
                      "box" if profile.image.repository else
                      f"put {profile.name}'s code at {place.cosmos_checkout} on the box")
                     + f", or set {key} in [hosts.{host.name}]",
                     details={"path": place.cosmos_checkout})
    what = "simulator's stand-in checkout" if host.simulated else f"{profile.name} checkout"
    return Check(name, OK, f"{what} at {place.cosmos_checkout}"
                 + (" (installed just now)" if installed else ""),
                 details={"path": place.cosmos_checkout, "installed": installed})


def _checkpoint_root(host: HostConfig, root: str) -> str | None:
    """Where a model's checkpoints are on the box, or None when only the container sees them
    (or, for the Hugging Face cache, when hf_home is not set)."""
    if root == "hf_home":
        return host.hf_home
    if not posixpath.isabs(host.checkpoint_dir):
        return posixpath.join(host.cosmos_checkout, host.checkpoint_dir) \
            if host.cosmos_checkout else None
    return host.checkpoint_dir if host.same_paths_in_container else None


def _named(files: list) -> str:
    names = [("base" if c.needed_for == "every run" else c.needed_for) for c in files
             if c.needed_for != "tokenizer"]
    return ", ".join(dict.fromkeys(names))


def check_checkpoints(host: HostConfig, shell: Shell, index: int = 0) -> Check:
    """The files the model's profile lists (`ModelProfile.checkpoints`), by size."""
    place, profile = _model(host, index)
    name = "checkpoints" if index == 0 else f"checkpoints ({profile.id})"
    roots = sorted({c.root for c in profile.checkpoints})
    if not roots:
        return Check(name, OK, f"{profile.name} lists no checkpoint files")
    root_kind = roots[0]
    root = _checkpoint_root(place, root_kind)
    hf = root_kind == "hf_home"
    if root is None:
        if hf:
            if host.simulated:
                return Check(name, OK, "not needed: the simulator downloads nothing")
            return Check(name, WARN, f"hf_home is not set, so {profile.name} downloads its "
                         "checkpoints from Hugging Face into each container on first use",
                         f"set hf_home = \"/data/hf-cache\" in [hosts.{host.name}] and "
                         "pre-download the checkpoints there")
        return Check(name, WARN, f"checkpoint_dir {host.checkpoint_dir} is a path "
                     "inside the container; it cannot be checked from the host",
                     "use a checkpoint_dir relative to the checkout (mounted into the "
                     "container) so the doctor can check it")
    wanted = [(c.path, c.needed_for) for c in profile.checkpoints]
    paths = [posixpath.join(root, rel) for rel, _ in wanted]
    result = shell.run(["stat", "-L", "-c", "%s %n", "--", *paths], timeout=60)
    sizes: dict[str, int] = {}
    for line in result.out.splitlines():
        size, _, path = line.partition(" ")
        if size.isdigit():
            sizes[path] = int(size)
    if not sizes and not result.ok and "no such file" not in result.err.lower():
        return Check(name, FAIL, f"cannot look at {root}: {last_line(result)}",
                     "check that the SSH user may read the checkout")
    missing = [(rel, what) for (rel, what), p in zip(wanted, paths) if p not in sizes]
    small = [rel for (rel, _), p in zip(wanted, paths)
             if p in sizes and sizes[p] < SUSPICIOUS_BYTES and not host.simulated
             and rel.endswith(".pt")]
    details = {"dir": root, "missing": [rel for rel, _ in missing], "small": small,
               "sizes": {rel: sizes.get(p) for (rel, _), p in zip(wanted, paths)}}
    if host.simulated:
        fix = (f"cosmos setup {host.name} (fetches them from the simulator's stand-in model "
               f"store); or delete {place.cosmos_checkout} and run `cosmos doctor` again (it "
               "reinstalls the stand-in checkout; so does the next run)")
    elif hf and profile.image.download:  # the profile knows how its checkpoints come
        missing_names = [hf_cache.repo_of(rel) for rel, _ in wanted
                         if posixpath.join(root, rel) not in sizes]
        fix = (f"cosmos setup {host.name} (fetches them inside the container and verifies "
               "them); by hand, on the box, with network access: "
               + profile.image.download.format(
                   checkout=place.cosmos_checkout, checkpoint_dir=host.checkpoint_dir,
                   hf_home=root, repos=" ".join(missing_names) or hf_cache.repo_of(wanted[0][0])))
    elif hf and profile.image.download_argv:
        whole = {c.path for c in profile.checkpoints if c.whole_repo}
        commands = dict.fromkeys(shlex.join(hf_cache.download_argv(
            profile.image.download_argv, rel, rel in whole))
            for rel in [rel for rel, _ in missing] or small)
        fix = (f"cosmos setup {host.name} (fetches them inside the container and verifies "
               f"them); by hand, on the box, with network access and HF_TOKEN set: "
               f"export HF_HOME={shlex.quote(root)}; " + "; ".join(commands))
    elif hf:
        fix = (f"on the box, with network access: HF_HOME={root} hf download <repo> <file> "
               "--revision <revision> for each missing snapshots/<revision>/<file> above (or "
               "let the first run download them, with HF_TOKEN)")
    else:
        how = profile.image.download or "fetch the files listed above into {checkpoint_dir}"
        fix = (f"cosmos setup {host.name} (fetches them inside the container, with the token "
               "of hf_token_file, and verifies them); by hand, inside the container: "
               + how.format(checkout=place.cosmos_checkout, checkpoint_dir=host.checkpoint_dir))
    if missing:
        names = ", ".join(f"{rel} ({what})" for rel, what in missing)
        # a Hugging Face cache fills on first use: missing there only costs time
        return Check(name, WARN if hf else FAIL, f"missing under {root}: {names}", fix,
                     details)
    if small:
        return Check(name, WARN, f"suspiciously small (failed download?) under {root}: "
                     + ", ".join(small), fix, details)
    model_files = [c for c in profile.checkpoints if c.needed_for != "tokenizer"]
    tokenizer = " and the tokenizer" if len(model_files) < len(profile.checkpoints) else ""
    return Check(name, OK, f"all {len(model_files)} model checkpoints ({_named(model_files)})"
                 f"{tokenizer} under {root}", details=details)


def check_models(host: HostConfig, shell: Shell) -> list[Check]:
    """The host's other models: each one's image (where the kind runs images here), its
    checkout and its checkpoints."""
    from backend.extensions import host_kind

    checks: list[Check] = []
    images = check_image in host_kind(host.kind).doctor_steps()
    for index in range(1, len(host.models)):
        if images:
            checks.append(check_image(host, shell, index))
        checks.append(check_checkout(host, shell, index))
        checks.append(check_checkpoints(host, shell, index))
    return checks
