"""Launching: validate a request, then store it as a queued run (or show what it would send).

Nothing here talks to a box and nothing blocks on the network: launching means validating and
writing a queued run; the store publishes it and every scheduler (this process's or a
`cosmos worker`'s) wakes and claims it. That is what keeps a click instant and lets a run
outlive the tab that started it. What a request may hold is its model profile's call
(backend/models/profile.py); this module asks it and never branches on a model's name.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from backend import media
from backend.extensions import host_kind
from backend.models.checks import FieldError
from backend.models.params import (RUN_ENHANCE, RUN_INFERENCE, RUN_UPSCALE,
                                   GenerationParams)
from backend.models.profile import (ModelProfile, UnknownModel, get_profile,
                                    profile_ids, unknown_model_error)
from backend.operations import preflight
from backend.operations.errors import NotFound, Refused, ValidationFailed
from backend.operations.summary import RunSummary, summarize
from backend.store.models import ACTIVE, COMPLETED

log = logging.getLogger(__name__)

#: Where a probe error of an input file is shown, by the file's role.
_ROLE_FIELDS = {"input": "input_video", "control": "control_videos.{}",
                "mask": "control_options.{}.mask_path", "weight": "control_options.{}.weight_map",
                "region": "regional_prompts"}


def _role_field(role: str) -> str:
    kind, _, name = role.partition(".")
    return _ROLE_FIELDS.get(kind, role).format(name)


class LaunchOps:
    """A mixin of Operations (settings, store, telemetry)."""

    # -- models -------------------------------------------------------------------------------
    def profile(self, model: str | None = None) -> ModelProfile:
        """A model's profile (the configured default when None); NotFound if unknown."""
        try:
            return get_profile(model or self.settings.generation.model)
        except UnknownModel:
            raise NotFound(model) from None

    def models(self) -> list[dict[str, Any]]:
        """Every model profile, with the hosts that serve it (`cosmos models`)."""
        out = []
        for model in profile_ids():
            entry = get_profile(model).describe()
            entry["hosts"] = [n for n, h in self.settings.hosts.items() if h.serves(model)]
            entry["default"] = model == self.settings.generation.model
            out.append(entry)
        return out

    def default_params(self, model: str | None = None) -> GenerationParams:
        """A fresh request for `model` (default: the config's), with its own defaults."""
        return self.profile(model).defaults(self.settings.generation)

    # -- validation ---------------------------------------------------------------------------
    def _infos(self, profile: ModelProfile, params: GenerationParams, run_type: str
               ) -> tuple[dict[str, Any], list[FieldError]]:
        infos: dict[str, Any] = {}
        errors: list[FieldError] = []
        for entry in profile.input_files(params, run_type):
            refusal = self.input_refusal(entry.path)
            if refusal:
                errors.append(FieldError(_role_field(entry.role), refusal))
                continue
            if not entry.video:
                if not Path(entry.path).is_file():
                    errors.append(FieldError(_role_field(entry.role), f"No such file: "
                                             f"{entry.path}; choose an existing file."))
                continue
            try:
                infos[entry.role] = media.probe_video(entry.path)
            except media.MediaError as exc:
                errors.append(FieldError(_role_field(entry.role), str(exc)))
        return infos, errors

    def validate(self, params: GenerationParams, host: str | None = None,
                 run_type: str = RUN_INFERENCE) -> list[FieldError]:
        """Every reason this request would be refused, each tied to the field to fix."""
        host_name = host or self.settings.generation.host
        host_cfg = self.settings.hosts.get(host_name)
        errors: list[FieldError] = []
        if host_cfg is None:
            errors.append(FieldError("host", f"Unknown host '{host_name}'; choose one of "
                                     + ", ".join(self.settings.hosts) + "."))
        try:
            profile = get_profile(params.model)
        except UnknownModel:
            return errors + [unknown_model_error(params.model, profile_ids())]
        if host_cfg is not None:
            errors += preflight.model_errors(profile, host_cfg, run_type)
        infos, probe_errors = self._infos(profile, params, run_type)
        errors += probe_errors
        errors += profile.validate(params, run_type=run_type, infos=infos,
                                   batching=self.settings.batching)
        if host_cfg is not None and not errors:
            needed = profile.gpus_for(params, run_type)
            if needed > len(host_cfg.gpus):
                errors.append(FieldError("num_gpus", f"{host_name} has {len(host_cfg.gpus)} "
                                         f"GPU(s); ask for at most that many."))
            else:
                errors += self._vram(profile, host_cfg, needed,
                                     profile.vram_for(params, needed))
        return errors

    def _vram(self, profile: ModelProfile, host_cfg: Any, needed: int,
              need_gb: float | None = None) -> list[FieldError]:
        snapshot = None
        if self.telemetry is not None and self.telemetry.snapshot(host_cfg.name) is not None:
            snapshot = self.telemetry.snapshot(host_cfg.name).to_dict()
        if snapshot is None:
            snapshot = self.store.latest_host_look(host_cfg.name)
        ours = {g for r in self.store.runs_in(ACTIVE, host=host_cfg.name) for g in r.gpu_list()}
        checks_box = host_cfg.check_box and host_kind(host_cfg.kind).places_gpus
        return preflight.vram_errors(profile, host_cfg, needed, snapshot, ours, need_gb,
                                     others_wait=checks_box)

    def warnings(self, params: GenerationParams) -> list[FieldError]:
        """What the artist should know that does not stop the run (e.g. a truncated fps)."""
        try:
            profile = get_profile(params.model)
        except UnknownModel:
            return []
        infos, _ = self._infos(profile, params, RUN_INFERENCE)
        return profile.warnings(params, infos=infos)

    def _checked(self, params: GenerationParams, host: str | None,
                 run_type: str = RUN_INFERENCE) -> str:
        """Trim the prompts, validate everything, and return the host name (or refuse)."""
        params.prompt = (params.prompt or "").strip()
        params.negative_prompt = (params.negative_prompt or "").strip()
        host_name = host or self.settings.generation.host
        errors = self.validate(params, host_name, run_type)
        if errors:
            raise ValidationFailed(errors)
        return host_name

    def _import_files(self, params: GenerationParams) -> None:
        """Copy every local file the request names into the uploads folder (temp files of
        the browser vanish; runs must point at something that stays)."""
        if params.input_video:  # a still (image2video) keeps its suffix: models read it
            still = get_profile(params.model).shape(params).input == "image"
            params.input_video = str((self.import_file if still else self.import_video)(
                params.input_video))
        params.control_videos = {c: str(self.import_video(v))
                                 for c, v in params.control_videos.items() if v}
        for block in (params.control_options or {}).values():
            for key in ("mask_path", "weight_map"):
                if isinstance(block, dict) and block.get(key):
                    block[key] = str(self.import_file(block[key]))
        for region in params.regional_prompts or []:
            if isinstance(region, dict) and region.get("mask_video"):
                region["mask_video"] = str(self.import_video(region["mask_video"]))

    # -- launching ----------------------------------------------------------------------------
    def launch(self, params: GenerationParams, *, name: str = "", host: str | None = None,
               prompt_name: str = "", with_upscale: bool = False,
               run_type: str = RUN_INFERENCE, prompt_id: str | None = None,
               priority: int = 0, owner: str | None = None, shot: str = "",
               source_run: str | None = None, source_note: int | None = None) -> RunSummary:
        """Validate, then store the prompt and a queued run. Refuses with ValidationFailed.

        The queue is FIFO; a higher `priority` (-100..100) goes ahead of lower ones.
        `owner` is who launches it (the signed-in user; default: this process's local user);
        their `[fair_share]` limit on queued runs is checked here.
        `with_upscale` chains a 4K upscale of the result once the run completes (by a model
        of the host that has an upscaler). `run_type=enhance` rewrites the prompt with the
        model's prompt upsampler; its result becomes a new prompt. `prompt_id` links the run
        to a stored prompt (NotFound if there is none) instead of storing a new one; if the
        texts in `params` differ from it, a new prompt derived from it is stored.
        The run becomes the next version of its shot (operations/versions.py): the shot named
        `shot`, else `source_run`'s shot (a re-run, a tweak, a note's draft), else the shot of
        its input video. `source_note` is the note that asked for it.
        """
        base_prompt = self.store.get_prompt(prompt_id) if prompt_id else None
        if prompt_id and base_prompt is None:
            raise NotFound(prompt_id)
        owner = owner or self.local_user
        host_name = self._checked(params, host, run_type)
        shot_errors = self.shot_name_errors(shot)
        if shot_errors:
            raise ValidationFailed(shot_errors)
        self._check_queue_limit(owner)
        if isinstance(priority, bool) or not isinstance(priority, int) or \
                not -100 <= priority <= 100:
            raise ValidationFailed([FieldError("priority", f"Priority {priority} is out of "
                                               "range; use a whole number from -100 to 100 "
                                               "(0 is normal, higher runs first).")])
        host_cfg = self.settings.hosts[host_name]
        if with_upscale:
            self._upscaler(host_cfg, params.upscale_weight)
        self._import_files(params)
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
                                        simulated=host_cfg.simulated, priority=priority,
                                        owner=owner, model=params.model,
                                        gpu_count=get_profile(params.model).gpus_for(
                                            params, run_type),
                                        guardrails=get_profile(params.model).guardrails(params))
            self.join_shot(run.id, run_type, params.input_video, shot=shot,
                           source_run=source_run, source_note=source_note)
        log.info("queued run %s (%s) on %s for %s", run.id, params.model, host_name, owner)
        return summarize(run)  # the store published it: every scheduler wakes

    def _check_queue_limit(self, owner: str) -> None:
        """Refuse a run beyond the owner's `max_queued` (their runs waiting, all hosts)."""
        limit = self.settings.fair_share.of(owner).max_queued
        if limit and self.store.queued_count_of(owner) >= limit:
            raise ValidationFailed([FieldError("queue", (
                f"{owner} already has {limit} run(s) waiting, the most [fair_share] allows; "
                "wait for one to start or dequeue one, then try again."))])

    def can_upscale(self, host: str) -> bool:
        """Whether `host` serves a model with a 4K upscaler (the run view's Upscale button)."""
        host_cfg = self.settings.hosts.get(host)
        return host_cfg is not None and any(RUN_UPSCALE in get_profile(m).run_types
                                            for m in host_cfg.models)

    def _upscaler(self, host_cfg: Any, weight: Any) -> ModelProfile:
        """The model that upscales on this host (the first it serves with an upscaler)."""
        model = next((m for m in host_cfg.models if RUN_UPSCALE in get_profile(m).run_types),
                     None)
        if model is None:
            able = [get_profile(m).name for m in profile_ids()
                    if RUN_UPSCALE in get_profile(m).run_types]
            raise ValidationFailed([FieldError("model", f"{host_cfg.name} serves no model with "
                                               "a 4K upscaler (" + ", ".join(host_cfg.models)
                                               + "); run without the upscale, or on a host "
                                               "that serves " + (" or ".join(able) or
                                                                 "one") + ".")])
        profile = get_profile(model)
        probe = GenerationParams(prompt="", negative_prompt="", upscale_weight=weight,
                                 model=model)
        errors = profile.validate(probe, run_type=RUN_UPSCALE, infos={})
        if errors:
            raise ValidationFailed(errors)
        return profile

    def settings_of(self, run_id: str) -> GenerationParams:
        """A run's settings, to re-run them or load them into the Create form."""
        run = self._get(run_id)
        params = GenerationParams.from_dict(run.params_dict())
        params.model = run.model or params.model
        return params

    def rerun(self, run_id: str, *, owner: str | None = None) -> RunSummary:
        """Queue a new run with exactly the same settings (and host) as an earlier one; it is
        the re-runner's (`owner`), not the original's."""
        run = self._get(run_id)
        if run.run_type == RUN_UPSCALE:
            return self.upscale(run.parent_id, owner=owner) if run.parent_id else \
                self._refuse_upscale_orphan()
        if run.run_type == "setup":  # the same setup again (it reuses what is there)
            models = json.loads(run.spec or "{}").get("models") or []
            return self.setup(run.host, model=models[0] if len(models) == 1 else None,
                              owner=owner)
        params = self.settings_of(run_id)
        name = f"{run.name} (re-run)" if run.name else ""
        return self.launch(params, name=name, host=run.host,
                           with_upscale=bool(run.params_dict().get("chain_upscale")),
                           run_type=run.run_type, owner=owner, source_run=run.id)

    @staticmethod
    def _refuse_upscale_orphan() -> RunSummary:
        raise Refused("This upscale's source run was deleted; upscale another run instead.")

    def upscale(self, run_id: str, weight: float | None = None,
                model: str | None = None, *, owner: str | None = None) -> RunSummary:
        """Queue a 4K upscale of a completed run's video, on the box that holds it, by `model`
        (default: the first model of that box with an upscaler), for `owner`."""
        owner = owner or self.local_user
        parent = self._get(run_id)
        if parent.run_type != RUN_INFERENCE:
            raise Refused(f"Only generated videos can be upscaled; this is a {parent.run_type} "
                          "run.")
        if parent.status != COMPLETED or not parent.output_path:
            raise Refused(f"Run {run_id} is {parent.status}; only a completed run with a video "
                          "can be upscaled.")
        if parent.host not in self.settings.hosts:
            raise Refused(f"Host {parent.host} is no longer configured.")
        host_cfg = self.settings.hosts[parent.host]
        params = GenerationParams.from_dict(parent.params_dict())
        params.upscale_weight = self.settings.generation.upscale_weight if weight is None \
            else weight
        if model is not None:
            try:
                profile = get_profile(model)
            except UnknownModel:
                raise ValidationFailed([unknown_model_error(model, profile_ids())]) from None
            errors = preflight.model_errors(profile, host_cfg, RUN_UPSCALE)
            errors += profile.validate(params, run_type=RUN_UPSCALE, infos={}) if not errors \
                else []
            if errors:
                raise ValidationFailed(errors)
        else:
            profile = self._upscaler(host_cfg, params.upscale_weight)
        params.model = profile.id
        self._check_queue_limit(owner)
        with self.store.writing():  # the upscale is the next version of its parent's shot
            run = self.store.create_run(params=params.to_dict(), host=parent.host,
                                        prompt_id=parent.prompt_id, run_type=RUN_UPSCALE,
                                        name=f"{parent.name or 'run'} 4K", parent_id=parent.id,
                                        simulated=parent.simulated, owner=owner,
                                        model=profile.id,
                                        gpu_count=profile.gpus_for(params, RUN_UPSCALE),
                                        guardrails=profile.guardrails(params))
            self.join_shot(run.id, RUN_UPSCALE, None, source_run=parent.id)
        return summarize(run)

    def enhance(self, params: GenerationParams, *, host: str | None = None,
                name: str = "", prompt_id: str | None = None,
                owner: str | None = None) -> RunSummary:
        """Queue a prompt-enhancement run: the model's upsampler rewrites the prompt."""
        return self.launch(params, name=name or "prompt enhancement", host=host,
                           run_type=RUN_ENHANCE, prompt_id=prompt_id, owner=owner)
