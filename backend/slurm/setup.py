"""`cosmos setup` on a Slurm host: the container engine lives on the compute nodes.

The login node (what SSH reaches) sees the shared filesystem, so setup's root, checkout,
checkpoint and manifest steps run there as on any box. Only the engine commands must reach the
nodes, and they do through `srun`, as the jobs do:
- on every node of the partition (`--nodes=N --ntasks-per-node=1`): build or pull the image,
  read its digest, remove a fetch container a dead setup left; every node must hold the image,
  since Slurm may start a run on any of them;
- on one node: the checkpoint fetch container, which writes the shared checkpoint folder once.

The steps are named `cosmos-setup-<run id>` in Slurm, so a kill cancels them by name (scancel
sends the docker client TERM, which it passes on to the container; `--rm` removes it; a
`docker kill` through srun could wait in the queue behind the very step it should stop).
Only `slurm_container = "docker"` can be set up this way: Pyxis imports images with
`enroot import` and `none` runs no container, so setup refuses those with what to do instead.
"""

from __future__ import annotations

from backend.config import HostConfig
from backend.hosts.kind import SetupEngines
from backend.hosts.setup_steps import SetupFailed
from backend.remote.shell import RemoteError, Shell
from backend.slurm.client import SlurmClient, explain_slurm_failure
from backend.slurm.config import slurm_options


def setup_refusal(host: HostConfig) -> str | None:
    """Why setup cannot prepare this cluster (and what to do instead), or None."""
    mode = slurm_options(host).slurm_container
    if mode == "pyxis":
        return (f"{host.name} runs its jobs with Pyxis: `cosmos setup` builds and pulls with "
                "docker on the nodes, so import the image with `enroot import -o <file> "
                f"docker://{host.image}` on the shared filesystem and set image to that file; "
                f"see `cosmos doctor {host.name}` for the rest.")
    if mode == "none" and not host.simulated:
        return (f"{host.name} runs job.sh on the nodes without a container "
                "(slurm_container = \"none\"): there is no image to set up; install Cosmos on "
                f"every node, or set slurm_container = \"docker\" in [hosts.{host.name}].")
    return None


def job_name(run_id: str) -> str:
    """The Slurm job name of a setup's steps (what a kill cancels)."""
    return f"cosmos-setup-{run_id.lower()}"


def setup_engines(host: HostConfig, shell: Shell, run_id: str, *,
                  extra: tuple[str, ...] = ()) -> SetupEngines:
    """srun prefixes onto the partition's nodes; SetupFailed without a partition, RemoteError
    when Slurm cannot be asked.
    `extra`: more srun options (the doctor's `--immediate`, so it never waits in a queue)."""
    opts = slurm_options(host)
    client = SlurmClient(shell, opts.slurm_env)
    every_partition = client.partitions()
    wanted = opts.partition.split(",")[0] if opts.partition else None
    chosen = [p for p in every_partition if (p.name == wanted if wanted else p.default)]
    if not chosen:
        raise SetupFailed(f"Slurm has no partition {wanted or '(default)'} to set up",
                          f"set partition in [hosts.{host.name}] to one `sinfo` lists")
    partition = chosen[0]
    base = ["srun", f"--job-name={job_name(run_id)}", f"--partition={partition.name}",
            "--ntasks-per-node=1", "--quiet", *extra]
    if opts.account:
        base.append(f"--account={opts.account}")
    if opts.time_limit:
        base.append(f"--time={opts.time_limit}")
    base += opts.sbatch_extra  # the cluster's own musts (--qos, --constraint) hold for srun too
    every = client.argv(*base, f"--nodes={max(1, partition.nodes)}", "--", *host.docker)
    once = client.argv(*base, "--nodes=1", "--", *host.docker)
    return SetupEngines(every=every, once=once)


def cancel_setup(host: HostConfig, shell: Shell, run_id: str) -> None:
    """scancel the setup's steps by name (the fetch container stops with its client)."""
    client = SlurmClient(shell, slurm_options(host).slurm_env)
    result = client.run("scancel", f"--name={job_name(run_id)}", timeout=60)
    if not result.ok:
        raise RemoteError("scancel of the setup failed: " + explain_slurm_failure(result))
