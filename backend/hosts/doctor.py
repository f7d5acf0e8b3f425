"""`cosmos doctor`: is each GPU box ready to run Cosmos, and if not, what exactly to fix.

Every check ends `ok`, `warn` (runs will work, but something costs time or will bite later) or
`fail` (runs will fail), with a one-line finding and, unless ok, the fix. Everything goes through
the box's `Shell` (the same one the executor uses), each command an argument list: a box the
doctor passes is a box the executor can drive.

Checks, in order: shell (reachable), docker (`<docker> version`), image (present, with its id),
checkout (the first model's entry script), checkpoints (the files its profile lists), then
per other model the host serves `image (<id>)`, `checkout (<id>)`, `checkpoints (<id>)`, then
hf_cache, disk (free space under remote_root), gpus (`nvidia-smi` answers for the configured
ids); the per-model ones live in doctor_models.py, the Check shapes in doctor_report.py. When
the shell fails nothing else can be asked and the report stops there; the image check needs
docker.
Which checks a host gets is its kind's choice (HostKind.doctor_steps): a Slurm host replaces
docker, image and gpus by slurm, partition, gres and container (backend/slurm/doctor.py),
since Slurm, not the login node, runs containers on GPUs.
"""

from __future__ import annotations

import logging
import posixpath
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

from backend.config import HostConfig, Settings
from backend.hosts.doctor_models import (SUSPICIOUS_BYTES, check_checkout,  # noqa: F401
                                         check_checkpoints, check_image, check_models)
from backend.hosts.doctor_report import (FAIL, OK, WARN, Check, HostReport,  # noqa: F401
                                         last_line)
from backend.hosts.telemetry import GPU_FIELDS, parse_gpu_csv
from backend.remote.docker import explain_docker_failure
from backend.remote.shell import Shell

log = logging.getLogger(__name__)

DISK_WARN_GB, DISK_FAIL_GB = 50, 5
#: the name host kinds' own checks import (backend/slurm/doctor.py)
_last_line = last_line


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
                     f"{last_line(result)}", fix)
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
                     f"{last_line(result)}", "check that df works on the box")
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
        return Check("gpus", FAIL, f"`{query}` failed: {last_line(result)}",
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
