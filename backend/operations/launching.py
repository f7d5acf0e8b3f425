"""Launching: validate a request, then store it as a queued run (or show what it would send).

Nothing here talks to a box and nothing blocks on the network: launching means validating and
writing a queued run; the store publishes it and every scheduler (this process's or a
`cosmos worker`'s) wakes and claims it. That is what keeps a click instant and lets a run
outlive the tab that started it.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from backend import media
from backend.extensions import host_kind
from backend.ids import instance_id, new_id
from backend.models.transfer1.command import pick_master_port
from backend.models.transfer1.params import (CONTROLS, RUN_ENHANCE, RUN_INFERENCE, RUN_UPSCALE,
                                             GenerationParams)
from backend.models.transfer1.validate import (FieldError, validate_params,
                                               validate_upscale_weight)
from backend.operations.errors import NotFound, Refused, ValidationFailed
from backend.operations.inputs import VIDEO_SUFFIXES
from backend.operations.summary import RunSummary, summarize
from backend.paths import ASSETS_DIR
from backend.review.regenerate import region_errors
from backend.runs import plan
from backend.store.models import ACTIVE, COMPLETED

log = logging.getLogger(__name__)


class LaunchOps:
    """A mixin of Operations (settings, store)."""

    def default_params(self) -> GenerationParams:
        g = self.settings.generation
        return GenerationParams(
            prompt="", negative_prompt=g.negative_prompt, weights=dict(g.weights),
            sigma_max=g.sigma_max, guidance=g.guidance, num_steps=g.num_steps, seed=g.seed,
            blur_strength=g.blur_strength, canny_threshold=g.canny_threshold,
            num_gpus=g.num_gpus, upscale_weight=g.upscale_weight,
        )

    def validate(self, params: GenerationParams, host: str | None = None) -> list[FieldError]:
        """Every reason this request would be refused, each tied to the field to fix."""
        errors: list[FieldError] = []
        host_name = host or self.settings.generation.host
        host_cfg = self.settings.hosts.get(host_name)
        if host_cfg is None:
            errors.append(FieldError("host", f"Unknown host '{host_name}'; choose one of "
                                     + ", ".join(self.settings.hosts) + "."))
        input_info = None
        if params.input_video:
            try:
                input_info = media.probe_video(params.input_video)
            except media.MediaError as exc:
                errors.append(FieldError("input_video", str(exc)))
        control_infos = {}
        for control, video in params.control_videos.items():
            if not video:
                continue
            if control not in CONTROLS:
                continue  # validate_params names unknown controls
            try:
                control_infos[control] = media.probe_video(video)
            except media.MediaError as exc:
                errors.append(FieldError(f"control_videos.{control}", str(exc)))
        errors.extend(validate_params(params, input_info=input_info,
                                      control_infos=control_infos or None))
        errors.extend(region_errors(params))  # a review note's "re-generate here" mask
        if host_cfg is not None and params.num_gpus > len(host_cfg.gpus):
            errors.append(FieldError("num_gpus", f"{host_name} has {len(host_cfg.gpus)} GPU(s); "
                                     f"ask for at most that many (1, 2, 4 or 8)."))
        return errors

    def _checked(self, params: GenerationParams, host: str | None) -> str:
        """Trim the prompts, validate everything, and return the host name (or refuse)."""
        params.prompt = (params.prompt or "").strip()
        params.negative_prompt = (params.negative_prompt or "").strip()
        host_name = host or self.settings.generation.host
        errors = self.validate(params, host_name)
        if errors:
            raise ValidationFailed(errors)
        return host_name

    def launch(self, params: GenerationParams, *, name: str = "", host: str | None = None,
               prompt_name: str = "", with_upscale: bool = False,
               run_type: str = RUN_INFERENCE, prompt_id: str | None = None,
               priority: int = 0, shot: str = "", source_run: str | None = None,
               source_note: int | None = None) -> RunSummary:
        """Validate, then store the prompt and a queued run. Refuses with ValidationFailed.

        The queue is FIFO; a higher `priority` (-100..100) goes ahead of lower ones.

        `with_upscale` chains a 4K upscale of the result once the run completes.
        `run_type=enhance` runs Cosmos' prompt upsampler; its result becomes a new prompt.
        `prompt_id` links the run to a stored prompt (NotFound if there is none) instead of
        storing a new one; if the texts in `params` differ from it, a new prompt derived from
        it is stored.
        The run becomes the next version of its shot (operations/versions.py): the shot named
        `shot`, else `source_run`'s shot (a re-run, a tweak, a note's draft), else the shot of
        its input video. `source_note` is the note that asked for it.
        """
        base_prompt = self.store.get_prompt(prompt_id) if prompt_id else None
        if prompt_id and base_prompt is None:
            raise NotFound(prompt_id)
        host_name = self._checked(params, host)
        shot_errors = self.shot_name_errors(shot)
        if shot_errors:
            raise ValidationFailed(shot_errors)
        if not -100 <= int(priority) <= 100:
            raise ValidationFailed([FieldError("priority", f"Priority {priority} is out of "
                                               "range; use a whole number from -100 to 100 "
                                               "(0 is normal, higher runs first).")])
        if params.input_video:
            params.input_video = str(self.import_video(params.input_video))
        params.control_videos = {c: str(self.import_video(v))
                                 for c, v in params.control_videos.items() if v}
        host_cfg = self.settings.hosts[host_name]
        if with_upscale:
            errors = validate_upscale_weight(params.upscale_weight)
            if errors:
                raise ValidationFailed(errors)
        prompt = base_prompt
        if prompt is None or (prompt.text, prompt.negative_prompt) != (params.prompt,
                                                                      params.negative_prompt):
            prompt = self.store.create_prompt(params.prompt, params.negative_prompt, prompt_name,
                                              parent_id=prompt_id)
        stored = params.to_dict()
        if with_upscale:
            stored["chain_upscale"] = True
        with self.store.writing():  # the run and its version number commit together
            run = self.store.create_run(params=stored, host=host_name, prompt_id=prompt.id,
                                        run_type=run_type, name=name.strip(),
                                        simulated=host_cfg.simulated, priority=priority)
            self.join_shot(run.id, run_type, params.input_video, shot=shot,
                           source_run=source_run, source_note=source_note)
        log.info("queued run %s on %s", run.id, host_name)
        return summarize(run)  # the store published it: every scheduler wakes

    def settings_of(self, run_id: str) -> GenerationParams:
        """A run's settings, to re-run them or load them into the Create form."""
        run = self._get(run_id)
        return GenerationParams.from_dict(run.params_dict())

    def rerun(self, run_id: str) -> RunSummary:
        """Queue a new run with exactly the same settings (and host) as an earlier one."""
        run = self._get(run_id)
        if run.run_type == RUN_UPSCALE:
            return self.upscale(run.parent_id) if run.parent_id else self._refuse_upscale_orphan()
        params = GenerationParams.from_dict(run.params_dict())
        name = f"{run.name} (re-run)" if run.name else ""
        return self.launch(params, name=name, host=run.host,
                           with_upscale=bool(run.params_dict().get("chain_upscale")),
                           run_type=run.run_type, source_run=run.id)

    @staticmethod
    def _refuse_upscale_orphan() -> RunSummary:
        raise Refused("This upscale's source run was deleted; upscale another run instead.")

    def upscale(self, run_id: str, weight: float | None = None) -> RunSummary:
        """Queue a 4K upscale of a completed run's video, on the box that holds it."""
        parent = self._get(run_id)
        if parent.run_type != RUN_INFERENCE:
            raise Refused(f"Only generated videos can be upscaled; this is a {parent.run_type} "
                          "run.")
        if parent.status != COMPLETED or not parent.output_path:
            raise Refused(f"Run {run_id} is {parent.status}; only a completed run with a video "
                          "can be upscaled.")
        params = GenerationParams.from_dict(parent.params_dict())
        params.upscale_weight = self.settings.generation.upscale_weight if weight is None \
            else weight
        errors = validate_upscale_weight(params.upscale_weight)
        if errors:
            raise ValidationFailed(errors)
        if parent.host not in self.settings.hosts:
            raise Refused(f"Host {parent.host} is no longer configured.")
        with self.store.writing():
            run = self.store.create_run(params=params.to_dict(), host=parent.host,
                                        prompt_id=parent.prompt_id, run_type=RUN_UPSCALE,
                                        name=f"{parent.name or 'run'} 4K", parent_id=parent.id,
                                        simulated=parent.simulated)
            self.join_shot(run.id, RUN_UPSCALE, None, source_run=parent.id)
        return summarize(run)

    def enhance(self, params: GenerationParams, *, host: str | None = None,
                name: str = "", prompt_id: str | None = None) -> RunSummary:
        """Queue a prompt-enhancement run: Cosmos' upsampler rewrites the prompt from the video."""
        return self.launch(params, name=name or "prompt enhancement", host=host,
                           run_type=RUN_ENHANCE, prompt_id=prompt_id)

    def dry_run(self, params: GenerationParams, host: str | None = None, *,
                run_type: str = RUN_INFERENCE) -> dict[str, Any]:
        """What `launch` would send, built by backend.runs.plan exactly as a real launch is.

        Validates like `launch` (ValidationFailed) but stores, uploads and queues nothing. The
        run id is provisional (a real launch gets its own), and so are the GPUs and port,
        picked from what is busy right now.
        """
        host_name = self._checked(params, host)
        kind = host_kind(self.settings.hosts[host_name].kind)
        host_cfg = kind.launch_host(self.settings.hosts[host_name])
        run_id = new_id()
        folder = plan.run_dir(host_cfg, run_id)

        def as_imported(path: str) -> str:  # the name import_video would give the file
            src = Path(path)
            if src.parent in (ASSETS_DIR, self.settings.uploads_dir):
                return src.name
            return "x" + (src.suffix.lower() if src.suffix.lower() in VIDEO_SUFFIXES
                          else ".mp4")

        input_link = (plan.input_link(folder, plan.input_link_name(as_imported(
            params.input_video))) if params.input_video else None)
        active = params.active_controls()
        control_links = {c: plan.input_link(folder, plan.input_link_name(as_imported(v), c))
                         for c, v in params.control_videos.items() if v and c in active}
        input_fps = media.probe_video(params.input_video).fps if params.input_video else None
        region_links = [plan.input_link(folder, plan.region_link_name(i, r["mask_video"]))
                        for i, r in enumerate(params.regional_prompts)]
        spec = plan.inference_spec(host_cfg, params, input_link=input_link,
                                   control_links=control_links, input_fps=input_fps,
                                   region_links=region_links)
        running = self.store.runs_in(ACTIVE, host=host_name)
        busy = {g for r in running for g in r.gpu_list()}
        placement = kind.place(host_cfg, params.num_gpus, busy)
        waits = placement is None
        gpus = placement.gpus if placement else list(host_cfg.gpus[:params.num_gpus])
        port = pick_master_port(run_id, {r.master_port for r in running if r.master_port})
        launch = plan.plan_launch(host=host_cfg, run_id=run_id, run_type=run_type,
                                  num_gpus=params.num_gpus, spec=spec, gpus=gpus,
                                  master_port=port,
                                  instance_id=instance_id(self.settings.data_dir))
        return {
            "run_id": run_id, "host": host_name, "simulated": host_cfg.simulated,
            "run_type": run_type, "gpus": list(gpus), "waits_for_gpus": waits,
            "master_port": port, "container_name": launch.container_name,
            "command": launch.command, "argv": list(launch.docker_argv),
            "job_script": launch.job_script, "spec": json.loads(launch.spec_text),
            "spec_json": launch.spec_text,
            "files": {"run_dir": folder, "spec": f"{folder}/spec.json",
                      "job_script": f"{folder}/job.sh", "log": f"{folder}/run.log"},
            "inputs": dict({"input": input_link} if input_link else {}, **control_links),
        }
