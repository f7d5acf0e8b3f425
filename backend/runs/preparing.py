"""Preparing a job on its box: stage its inputs, write its spec and job script, plan its launch.

A single run gets `spec.json` (built by the model contract from where its inputs were
linked); a batch gets the shared base spec plus `batch.jsonl`, one line per run. Either way
the job folder is `<remote_root>/runs/<job id>/` and the same launch plan (backend/runs/plan.py)
turns it into the container command, so the dry run, a single run and a batch agree.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from backend import media
from backend.hosts.runtime import HostRuntime
from backend.models.transfer1.batch import (BatchItem, batch_controls, build_batch_base_spec,
                                            build_batch_jsonl)
from backend.models.transfer1.params import RUN_INFERENCE, RUN_UPSCALE, GenerationParams
from backend.models.transfer1.spec import build_upscale_spec, resolve_fps
from backend.runs import plan
from backend.runs.job import Job
from backend.runs.staging import Stager
from backend.store.models import Run


@dataclass(frozen=True)
class Prepared:
    launch: plan.LaunchPlan
    files: dict[str, bytes]  # name in the job folder -> content (job.sh is executable)


def _single_spec(stager: Stager, store: Any, rt: HostRuntime, run: Run, folder: str,
                 params: GenerationParams) -> dict:
    """Stage a single run's inputs and shape its spec, by run type."""
    host = rt.launch_host
    if run.run_type == RUN_UPSCALE:
        staged = stager.stage_parent_output(run, folder)
        parent = store.get_run(run.parent_id)
        info = json.loads(parent.output_info) if parent.output_info else {}
        fps = params.fps or (round(info["fps"]) if info.get("fps") else None)
        return build_upscale_spec(host.container_path(staged), params.upscale_weight,
                                  negative_prompt=params.negative_prompt,
                                  prompt=params.prompt, fps=fps)
    input_path = None
    input_fps = None
    if params.input_video:
        local = Path(params.input_video)
        input_path = stager.stage_input(local, folder, plan.input_link_name(local), run.id)
        input_fps = media.probe_video(local).fps
    control_links = {}
    for control, video in params.control_videos.items():
        if video and control in params.active_controls():
            local = Path(video)
            control_links[control] = stager.stage_input(
                local, folder, plan.input_link_name(local, control), run.id)
    region_links = [stager.stage_input(Path(region["mask_video"]), folder,
                                       plan.region_link_name(i, region["mask_video"]), run.id)
                    for i, region in enumerate(params.regional_prompts)]
    return plan.inference_spec(host, params, input_link=input_path,
                               control_links=control_links, input_fps=input_fps,
                               region_links=region_links)


def _batch_spec(stager: Stager, rt: HostRuntime, job: Job, folder: str
                ) -> tuple[dict, str, GenerationParams]:
    """Stage every member's inputs; the shared spec, the JSONL and the lead's params."""
    host = rt.launch_host
    items, first, fps = [], None, 24
    for index, run in enumerate(job.runs):
        params = GenerationParams.from_dict(run.params_dict())
        local = Path(params.input_video)
        link = stager.stage_input(local, folder, f"{index}_input{local.suffix.lower()}")
        controls = {}
        for control in params.active_controls():
            video = params.control_videos.get(control)
            if video:
                controls[control] = host.container_path(stager.stage_input(
                    Path(video), folder, f"{index}_{control}{Path(video).suffix.lower()}"))
        items.append(BatchItem.from_params(params, visual_input=host.container_path(link),
                                           control_paths=controls))
        if first is None:
            first = params
            fps = resolve_fps(params, media.probe_video(local).fps)
    hints = batch_controls(items)
    spec = build_batch_base_spec(first, items=items, fps=fps, controls=hints)
    return spec, build_batch_jsonl(items, controls=hints), first


def prepare(stager: Stager, store: Any, rt: HostRuntime, job: Job, instance_id: str
            ) -> Prepared:
    """Stage the job's inputs on the box and plan its container (nothing is started)."""
    folder = rt.run_dir(job.id)
    crun = rt.launch_host.container_path(folder)
    rt.ensure_sim_checkout()
    rt.shell.run(["mkdir", "-p", f"{folder}/inputs", f"{folder}/outputs"]).check(
        "creating the run folder")
    lead = job.runs[0]
    files: dict[str, bytes] = {}
    batch_input = None
    if job.is_batch:
        spec, jsonl, params = _batch_spec(stager, rt, job, folder)
        files["batch.jsonl"] = jsonl.encode()
        batch_input = f"{crun}/batch.jsonl"
        run_type = RUN_INFERENCE
    else:
        params = GenerationParams.from_dict(lead.params_dict())
        spec = _single_spec(stager, store, rt, lead, folder, params)
        run_type = lead.run_type
    launch = plan.plan_launch(host=rt.launch_host, run_id=job.id, run_type=run_type,
                              num_gpus=params.num_gpus, spec=spec, gpus=lead.gpu_list(),
                              master_port=lead.master_port, instance_id=instance_id,
                              batch_input_path=batch_input)
    files["spec.json"] = launch.spec_text.encode()
    files["job.sh"] = launch.job_script.encode()
    return Prepared(launch, files)


def write_files(rt: HostRuntime, job: Job, prepared: Prepared) -> None:
    """The job's files into its folder, and an empty run.log, so the log can be followed
    (`tail -F` of a file that exists reacts at once) before the container writes to it."""
    folder = rt.run_dir(job.id)
    for name, data in prepared.files.items():
        rt.shell.write_file(f"{folder}/{name}", data, 0o755 if name == "job.sh" else 0o644)
    rt.shell.run(["touch", f"{folder}/run.log"]).check("creating the run log")
