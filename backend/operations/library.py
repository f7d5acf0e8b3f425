"""The artist's library: stored prompts and named presets of settings."""

from __future__ import annotations

from typing import Any

from backend.models.checks import FieldError
from backend.models.params import RUN_INFERENCE, GenerationParams
from backend.models.profile import UnknownModel, get_profile, profile_ids, unknown_model_error
from backend.operations.errors import NotFound, ValidationFailed
from backend.store.models import Prompt

#: What a preset leaves out (it is how to render, not what): never validated in a preset.
CONTENT_FIELDS = ("prompt", "negative_prompt", "input_video", "control_videos", "seg_prompt",
                  "weights")


class LibraryOps:
    """A mixin of Operations (settings, store)."""

    def save_preset(self, name: str, params: GenerationParams) -> None:
        name = (name or "").strip()
        if not name or len(name) > 80:
            raise ValidationFailed([FieldError("preset", "Give the preset a name of 1 to 80 "
                                               "characters.")])
        data = params.to_dict()
        data.update(prompt="", input_video=None, control_videos={})  # settings, not content
        # checked as a run with some prompt and input would be: only its settings count
        try:
            profile = get_profile(params.model)
        except UnknownModel:
            raise ValidationFailed([unknown_model_error(params.model, profile_ids())]) from None
        probe = GenerationParams.from_dict(dict(data, prompt="preset", input_video="input.mp4"))
        errors = [e for e in profile.validate(probe, run_type=RUN_INFERENCE, infos={})
                  if e.field.split(".")[0] not in CONTENT_FIELDS]
        if errors:  # a preset holds only settings that a run would accept
            raise ValidationFailed([FieldError("preset", "Not saved: " + "; ".join(
                e.message for e in errors))])
        self.store.save_preset(name, data)

    def load_preset(self, name: str) -> GenerationParams:
        data = self.store.preset_params(name)
        if data is None:
            raise NotFound(name)
        return GenerationParams.from_dict(data)

    def list_presets(self) -> list[str]:
        return self.store.preset_names()

    def delete_preset(self, name: str) -> None:
        self.store.delete_preset(name)

    def get_prompt(self, prompt_id: str) -> tuple[str, str, str | None]:
        """(text, negative prompt, parent prompt id) of a stored prompt."""
        prompt = self.store.get_prompt(prompt_id)
        if prompt is None:
            raise NotFound(prompt_id)
        return prompt.text, prompt.negative_prompt, prompt.parent_id

    def _prompt_dict(self, prompt: Prompt, runs: int | None = None) -> dict[str, Any]:
        if runs is None:
            runs = self.store.count_prompt_runs(prompt.id)
        return {"id": prompt.id, "name": prompt.name, "text": prompt.text,
                "negative_prompt": prompt.negative_prompt, "parent_id": prompt.parent_id,
                "created_at": prompt.created_at, "runs": runs}

    def create_prompt(self, text: str, negative_prompt: str | None = None,
                      name: str = "") -> dict[str, Any]:
        """Store a prompt to run later (`run --prompt-id`); negative defaults to the config's."""
        text = (text or "").strip()
        negative = (negative_prompt if negative_prompt is not None
                    else self.settings.generation.negative_prompt).strip()
        errors = []
        if not text:
            errors.append(FieldError("prompt", "The prompt is empty; describe the scene you want "
                                     "to see."))
        if not negative:
            errors.append(FieldError("negative_prompt", "The negative prompt is empty; Cosmos "
                                     "crashes on an empty negative prompt, so keep the default "
                                     "or describe what to avoid."))
        if errors:
            raise ValidationFailed(errors)
        return self._prompt_dict(self.store.create_prompt(text, negative, (name or "").strip()),
                                 runs=0)

    def prompt_info(self, prompt_id: str) -> dict[str, Any]:
        prompt = self.store.get_prompt(prompt_id) if prompt_id else None
        if prompt is None:
            raise NotFound(prompt_id)
        return self._prompt_dict(prompt)

    def find_prompts(self, text: str = "", *, limit: int = 25,
                     offset: int = 0) -> tuple[list[dict[str, Any]], int]:
        """Prompts, newest first; `text` keeps those whose text or name holds every word."""
        rows, total, counts = self.store.find_prompts(text, limit=limit, offset=offset)
        return [self._prompt_dict(p, counts.get(p.id, 0)) for p in rows], total
