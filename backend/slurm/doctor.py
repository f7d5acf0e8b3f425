"""`cosmos doctor` on a Slurm host: the checks that replace docker/image/gpus on a plain box.

From the login node the doctor can ask Slurm about the cluster but cannot look inside a compute
node, so: `slurm` (the client commands work), `partition` (exists and is up, its nodes, its time
limit), `gres` (its nodes have GPUs Slurm hands out, enough for the largest run), `container`
(the runtime the job uses: Pyxis in srun, docker on the login node as a hint, or none).
The checkout, checkpoints, Hugging Face cache and disk checks of backend/doctor.py follow; they
look at the shared filesystem, which is what the nodes see. With slurm_container = "docker" the
doctor also asks the nodes themselves, through a short `srun --immediate` (never a wait in the
queue): `gpu_runtime` (a `docker run --gpus` on a node with one GPU, as a run's job does) and
`manifest` (the image on the nodes is the one `cosmos setup` recorded).
"""

from __future__ import annotations

from backend.config import HostConfig
from backend.hosts import doctor_setup
from backend.hosts.doctor import FAIL, OK, WARN, Check, _last_line
from backend.remote.docker import explain_docker_failure
from backend.remote.shell import RemoteError, Shell
from backend.slurm.client import Partition, SlurmClient, explain_slurm_failure, gpus_per_node
from backend.slurm.config import slurm_options
from backend.hosts.setup_steps import SetupFailed
from backend.slurm.setup import setup_engines

#: how long the doctor's probes on the nodes may wait for Slurm to start them
PROBE_WAIT = 30


def _client(host: HostConfig, shell: Shell) -> SlurmClient:
    return SlurmClient(shell, slurm_options(host).slurm_env)


def _fix_env(host: HostConfig) -> str:
    return (f"run the doctor on (or point [hosts.{host.name}] at) the cluster's login node; if "
            "the Slurm commands need a config, set slurm_env = { SLURM_CONF = \"...\" }")


def check_slurm(host: HostConfig, shell: Shell) -> Check:
    result = _client(host, shell).version()
    if not result.ok:
        return Check("slurm", FAIL, "`sinfo --version` failed: " + explain_slurm_failure(result),
                     _fix_env(host))
    version = result.out.strip()
    return Check("slurm", OK, f"Slurm client works ({version})", details={"version": version})


def _partitions(host: HostConfig, shell: Shell) -> tuple[list[Partition], list[Partition]]:
    """(the partitions the runs go to, all partitions); RemoteError if sinfo fails."""
    every = _client(host, shell).partitions()
    if slurm_options(host).partition:
        wanted = set(slurm_options(host).partition.split(","))
        return [p for p in every if p.name in wanted], every
    return [p for p in every if p.default], every


def check_partition(host: HostConfig, shell: Shell) -> Check:
    try:
        chosen, every = _partitions(host, shell)
    except RemoteError as exc:
        return Check("partition", FAIL, str(exc), _fix_env(host))
    names = ", ".join(p.name for p in every) or "none"
    if slurm_options(host).partition:
        missing = sorted(set(slurm_options(host).partition.split(",")) - {p.name for p in chosen})
        if missing:
            return Check("partition", FAIL, f"partition {', '.join(missing)} does not exist "
                         f"(the cluster has: {names})",
                         f"set partition in [hosts.{host.name}] to one of them",
                         details={"partitions": names})
    elif not chosen:
        return Check("partition", FAIL, f"no partition given and the cluster has no default "
                     f"one (it has: {names})", f"set partition in [hosts.{host.name}]")
    down = [p.name for p in chosen if not p.up]
    if down:
        return Check("partition", FAIL, f"partition {', '.join(down)} is "
                     f"{chosen[0].available}: jobs will not start",
                     "ask the cluster's administrators, or choose another partition")
    details = {p.name: {"nodes": p.nodes, "states": list(p.states), "time_limit": p.time_limit}
               for p in chosen}
    text = "; ".join(f"{p.name}{' (default)' if p.default and not slurm_options(host).partition else ''} is up:"
                     f" {p.nodes} node(s) {'/'.join(p.states)}, time limit {p.time_limit}"
                     for p in chosen)
    usable = [p for p in chosen if any(s.rstrip("*~#!%$@^-") in ("idle", "mix", "alloc", "comp")
                                       for s in p.states)]
    if not usable:
        return Check("partition", WARN, text + "; no node there can run jobs now",
                     "check `sinfo` on the cluster (nodes down or drained)", details)
    return Check("partition", OK, text, details=details)


def check_gres(host: HostConfig, shell: Shell) -> Check:
    try:
        chosen, _ = _partitions(host, shell)
    except RemoteError as exc:
        return Check("gres", FAIL, str(exc), _fix_env(host))
    if not chosen:
        return Check("gres", FAIL, "no partition to look at (see the partition check)",
                     f"set partition in [hosts.{host.name}]")
    per_node = max(gpus_per_node(p.gres) for p in chosen)
    gres = sorted({g for p in chosen for g in p.gres})
    ask = "--gres=gpu:N" if slurm_options(host).gres_style == "gres" else "--gpus=N"
    details = {"gres": gres, "gpus_per_node": per_node}
    if per_node == 0:
        return Check("gres", FAIL, f"no node of {slurm_options(host).partition or 'the default partition'} has "
                     f"GPUs in Slurm (GRES: {', '.join(gres) or 'none'}); runs ask {ask}",
                     "choose a GPU partition, or ask the administrators to declare the GPUs "
                     "(GresTypes=gpu, gres.conf)", details)
    most = len(host.gpus)
    if most > per_node:
        return Check("gres", WARN, f"nodes have up to {per_node} GPU(s) ({', '.join(gres)}), "
                     f"but runs may ask for {most}: such a run would wait forever",
                     f"set gpus in [hosts.{host.name}] to {per_node} ids (it says how many GPUs "
                     "one node has)", details)
    return Check("gres", OK, f"up to {per_node} GPU(s) per node ({', '.join(gres)}); runs ask "
                 f"{ask}", details=details)


def check_container(host: HostConfig, shell: Shell) -> Check:
    mode = slurm_options(host).slurm_container
    if mode == "none":
        if host.simulated:
            return Check("container", OK, "no container: the job runs job.sh on the node (the "
                         "simulator's checkout)", details={"mode": mode})
        return Check("container", WARN, "no container: the job runs job.sh on the node, so "
                     "Cosmos and its Python packages must be installed on every node",
                     "set slurm_container = \"pyxis\" or \"docker\" unless the nodes have "
                     "Cosmos installed", details={"mode": mode})
    if mode == "pyxis":
        result = _client(host, shell).run("srun", "--help", timeout=30)
        if "--container-image" not in result.out + result.err:
            return Check("container", FAIL, "srun has no --container-image: the Pyxis plugin "
                         "is not installed on this cluster",
                         "install Pyxis + Enroot (or use slurm_container = \"docker\")",
                         details={"mode": mode})
        image = host.image
        if image.startswith("/"):
            if not shell.exists(image):
                return Check("container", FAIL, f"Pyxis works, but the image file {image} is "
                             "missing", f"`enroot import` the image to {image} on the shared "
                             "filesystem, or set image to a registry reference",
                             details={"mode": mode, "image": image})
            return Check("container", OK, f"Pyxis works; image file {image} present",
                         details={"mode": mode, "image": image})
        return Check("container", OK, f"Pyxis works; Enroot pulls {image} when a job starts "
                     "(the first start on a node is slow)", details={"mode": mode, "image": image})
    docker = " ".join(host.docker)
    result = shell.run([*host.docker, "version"], timeout=60)
    if not result.ok:
        return Check("container", WARN, f"`{docker}` does not work on the login node "
                     f"({explain_docker_failure(result, host.docker)}); the doctor cannot look "
                     "inside the compute nodes",
                     f"make sure docker (with the NVIDIA Container Toolkit) and the image "
                     f"{host.image} are on every node of the partition",
                     details={"mode": mode, "image": host.image})
    image = shell.run([*host.docker, "image", "inspect", "--format", "{{.Id}}", host.image],
                      timeout=60)
    if image.ok:
        return Check("container", OK, f"`{docker}` works on the login node and has {host.image}"
                     "; the nodes need it too", details={"mode": mode, "image": host.image})
    return Check("container", WARN, f"`{docker}` works on the login node but {host.image} is "
                 f"not there ({_last_line(image)}); the nodes need it",
                 f"load {host.image} on every node of the partition",
                 details={"mode": mode, "image": host.image})


def _on_nodes(host: HostConfig, name: str) -> Check | None:
    """None when the doctor can ask the nodes' docker; else the check saying why not."""
    if slurm_options(host).slurm_container != "docker":
        return Check(name, OK, f"not asked: slurm_container = "
                     f"\"{slurm_options(host).slurm_container}\" runs no docker on the nodes")
    return None


def _probe_failed(name: str, result, host: HostConfig) -> Check | None:
    text = (result.err + result.out).lower()
    if "immediate" in text or "unable to allocate resources" in text:
        return Check(name, WARN, f"no node of the partition was free within {PROBE_WAIT} s to "
                     "probe", f"run `cosmos doctor {host.name}` again when the cluster is "
                     "quieter (`squeue` shows what runs)")
    return None


def check_gpu_runtime(host: HostConfig, shell: Shell) -> Check:
    """`docker run --gpus all ... nvidia-smi -L` in a one-GPU srun step: what a run's job does."""
    skip = _on_nodes(host, "gpu_runtime")
    if skip is not None:
        return skip
    if host.simulated:
        return Check("gpu_runtime", OK, "not needed: the simulator's GPUs need no runtime")
    ask = "--gres=gpu:1" if slurm_options(host).gres_style == "gres" else "--gpus=1"
    try:
        once = setup_engines(host, shell, "doctor", extra=(f"--immediate={PROBE_WAIT}", ask)).once
    except (RemoteError, SetupFailed) as exc:
        return Check("gpu_runtime", FAIL, str(exc), getattr(exc, "fix", "") or _fix_env(host))
    result = shell.run([*once, "run", "--rm", "--pull", "never", "--gpus", "all", "--network",
                        "none", "--entrypoint", "nvidia-smi", host.image, "-L"],
                       timeout=PROBE_WAIT + 120)
    if result.ok:
        gpus = [line for line in result.out.splitlines() if line.startswith("GPU ")]
        return Check("gpu_runtime", OK, f"a job's `docker run --gpus all` sees {len(gpus)} "
                     "GPU(s) on the node", details={"gpus": len(gpus)})
    busy = _probe_failed("gpu_runtime", result, host)
    if busy is not None:
        return busy
    text = (result.err + result.out).lower()
    if "no such image" in text or "unable to find image" in text:
        return Check("gpu_runtime", WARN, f"cannot probe the GPU runtime: {host.image} is not "
                     "on the node", f"cosmos setup {host.name}")
    return Check("gpu_runtime", FAIL, "a job's `docker run --gpus all ... nvidia-smi -L` "
                 f"failed on the node: {_last_line(result)}", doctor_setup.TOOLKIT_FIX
                 .replace("on the box", "on every node of the partition"))


def check_manifests(host: HostConfig, shell: Shell) -> list[Check]:
    """The setup manifests against the image on the nodes (doctor_setup.check_manifests)."""
    skip = _on_nodes(host, "manifest")
    if skip is not None:
        return [skip]
    try:
        every = setup_engines(host, shell, "doctor", extra=(f"--immediate={PROBE_WAIT}",)).every
    except (RemoteError, SetupFailed) as exc:
        return [Check("manifest", FAIL, str(exc), getattr(exc, "fix", "") or _fix_env(host))]
    return doctor_setup.check_manifests(host, shell, docker=every)


SLURM_STEPS = (check_slurm, check_partition, check_gres, check_container, check_gpu_runtime,
               doctor_setup.check_root)
#: after the shared filesystem's checks (backend/slurm/kind.py)
SLURM_LATE_STEPS = (check_manifests, doctor_setup.check_hf_token)

