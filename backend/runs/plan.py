"""What launching a job means, without doing it: the files the model reads, the job script,
the `docker run` argv.

Why a module of its own: the executor launches for real and `operations.dry_run` (the CLI's
`run --dry-run`) shows what a launch WOULD send. Both call the functions below, so a dry run
prints byte for byte the command, job script and spec the executor would use, and the two can
never drift apart. The model's part comes from its profile (backend/models/profile.py); this
module adds what every model's container gets. Nothing here touches a box, the store or the
clock.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from backend.config import HostConfig
from backend.hosts.runtime import run_dir
from backend.models import jobs as cmd
from backend.models.profile import JobContext, JobItem, ModelProfile, OutputFile, RunOutputs
from backend.remote.docker import LABEL_APP, LABEL_GPUS, LABEL_OWNER, LABEL_RUN

#: Cosmos-Transfer1 writes `<VIDEO_NAME>.mp4` (and `.txt`) into a run's outputs folder; the
#: local copy of any model's video and prompt text is named so too.
VIDEO_NAME = "output"
#: The local copy of a run's resolved recipe (the arguments the model used).
RECIPE_NAME = "recipe.json"


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


@dataclass(frozen=True)
class LaunchPlan:
    """Everything written to the box and run there for one container."""

    spec_text: str  # the lead run's spec as kept on the run (what the model reads)
    job_script: str  # job.sh as written
    docker_argv: tuple[str, ...]  # `<docker> run -d ...`
    container_name: str
    master_port: int
    model: str = ""
    #: every file written into the job folder besides job.sh (spec files, helpers)
    files: Mapping[str, str] = field(default_factory=dict)
    #: the files the model reads, by name (a subset of `files`)
    spec_files: tuple[str, ...] = ()
    #: per run: its own spec text, its outputs layout, facts known now (e.g. what an
    #: upsampler reads)
    run_specs: Mapping[str, str] = field(default_factory=dict)
    outputs: Mapping[str, RunOutputs] = field(default_factory=dict)
    notes: Mapping[str, tuple[OutputFile, ...]] = field(default_factory=dict)

    @property
    def command(self) -> str:
        """The docker command as one shell-safe line (stored on the run, shown in the UI)."""
        return cmd.shell_join(self.docker_argv)

    def artifacts(self, run_id: str) -> dict[str, Any]:
        """What the run keeps of its plan: where its outputs will be and its notes."""
        layout = self.outputs.get(run_id, RunOutputs())
        return {"layout": outputs_to_dict(layout),
                "notes": [vars(n) for n in self.notes.get(run_id, ())], "files": []}


def outputs_to_dict(layout: RunOutputs) -> dict[str, Any]:
    return {"video": layout.video, "text": layout.text, "recipe": layout.recipe,
            "extras": [vars(x) for x in layout.extras], "status": list(layout.status)}


def outputs_from_dict(data: Mapping[str, Any] | None) -> RunOutputs | None:
    if not data:
        return None
    return RunOutputs(video=data.get("video"), text=data.get("text"), recipe=data.get("recipe"),
                      extras=tuple(OutputFile(**x) for x in data.get("extras") or ()),
                      status=tuple(data.get("status") or ()))


def plan_launch(*, host: HostConfig, run_id: str, run_type: str, profile: ModelProfile,
                items: Sequence[JobItem], gpus: Sequence[int], master_port: int,
                instance_id: str, batch: bool = False, num_gpus: int | None = None,
                owner: str = "") -> LaunchPlan:
    """The files, job script and `docker run` argv of one job's container.

    `host` is the host as this model sees it (`HostConfig.for_model`); `run_id` the job's id
    (a run's, or a batch's); `items` its runs with their inputs' container paths. The model's
    command comes from the profile; everything around it (job script, mounts, GPUs, labels)
    is the same for every model.
    """
    folder = run_dir(host, run_id)
    crun = host.container_path(folder)
    lead = items[0].params
    gpu_count = num_gpus if num_gpus is not None else profile.gpus_for(lead, run_type)
    ctx = JobContext(run_type=run_type, folder=crun, checkpoint_dir=host.checkpoint_dir,
                     num_gpus=gpu_count, master_port=master_port,
                     offload=profile.offload_for(lead, host.offload), batch=batch)
    model = profile.command(ctx, items)
    script = cmd.build_job_script(run_id=run_id, container_checkout=host.checkout_in_container,
                                  container_log_path=f"{crun}/run.log",
                                  transfer_argv=list(model.argv), extra_env=dict(model.env))
    mounts = [(host.remote_root, host.container_path(host.remote_root), False)]
    if host.mount_checkout and host.cosmos_checkout:
        mounts.append((host.cosmos_checkout, host.checkout_in_container, True))
    mounts += list(host.extra_mounts)
    env = dict(host.env)
    if host.hf_home:
        hf_in = host.hf_home if host.same_paths_in_container else "/cosmos-hf"
        mounts.append((host.hf_home, hf_in, False))
        env["HF_HOME"] = hf_in
    name = container_name(run_id)
    labels = {LABEL_RUN: run_id, LABEL_APP: instance_id}
    if owner:
        labels[LABEL_OWNER] = owner
    if gpus:
        labels[LABEL_GPUS] = ",".join(str(g) for g in gpus)
    # with the entrypoint replaced by a shell, that shell runs the job script itself
    command = [f"{crun}/job.sh"] if host.entrypoint else ["bash", f"{crun}/job.sh"]
    docker_argv = cmd.build_docker_run_argv(
        docker=host.docker, name=name, labels=labels,
        mounts=mounts, workdir=host.checkout_in_container, env=env, pass_env=host.pass_env,
        gpu_ids=list(gpus) if host.docker_gpus else None, ipc_host=host.ipc_host,
        network=host.network, image=host.image, command=command,
        entrypoint=host.entrypoint,
        keep_image_paths=host.keep_image_paths if host.mount_checkout else (),
        user=host.container_user)
    if host.pull != "omit":
        # A missing image must fail at once with "No such image", not wait on a registry
        # the box may not reach (and never silently pull something else under that name).
        at = len(host.docker) + 2  # after `<docker> run -d`
        docker_argv[at:at] = ["--pull", host.pull]
    lead_id = items[0].run_id
    return LaunchPlan(spec_text=model.run_specs.get(lead_id, ""), job_script=script,
                      docker_argv=tuple(docker_argv), container_name=name,
                      master_port=master_port, model=profile.id, files=dict(model.files),
                      spec_files=tuple(model.spec_files), run_specs=dict(model.run_specs),
                      outputs=dict(model.outputs), notes=dict(model.notes))


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
