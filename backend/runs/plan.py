"""What launching a run means, without doing it: where inputs land, the spec, the job script,
the `docker run` argv.

Why a module of its own: the executor launches for real and `operations.dry_run` (the CLI's
`run --dry-run`) shows what a launch WOULD send. Both call the functions below, so a dry run
prints byte for byte the command, job script and spec the executor would use, and the two can
never drift apart. Nothing here touches a box, the store or the clock.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from backend.config import HostConfig
from backend.models.transfer1 import command as cmd
from backend.models.transfer1.params import RUN_ENHANCE, GenerationParams
from backend.models.transfer1.spec import build_spec, resolve_fps, spec_json
from backend.hosts.runtime import run_dir
from backend.remote.docker import LABEL_APP, LABEL_RUN

#: Cosmos writes `<VIDEO_NAME>.mp4` (and `.txt`) into the run's outputs folder.
VIDEO_NAME = "output"


def container_name(job_id: str) -> str:
    """A job's container: the full run (or batch) id, never truncated, so a kill reaches
    exactly this one."""
    return f"cosmos-{job_id}"


def input_link_name(local: str | PurePosixPath, control: str | None = None) -> str:
    """The name an input (or a control's video) gets in the run's `inputs/` folder."""
    suffix = PurePosixPath(str(local)).suffix.lower()
    return f"{control or 'input'}{suffix}"


def input_link(run_folder: str, link_name: str) -> str:
    return f"{run_folder}/inputs/{link_name}"


def region_link_name(index: int, local: str | PurePosixPath) -> str:
    """Where a regional prompt's mask video is linked in the run folder's inputs."""
    return f"region{index}{PurePosixPath(str(local)).suffix.lower() or '.mp4'}"


def inference_spec(host: HostConfig, params: GenerationParams, *, input_link: str | None,
                   control_links: Mapping[str, str], input_fps: float | None,
                   region_links: Sequence[str] = ()) -> dict[str, Any]:
    """The spec of an inference (or enhance) run from where its inputs are linked on the box."""
    return build_spec(
        params,
        input_video_path=host.container_path(input_link) if input_link else None,
        control_paths={c: host.container_path(p) for c, p in control_links.items()},
        fps=resolve_fps(params, input_fps),
        region_paths=[host.container_path(p) for p in region_links])


@dataclass(frozen=True)
class LaunchPlan:
    """Everything written to the box and run there for one container."""

    spec_text: str  # spec.json as written
    job_script: str  # job.sh as written
    docker_argv: tuple[str, ...]  # `<docker> run -d ...`
    container_name: str
    master_port: int

    @property
    def command(self) -> str:
        """The docker command as one shell-safe line (stored on the run, shown in the UI)."""
        return cmd.shell_join(self.docker_argv)


def offload_flags(host: HostConfig, run_type: str) -> tuple[str, ...]:
    """The host's offload flags, plus the prompt upsampler's for an enhance run."""
    flags = tuple(host.offload)
    if run_type == RUN_ENHANCE and "offload_prompt_upsampler" not in flags:
        flags += ("offload_prompt_upsampler",)
    return flags


def plan_launch(*, host: HostConfig, run_id: str, run_type: str, num_gpus: int,
                spec: Mapping[str, Any], gpus: Sequence[int], master_port: int,
                instance_id: str, batch_input_path: str | None = None) -> LaunchPlan:
    """The spec text, job script and `docker run` argv of one run's container.

    `batch_input_path` (container path) is for a batch of runs sharing one model load; the
    spec then holds only the shared settings.
    """
    folder = run_dir(host, run_id)
    crun = host.container_path(folder)
    enhance = run_type == RUN_ENHANCE
    transfer = cmd.build_transfer_argv(
        num_gpus=num_gpus, master_port=master_port, checkpoint_dir=host.checkpoint_dir,
        video_save_folder=f"{crun}/outputs", video_save_name=VIDEO_NAME,
        controlnet_specs=f"{crun}/spec.json", offload_flags=offload_flags(host, run_type),
        batch_input_path=batch_input_path, upsample_prompt=enhance)
    script = cmd.build_job_script(run_id=run_id, container_checkout=host.checkout_in_container,
                                  container_log_path=f"{crun}/run.log", transfer_argv=transfer)
    mounts = [(host.remote_root, host.container_path(host.remote_root), False),
              (host.cosmos_checkout, host.checkout_in_container, True)]
    mounts += list(host.extra_mounts)
    env = dict(host.env)
    if host.hf_home:
        hf_in = host.hf_home if host.same_paths_in_container else "/cosmos-hf"
        mounts.append((host.hf_home, hf_in, False))
        env["HF_HOME"] = hf_in
    name = container_name(run_id)
    docker_argv = cmd.build_docker_run_argv(
        docker=host.docker, name=name, labels={LABEL_RUN: run_id, LABEL_APP: instance_id},
        mounts=mounts, workdir=host.checkout_in_container, env=env, pass_env=host.pass_env,
        gpu_ids=list(gpus) if host.docker_gpus else None, ipc_host=host.ipc_host,
        network=host.network, image=host.image, command=["bash", f"{crun}/job.sh"])
    if host.pull != "omit":
        # A missing image must fail at once with "No such image", not wait on a registry
        # the box may not reach (and never silently pull something else under that name).
        at = len(host.docker) + 2  # after `<docker> run -d`
        docker_argv[at:at] = ["--pull", host.pull]
    return LaunchPlan(spec_text=spec_json(spec), job_script=script,
                      docker_argv=tuple(docker_argv), container_name=name,
                      master_port=master_port)


# -- stopping ---------------------------------------------------------------------------------
#: `Run.cancel_requested` holds "force", "graceful" or "graceful:<seconds>" (a kill's own grace).
FORCE, GRACEFUL = "force", "graceful"


def kill_request(force: bool, grace: int | None = None) -> str:
    """The value stored on a run when someone asks to kill it."""
    if force:
        return FORCE
    if grace is None:
        return GRACEFUL
    if isinstance(grace, bool) or not isinstance(grace, int) or not 0 <= grace <= 3600:
        raise ValueError(f"grace must be a whole number of seconds from 0 to 3600, got {grace!r}")
    return f"{GRACEFUL}:{grace}"


def parse_kill_request(value: str, default_grace: int) -> tuple[bool, int]:
    """(force, grace seconds) of a stored kill request; unknown text means graceful."""
    if value == FORCE:
        return True, 0
    _, _, seconds = value.partition(":")
    return False, int(seconds) if seconds.isdigit() else int(default_grace)
