"""Preparing a job on its box: stage its inputs, write the files its model reads and its job
script, plan its launch.

Which files a run needs on the box, what the model reads and how it is launched are the
model profile's answers (backend/models/profile.py): this module stages whatever
`profile.input_files` lists (input, control videos, masks, weight maps, region masks) once
into the box's cache, links each into the job's `inputs/`, and hands their container paths to
the same launch plan (backend/runs/plan.py) the dry run uses, so the dry run, a single run
and a batch agree. The job folder is `<remote_root>/runs/<job id>/`.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from backend import media
from backend.hosts.runtime import HostRuntime
from backend.models.params import RUN_INFERENCE, RUN_UPSCALE, GenerationParams
from backend.models.profile import JobItem, get_profile
from backend.runs import plan
from backend.runs.job import Job
from backend.runs.staging import Stager
from backend.store.models import Run


@dataclass(frozen=True)
class Prepared:
    launch: plan.LaunchPlan
    files: dict[str, bytes]  # name in the job folder -> content (job.sh is executable)


def _stage_item(stager: Stager, store, host, run: Run, folder: str, params: GenerationParams,
                profile, prefix: str) -> JobItem:
    """Stage one run's files; its JobItem with container paths and the input's fps/frames."""
    paths: dict[str, str] = {}
    fps = frames = None
    if run.run_type == RUN_UPSCALE:
        paths["input"] = host.container_path(stager.stage_parent_output(run, folder))
        parent = store.get_run(run.parent_id)
        info = json.loads(parent.output_info) if parent and parent.output_info else {}
        fps, frames = info.get("fps"), info.get("frames")
    for entry in profile.input_files(params, run.run_type):
        link = stager.stage_input(Path(entry.path), folder, prefix + entry.link_name, run.id)
        paths[entry.role] = host.container_path(link)
        if entry.role == "input":
            probe = media.probe_video(entry.path)
            fps, frames = probe.fps, probe.frames
    return JobItem(run.id, params, paths, input_fps=fps, input_frames=frames)


def prepare(stager: Stager, store, rt: HostRuntime, job: Job, instance_id: str,
            extra_env: Mapping[str, str] | None = None) -> Prepared:
    """Stage the job's inputs on the box and plan its container (nothing is started).

    `extra_env` goes into the container under the host's own env (which wins): the offline
    settings `cosmos setup` recorded once every checkpoint was on the box."""
    lead = job.runs[0]
    profile = get_profile(lead.model)
    host = rt.launch_host.for_model(profile.id)
    if extra_env:
        host = dataclasses.replace(host, env={**extra_env, **host.env})
    user = rt.container_user()
    if user:
        host = dataclasses.replace(host, container_user=user)
    folder = rt.run_dir(job.id)
    rt.ensure_sim_checkout()
    rt.shell.run(["mkdir", "-p", f"{folder}/inputs", f"{folder}/outputs"]).check(
        "creating the run folder")
    items = []
    for index, run in enumerate(job.runs):
        params = GenerationParams.from_dict(run.params_dict())
        prefix = f"{index}_" if job.is_batch else ""
        items.append(_stage_item(stager, store, host, run, folder, params, profile, prefix))
    run_type = RUN_INFERENCE if job.is_batch else lead.run_type
    launch = plan.plan_launch(host=host, run_id=job.id, run_type=run_type, profile=profile,
                              items=items, gpus=lead.gpu_list(), master_port=lead.master_port,
                              instance_id=instance_id, batch=job.is_batch,
                              owner=lead.owner or "")
    files = {name: text.encode() for name, text in launch.files.items()}
    files["job.sh"] = launch.job_script.encode()
    return Prepared(launch, files)


def write_files(rt: HostRuntime, job: Job, prepared: Prepared) -> None:
    """The job's files into its folder, and an empty run.log, so the log can be followed
    (`tail -F` of a file that exists reacts at once) before the container writes to it."""
    folder = rt.run_dir(job.id)
    for name, data in prepared.files.items():
        executable = name == "job.sh" or name.endswith(".py")
        rt.shell.write_file(f"{folder}/{name}", data, 0o755 if executable else 0o644)
    rt.shell.run(["touch", f"{folder}/run.log"]).check("creating the run log")
