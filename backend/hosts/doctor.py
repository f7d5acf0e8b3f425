"""`cosmos doctor`: is each GPU box ready to run Cosmos, and if not, what exactly to fix.

Every check ends `ok`, `warn` (runs will work, but something costs time or will bite later) or
`fail` (runs will fail), with a one-line finding and, unless ok, the fix. Everything goes through
the box's `Shell` (the same one the executor uses), each command an argument list: a box the
doctor passes is a box the executor can drive.

Checks, in order: shell (reachable), docker (`<docker> version`), image (present, with its id),
checkout (transfer.py), checkpoints (each control's `.pt` and the tokenizer), hf_cache, disk
(free space under remote_root), gpus (`nvidia-smi` answers for the configured ids). When the
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

#: The Cosmos-Transfer1-7B files each control needs (contract §7.2), and which control it is.
MODEL_DIR = "nvidia/Cosmos-Transfer1-7B"
CHECKPOINTS: tuple[tuple[str, str], ...] = (
    ("base_model.pt", "every run"),
    ("vis_control.pt", "vis"),
    ("edge_control.pt", "edge"),
    ("depth_control.pt", "depth"),
    ("seg_control.pt", "seg"),
    ("keypoint_control.pt", "keypoint"),
    ("4kupscaler_control.pt", "4K upscale"),
)
TOKENIZER_DIR = "nvidia/Cosmos-Tokenize1-CV8x8x8-720p"
TOKENIZER_FILES = ("encoder.jit", "decoder.jit", "autoencoder.jit", "mean_std.pt")
TRANSFER_PY = "cosmos_transfer1/diffusion/inference/transfer.py"
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


def check_checkout(host: HostConfig, shell: Shell) -> Check:
    installed = False
    if host.simulated and not shell.exists(posixpath.join(host.cosmos_checkout, "COSMOS_SIM")):
        from backend.hosts.runtime import HostRuntime

        HostRuntime(host, shell).ensure_sim_checkout()
        installed = True
    script = posixpath.join(host.cosmos_checkout, TRANSFER_PY)
    if not shell.exists(script):
        return Check("checkout", FAIL, f"no Cosmos-Transfer1 checkout at {host.cosmos_checkout}"
                     f" ({TRANSFER_PY} is missing)",
                     "git clone https://github.com/nvidia-cosmos/cosmos-transfer1 "
                     f"{host.cosmos_checkout} on the box, or set cosmos_checkout in "
                     f"[hosts.{host.name}]", details={"path": host.cosmos_checkout})
    what = "simulator's stand-in checkout" if host.simulated else "Cosmos-Transfer1 checkout"
    return Check("checkout", OK, f"{what} at {host.cosmos_checkout}"
                 + (" (installed just now)" if installed else ""),
                 details={"path": host.cosmos_checkout, "installed": installed})


def _checkpoint_root(host: HostConfig) -> str | None:
    """Where the checkpoints are on the box, or None when only the container can see them."""
    if not posixpath.isabs(host.checkpoint_dir):
        return posixpath.join(host.cosmos_checkout, host.checkpoint_dir)
    return host.checkpoint_dir if host.same_paths_in_container else None


def check_checkpoints(host: HostConfig, shell: Shell) -> Check:
    root = _checkpoint_root(host)
    if root is None:
        return Check("checkpoints", WARN, f"checkpoint_dir {host.checkpoint_dir} is a path "
                     "inside the container; it cannot be checked from the host",
                     "use a checkpoint_dir relative to the checkout (mounted into the "
                     "container) so the doctor can check it")
    wanted = [(f"{MODEL_DIR}/{name}", what) for name, what in CHECKPOINTS]
    wanted += [(f"{TOKENIZER_DIR}/{name}", "tokenizer") for name in TOKENIZER_FILES]
    paths = [posixpath.join(root, rel) for rel, _ in wanted]
    result = shell.run(["stat", "-L", "-c", "%s %n", "--", *paths], timeout=60)
    sizes: dict[str, int] = {}
    for line in result.out.splitlines():
        size, _, path = line.partition(" ")
        if size.isdigit():
            sizes[path] = int(size)
    if not sizes and not result.ok and "no such file" not in result.err.lower():
        return Check("checkpoints", FAIL, f"cannot look at {root}: {_last_line(result)}",
                     "check that the SSH user may read the checkout")
    missing = [(rel, what) for (rel, what), p in zip(wanted, paths) if p not in sizes]
    small = [rel for (rel, _), p in zip(wanted, paths)
             if p in sizes and sizes[p] < SUSPICIOUS_BYTES and not host.simulated
             and rel.endswith(".pt")]
    details = {"dir": root, "missing": [rel for rel, _ in missing], "small": small,
               "sizes": {rel: sizes.get(p) for (rel, _), p in zip(wanted, paths)}}
    if host.simulated:
        fix = (f"delete {host.cosmos_checkout} and run `cosmos doctor` again (it reinstalls the "
               "stand-in checkout; so does the next run)")
    else:
        fix = (f"on the box: cd {host.cosmos_checkout} && PYTHONPATH=$(pwd) python "
               f"scripts/download_checkpoints.py --output_dir {host.checkpoint_dir} --model 7b "
               "(it exits 0 even when a download failed, so run the doctor again after)")
    if missing:
        names = ", ".join(f"{rel} ({what})" for rel, what in missing)
        return Check("checkpoints", FAIL, f"missing under {root}: {names}", fix, details)
    if small:
        return Check("checkpoints", WARN, f"suspiciously small (failed download?) under {root}: "
                     + ", ".join(small), fix, details)
    return Check("checkpoints", OK, f"all {len(CHECKPOINTS)} model checkpoints (base, vis, edge,"
                 f" depth, seg, keypoint, 4K upscaler) and the tokenizer under {root}",
                 details=details)


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
            report.checks.append(step(host, shell))
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
