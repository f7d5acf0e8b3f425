"""The settings only a kind = "slurm" host reads, kept as `HostConfig.options`."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Mapping

from backend.config.reader import Reader

#: How a Slurm job runs the container: Docker on the node, Pyxis/Enroot
#: (`srun --container-image`), or no container at all (job.sh on the node; simulator/tests).
SLURM_CONTAINERS = ("docker", "pyxis", "none")
#: How a Slurm job asks for its GPUs: `--gres=gpu:N` or `--gpus=N`.
GRES_STYLES = ("gres", "gpus")
#: Keys that only mean something for kind = "slurm".
SLURM_KEYS = ("partition", "account", "time_limit", "gres_style", "sbatch_extra",
              "slurm_container", "slurm_env")
#: How many of a host's runs may sit in Slurm (queued or running) at once by default. Slurm
#: owns queueing and GPU placement, so this only guards against flooding it.
SLURM_MAX_JOBS = 256
_SLURM_TIME = re.compile(r"(?:\d+-)?\d+(?::\d{1,2}){0,2}|UNLIMITED|INFINITE")
_SLURM_NAME = re.compile(r"[A-Za-z0-9_.\-]+")


@dataclass(frozen=True)
class SlurmOptions:
    partition: str | None = None
    account: str | None = None
    time_limit: str | None = None
    gres_style: str = "gres"
    sbatch_extra: tuple[str, ...] = ()
    slurm_container: str = "docker"
    slurm_env: Mapping[str, str] = field(default_factory=dict)


def slurm_options(host) -> SlurmOptions:
    """The Slurm settings of a host (defaults for a host that has none)."""
    return host.options if isinstance(host.options, SlurmOptions) else SlurmOptions()


def read_slurm_options(r: Reader, remote_root: str) -> SlurmOptions:
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
    return SlurmOptions(
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
