"""`cosmos doctor`: is each GPU box ready to run Cosmos, and if not, what exactly to fix.

Every check ends `ok`, `warn` (runs will work, but something costs time or will bite later) or
`fail` (runs will fail), with a one-line finding and, unless ok, the fix. Everything goes through
the box's `Shell` (the same one the executor uses), each command an argument list: a box the
doctor passes is a box the executor can drive.

Checks, in order: shell (reachable), docker (`<docker> version`), image (present, with its id),
checkout (the first model's entry script), checkpoints (the files its profile lists), then
per other model the host serves `image (<id>)`, `checkout (<id>)`, `checkpoints (<id>)`, then
hf_cache, disk (free space under remote_root), gpus (`nvidia-smi` answers for the configured
ids). When the
shell fails nothing else can be asked and the report stops there; the image check needs docker.
Which checks a host gets is its kind's choice (HostKind.doctor_steps): a Slurm host replaces
docker, image and gpus by slurm, partition, gres and container (backend/slurm/doctor.py),
since Slurm, not the login node, runs containers on GPUs.
"""

from __future__ import annotations

import logging
import posixpath
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable

from backend.config import HostConfig, Settings
from backend.remote.docker import explain_docker_failure
from backend.remote.shell import CommandResult, Shell
from backend.hosts.telemetry import GPU_FIELDS, parse_gpu_csv

log = logging.getLogger(__name__)

OK, WARN, FAIL = "ok", "warn", "fail"
_RANK = {OK: 0, WARN: 1, FAIL: 2}

#: A real checkpoint is gigabytes; a file this small on a GPU box is a failed download.
SUSPICIOUS_BYTES = 1 << 20
DISK_WARN_GB, DISK_FAIL_GB = 50, 5


@dataclass
class Check:
    name: str
    status: str
    finding: str
    fix: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "status": self.status, "finding": self.finding,
                "fix": self.fix if self.status != OK else "", "details": self.details}


@dataclass
class HostReport:
    host: str
    kind: str
    simulated: bool
    checks: list[Check] = field(default_factory=list)

    @property
    def status(self) -> str:
        return max((c.status for c in self.checks), key=_RANK.__getitem__, default=OK)

    def to_dict(self) -> dict[str, Any]:
        return {"host": self.host, "kind": self.kind, "simulated": self.simulated,
                "status": self.status, "ok": self.status != FAIL,
                "checks": [c.to_dict() for c in self.checks]}


def _last_line(result: CommandResult) -> str:
    text = (result.err.strip() or result.out.strip() or f"exit {result.exit_code}")
    return text.splitlines()[-1].strip()


# -- the checks -------------------------------------------------------------------------------
def check_shell(host: HostConfig, shell: Shell) -> Check:
    from backend.extensions import host_kind

    kind = host_kind(host.kind)
    remote = kind.remote({"hostname": host.hostname})
    where = kind.where(host) if remote else "this machine"
    ssh = " ".join(["ssh", *(["-p", str(host.port)] if host.port else []),
                    *(["-i", host.identity_file] if host.identity_file else []),
                    f"{host.user + '@' if host.user else ''}{host.hostname}", "true"])
    fix = (f"check hostname, user, port and identity_file in [hosts.{host.name}], that "
           f"`{ssh}` works from this machine, and that its host key is known"
           if remote else "this is a local host; check that the app can run "
           "commands here")
    try:
        result = shell.run(["uname", "-n"], timeout=30)
    except Exception as exc:  # connection refused, auth failure, unknown host key...
        return Check("shell", FAIL, f"cannot reach {where}: {exc}", fix)
    if not result.ok:
        return Check("shell", FAIL, f"{where} answers but cannot run commands: "
                     f"{_last_line(result)}", fix)
    node = result.out.strip()
    how = "over SSH" if remote else "local shell"
    return Check("shell", OK, f"reachable ({how}: {where}, node {node})",
                 details={"node": node})


def check_docker(host: HostConfig, shell: Shell) -> Check:
    docker = " ".join(host.docker)
    result = shell.run([*host.docker, "version"], timeout=60)
    if not result.ok:
        return Check("docker", FAIL, f"`{docker} version` failed: "
                     f"{explain_docker_failure(result, host.docker)}",
                     "install Docker (with the NVIDIA Container Toolkit) on the box, or set "
                     f"the docker command of [hosts.{host.name}] (docker, sudo docker, podman)")
    server = ""
    in_server = False
    for line in result.out.splitlines():
        if line.startswith("Server"):
            in_server = True
        elif in_server and line.strip().startswith("Version:"):
            server = line.split(":", 1)[1].strip()
            break
    first = result.out.splitlines()[0].strip() if result.out.strip() else ""
    engine = first.split(":", 1)[1].strip() if first.startswith("Client:") else ""
    label = " ".join(x for x in (engine, server) if x)
    return Check("docker", OK, f"`{docker}` works" + (f" (server {label})" if label else ""),
                 details={"server_version": server})


def check_image(host: HostConfig, shell: Shell) -> Check:
    result = shell.run([*host.docker, "image", "inspect", "--format", "{{.Id}}", host.image],
                       timeout=60)
    if result.ok and result.out.strip():
        digest = result.out.strip().splitlines()[0]
        return Check("image", OK, f"{host.image} present ({digest})",
                     details={"image": host.image, "id": digest})
    text = (result.err + result.out).lower()
    if "no such image" in text or "no such object" in text or "not found" in text:
        return Check("image", FAIL, f"{host.image} is not on the box: {_last_line(result)}",
                     f"build or load it there (`{' '.join(host.docker)} pull {host.image}`, "
                     "`docker load -i image.tar`, or build the cosmos-transfer1 Dockerfile), "
                     f"or set image in [hosts.{host.name}]", details={"image": host.image})
    return Check("image", FAIL, f"cannot inspect {host.image}: "
                 f"{explain_docker_failure(result, host.docker)}",
                 f"check `{' '.join(host.docker)} image inspect {host.image}` on the box",
                 details={"image": host.image})


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
                     f"git clone https://github.com/nvidia-cosmos/{profile.image.checkout_dir} "
                     f"{place.cosmos_checkout} on the box, or set {key} in [hosts.{host.name}]",
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


def _hf_repo(cache_path: str) -> str:
    """'hub/models--nvidia--X/snapshots/...' -> 'nvidia/X' (Hugging Face's cache naming)."""
    folder = next((p for p in cache_path.split("/") if p.startswith("models--")), "")
    return folder.removeprefix("models--").replace("--", "/")


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
        return Check(name, FAIL, f"cannot look at {root}: {_last_line(result)}",
                     "check that the SSH user may read the checkout")
    missing = [(rel, what) for (rel, what), p in zip(wanted, paths) if p not in sizes]
    small = [rel for (rel, _), p in zip(wanted, paths)
             if p in sizes and sizes[p] < SUSPICIOUS_BYTES and not host.simulated
             and rel.endswith(".pt")]
    details = {"dir": root, "missing": [rel for rel, _ in missing], "small": small,
               "sizes": {rel: sizes.get(p) for (rel, _), p in zip(wanted, paths)}}
    if host.simulated:
        fix = (f"delete {place.cosmos_checkout} and run `cosmos doctor` again (it reinstalls "
               "the stand-in checkout; so does the next run)")
    elif hf:
        fix = (f"on the box, with network access: HF_HOME={root} uvx hf download "
               f"{_hf_repo(profile.checkpoints[0].path)} <file> --revision <revision> for each "
               "missing snapshots/<revision>/<file> above (or let the first run download them, "
               "with HF_TOKEN)")
    else:
        fix = (f"on the box: cd {place.cosmos_checkout} && PYTHONPATH=$(pwd) python "
               f"scripts/download_checkpoints.py --output_dir {host.checkpoint_dir} --model 7b "
               "(it exits 0 even when a download failed, so run the doctor again after)")
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
        place, profile = _model(host, index)
        if images:
            image = check_image(place, shell)
            checks.append(Check(f"image ({profile.id})", image.status, image.finding,
                                image.fix.replace("set image in", "set images in"),
                                image.details))
        checks.append(check_checkout(host, shell, index))
        checks.append(check_checkpoints(host, shell, index))
    return checks


def check_hf_cache(host: HostConfig, shell: Shell) -> Check:
    if not host.hf_home:
        if host.simulated:
            return Check("hf_cache", OK, "not needed: the simulator downloads nothing")
        return Check("hf_cache", WARN, "hf_home is not set, so the Hugging Face models Cosmos "
                     "fetches at run time (T5, SAM2, Depth-Anything, ...) land inside each "
                     "container and are fetched again by the next run",
                     f"set hf_home = \"/data/hf-cache\" (a folder on the box) in "
                     f"[hosts.{host.name}]")
    if not shell.exists(host.hf_home):
        return Check("hf_cache", WARN, f"hf_home {host.hf_home} does not exist on the box",
                     f"mkdir -p {host.hf_home} on the box (it is mounted into every container "
                     "as HF_HOME)", details={"path": host.hf_home})
    return Check("hf_cache", OK, f"Hugging Face cache at {host.hf_home}",
                 details={"path": host.hf_home})


def check_disk(host: HostConfig, shell: Shell) -> Check:
    path = host.remote_root
    result = None
    while True:  # remote_root may not exist yet on a fresh box: ask about its nearest parent
        result = shell.run(["df", "-Pk", "--", path], timeout=30)
        if result.ok or path in ("/", ""):
            break
        path = posixpath.dirname(path.rstrip("/")) or "/"
    lines = result.out.strip().splitlines()
    parts = lines[-1].split() if result.ok and len(lines) >= 2 else []
    if len(parts) < 6 or not parts[3].isdigit():
        return Check("disk", WARN, f"could not read free space under {host.remote_root}: "
                     f"{_last_line(result)}", "check that df works on the box")
    free_gb = int(parts[3]) / (1024 * 1024)
    details = {"path": path, "free_gb": round(free_gb, 1), "mount": parts[5]}
    finding = f"{free_gb:.1f} GB free under {host.remote_root} (filesystem {parts[5]})"
    fix = ("free space there or move remote_root to a bigger disk: inputs, outputs and logs of "
           "every run live under it (4K upscales are large)")
    if free_gb < DISK_FAIL_GB:
        return Check("disk", FAIL, finding + f"; below {DISK_FAIL_GB} GB runs will fail", fix,
                     details)
    if free_gb < DISK_WARN_GB:
        return Check("disk", WARN, finding + f"; below {DISK_WARN_GB} GB", fix, details)
    return Check("disk", OK, finding, details=details)


def check_gpus(host: HostConfig, shell: Shell) -> Check:
    query = " ".join(host.gpu_query)
    result = shell.run([*host.gpu_query, f"--query-gpu={GPU_FIELDS}",
                        "--format=csv,noheader,nounits"], timeout=30)
    if not result.ok:
        return Check("gpus", FAIL, f"`{query}` failed: {_last_line(result)}",
                     "install the NVIDIA driver on the box, or set gpu_query in "
                     f"[hosts.{host.name}] to its nvidia-smi")
    seen = parse_gpu_csv(result.out)
    for gpu in seen:
        gpu["configured"] = gpu["index"] in host.gpus
    present = {g["index"] for g in seen}
    absent = [g for g in host.gpus if g not in present]
    details = {"gpus": seen, "configured": list(host.gpus)}
    if absent:
        return Check("gpus", FAIL, f"the config lists GPU(s) {', '.join(map(str, absent))} but "
                     f"`{query}` shows " + (", ".join(str(g["index"]) for g in seen) or "none"),
                     f"set gpus in [hosts.{host.name}] to ids the box has", details)
    names = sorted({g["name"] for g in seen if g["configured"]})
    extra = len(seen) - len(host.gpus)
    return Check("gpus", OK, f"{len(host.gpus)} GPU(s) for runs: "
                 f"{', '.join(map(str, host.gpus))} ({'; '.join(names)})"
                 + (f"; {extra} more on the box not configured" if extra > 0 else ""),
                 details=details)


# -- running them -----------------------------------------------------------------------------
def check_host(host: HostConfig, shell: Shell) -> HostReport:
    report = HostReport(host.name, host.kind, host.simulated)
    first = check_shell(host, shell)
    report.checks.append(first)
    if first.status == FAIL:
        return report
    from backend.extensions import host_kind

    for step in host_kind(host.kind).doctor_steps():
        if step is check_image and report.checks[-1].status == FAIL:
            continue  # docker is not usable: there is no image to ask about
        name = step.__name__.removeprefix("check_")
        try:
            found = step(host, shell)
            report.checks.extend(found if isinstance(found, list) else [found])
        except Exception as exc:  # a dropped connection mid-way: say which check it hit
            log.debug("doctor check %s on %s failed", name, host.name, exc_info=True)
            report.checks.append(Check(name, FAIL, f"could not check: {exc}",
                                       "run `cosmos doctor` again; if it persists, check the "
                                       "connection to the box"))
    return report


def check_hosts(settings: Settings, names: list[str],
                shell_factory: Callable[[HostConfig], Shell] | None = None) -> list[HostReport]:
    """One report per host, in the order given; hosts are checked in parallel."""
    if shell_factory is None:
        from backend.runs.scheduler import open_shell

        def shell_factory(host: HostConfig) -> Shell:
            return open_shell(host, settings)

    def one(name: str) -> HostReport:
        host = settings.hosts[name]
        try:
            shell = shell_factory(host)
        except Exception as exc:
            report = HostReport(host.name, host.kind, host.simulated)
            report.checks.append(Check("shell", FAIL, f"cannot open a shell: {exc}",
                                       f"check [hosts.{host.name}] in the config"))
            return report
        try:
            return check_host(host, shell)
        finally:
            try:
                shell.close()
            except Exception:
                pass

    if len(names) <= 1:
        return [one(n) for n in names]
    with ThreadPoolExecutor(max_workers=min(8, len(names))) as pool:
        return list(pool.map(one, names))
