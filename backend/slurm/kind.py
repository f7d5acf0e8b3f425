"""kind = "slurm": a cluster reached on its login node, whose jobs Slurm queues and places.

Registered in backend/extensions.py's registry on import. Everything Slurm-specific lives in
this package (config keys, engine, batch script, doctor checks); the generic code only asks
this kind.
"""

from __future__ import annotations

from dataclasses import replace

from backend.extensions import register_host_kind
from backend.hosts.kind import HostKind, Placement
from backend.slurm.config import SLURM_KEYS, SLURM_MAX_JOBS, read_slurm_options


class SlurmKind(HostKind):
    name = "slurm"
    option_keys = SLURM_KEYS
    #: Slurm, not our scheduler, picks the GPUs: a job asks for N (--gres/--gpus).
    places_gpus = False
    #: a submitted job may wait in Slurm's queue: the run is `pending` until it starts
    queues_jobs = True

    def remote(self, table) -> bool:
        return bool(table.get("hostname"))  # without one, this machine is the login node

    def default_gpus(self) -> list[int]:
        return list(range(8))  # on a cluster `gpus` only says how many one node has

    def default_max_concurrent(self, gpus) -> int:
        return SLURM_MAX_JOBS

    def read_options(self, reader, remote_root):
        return read_slurm_options(reader, remote_root)

    def engine(self, runtime, store, kill_grace):
        from backend.slurm.engine import SlurmEngine

        return SlurmEngine(runtime, store, kill_grace)

    def place(self, host, num_gpus, busy):
        return Placement([]) if num_gpus <= len(host.gpus) else None

    def launch_host(self, host):
        # docker_gpus off: the batch script hands Slurm's choice of GPUs to the container
        return replace(host, docker_gpus=False)

    def runs_images_here(self, host) -> bool:
        return False  # the cluster runs them on its compute nodes

    def setup_refusal(self, host):
        from backend.slurm.setup import setup_refusal

        return setup_refusal(host)

    def setup_engines(self, host, shell, run_id):
        from backend.slurm.setup import setup_engines

        return setup_engines(host, shell, run_id)  # srun onto the partition's nodes

    def stop_setup(self, host, shell, run_id, container):
        from backend.slurm.setup import cancel_setup

        cancel_setup(host, shell, run_id)  # the step's docker client passes TERM on

    def doctor_steps(self):
        from backend.hosts import doctor as d
        from backend.slurm.doctor import SLURM_LATE_STEPS, SLURM_STEPS

        return (*SLURM_STEPS, d.check_checkout, d.check_checkpoints, d.check_models,
                *SLURM_LATE_STEPS, d.check_hf_cache, d.check_disk)

    def watches_gpus(self, host) -> bool:
        return False  # nvidia-smi on a login node does not show the nodes' GPUs


register_host_kind(SlurmKind())
