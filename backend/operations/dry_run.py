"""What a launch would send, and what it will cost: `cosmos run --dry-run` and the plan.

A mixin of Operations (settings, store; uses LaunchOps' validation and RunOps' find_runs).
Why apart from launching: a dry run builds the whole job (backend.runs.plan) exactly as the
scheduler will, picks GPUs and a port from what is busy now, and learns the ETA from the
host's finished runs; a launch only validates and stores.
"""

from __future__ import annotations

import json
from typing import Any

from backend import media
from backend.extensions import host_kind
from backend.ids import instance_id, new_id
from backend.models.checks import FieldError
from backend.models.jobs import pick_master_port
from backend.models.params import LEGACY_MODEL, RUN_INFERENCE, GenerationParams
from backend.models.profile import JobItem, get_profile, output_plan
from backend.operations.errors import ValidationFailed
from backend.runs import plan
from backend.store.models import ACTIVE, COMPLETED


class DryRunOps:
    def dry_run(self, params: GenerationParams, host: str | None = None, *,
                run_type: str = RUN_INFERENCE,
                batch_with: list[GenerationParams] | None = None,
                owner: str | None = None) -> dict[str, Any]:
        """What `launch` would send, built by backend.runs.plan exactly as a real launch is.

        Validates like `launch` (ValidationFailed) but stores, uploads and queues nothing. The
        run id is provisional (a real launch gets its own), and so are the GPUs and port,
        picked from what is busy right now. `batch_with` shows the batch job this run would
        share with those requests (each validated; all must batch with it).
        """
        host_name = self._checked(params, host, run_type)
        owner = owner or self.local_user
        profile = get_profile(params.model)
        others = list(batch_with or [])
        for other in others:
            self._checked(other, host_name, run_type)
        if others:
            key = profile.batch_key(params, None)
            if run_type != RUN_INFERENCE or key is None or any(
                    other.model != params.model or profile.batch_key(other, None) != key
                    for other in others):
                raise ValidationFailed([FieldError("batch", f"These requests cannot share one "
                                                   f"{profile.name} batch job; "
                                                   "they would run as separate jobs.")])
        kind = host_kind(self.settings.hosts[host_name].kind)
        host_cfg = kind.launch_host(self.settings.hosts[host_name]).for_model(profile.id)
        job_id = new_id()
        folder = plan.run_dir(host_cfg, job_id)
        batch = bool(others)
        items, inputs = [], {}
        for index, p in enumerate([params] + others):
            run_id = new_id() if batch else job_id
            prefix = f"{index}_" if batch else ""
            paths, fps, frames, size = {}, None, None, (None, None)
            for entry in profile.input_files(p, run_type):
                link = plan.input_link(folder, prefix + entry.link_name)
                paths[entry.role] = host_cfg.container_path(link)
                # documented keys: "input" and the control's name; other files by role
                key = entry.role.removeprefix("control.")
                inputs[prefix + key] = link
                if entry.role == "input":
                    probe = media.probe_video(entry.path)
                    fps, frames, size = probe.fps, probe.frames, (probe.width, probe.height)
            items.append(JobItem(run_id, p, paths, input_fps=fps, input_frames=frames))
            if index == 0:
                first = (fps, frames, size)
        running = self.store.runs_in(ACTIVE, host=host_name)
        busy = {g for r in running for g in r.gpu_list()}
        needed = profile.gpus_for(params, run_type)
        placement = kind.place(host_cfg, needed, busy)
        gpus = placement.gpus if placement else list(host_cfg.gpus[:needed])
        port = pick_master_port(job_id, {r.master_port for r in running if r.master_port})
        launch = plan.plan_launch(host=host_cfg, run_id=job_id, run_type=run_type,
                                  profile=profile, items=items, gpus=gpus, master_port=port,
                                  instance_id=instance_id(self.settings.data_dir), batch=batch,
                                  owner=owner)
        spec_name = launch.spec_files[0] if launch.spec_files else "spec.json"
        spec_text = launch.files.get(spec_name, launch.spec_text)
        try:
            spec = json.loads(spec_text)
        except ValueError:
            spec = spec_text  # a JSONL batch: one object per line, see spec_files
        result = {
            "run_id": job_id, "owner": owner, "host": host_name, "simulated": host_cfg.simulated,
            "model": profile.id, "run_type": run_type, "gpus": list(gpus),
            "waits_for_gpus": placement is None, "master_port": port,
            "container_name": launch.container_name, "command": launch.command,
            "argv": list(launch.docker_argv), "job_script": launch.job_script, "spec": spec,
            "spec_json": spec_text,
            "spec_files": {n: launch.files[n] for n in launch.spec_files},
            "files": {"run_dir": folder, "spec": f"{folder}/{spec_name}",
                      "job_script": f"{folder}/job.sh", "log": f"{folder}/run.log"},
            "inputs": inputs,
            "warnings": [{"field": w.field, "message": w.message}
                         for w in self.warnings(params)],
        }
        fps0, frames0, (width0, height0) = first
        result["plan"] = output_plan(profile, params, width=width0, height=height0,
                                     frames=frames0, fps=fps0,
                                     history=self.seconds_per_chunk(host_name, params))
        if batch:
            result["batch_runs"] = [it.run_id for it in items]
        return result

    def seconds_per_chunk(self, host: str, params: GenerationParams,
                          limit: int = 50) -> list[float]:
        """How long this host's recent completed runs of the same model, GPU count and
        steps took per chunk (from their own progress: chunks done, time on the GPUs)."""
        from backend.store.history import RunFilter

        runs, _ = self.find_runs(RunFilter(hosts=[host], statuses=[COMPLETED],
                                           run_types=[RUN_INFERENCE]), limit=limit)
        out = []
        for run in runs:
            p = run.params or {}
            if (getattr(run, "model", None) or LEGACY_MODEL) != params.model or \
                    p.get("num_gpus") != params.num_gpus or p.get("num_steps") != params.num_steps:
                continue
            begun = run.ran_at or run.started_at
            if not begun or not run.finished_at:
                continue
            progress = run.progress or {}
            chunks = progress.get("n_clips") or progress.get("clips_done") or 1
            out.append(max(0.0, run.finished_at - begun) / max(1, int(chunks)))
        return out
