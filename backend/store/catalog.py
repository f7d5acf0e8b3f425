"""Prompts and presets: the texts and settings artists keep to reuse."""

from __future__ import annotations

import json
import time
from typing import Any

from peewee import fn

from backend.ids import new_id
from backend.store.models import Preset, Prompt, Run


class CatalogStore:
    """A mixin of Store."""

    # -- prompts ------------------------------------------------------------------------------
    def create_prompt(self, text: str, negative_prompt: str, name: str = "",
                      parent_id: str | None = None) -> Prompt:
        return Prompt.create(id=new_id(), text=text, negative_prompt=negative_prompt, name=name,
                             parent=parent_id, created_at=time.time())

    def get_prompt(self, prompt_id: str) -> Prompt | None:
        return Prompt.get_or_none(Prompt.id == prompt_id)

    def prompt_ids_starting_with(self, prefix: str, limit: int = 2) -> list[str]:
        return [p.id for p in Prompt.select(Prompt.id).where(Prompt.id.startswith(prefix))
                .limit(limit)]

    def find_prompts(self, text: str = "", *, limit: int = 25,
                     offset: int = 0) -> tuple[list[Prompt], int, dict[str, int]]:
        """Prompts whose text or name holds every word of `text`, newest first; the total
        count; and how many runs each prompt on the page has (one query each)."""
        query = Prompt.select()
        for word in (text or "").split():
            pattern = f"%{word}%"
            query = query.where(Prompt.text ** pattern | Prompt.name ** pattern)
        total = query.count()
        rows = list(query.order_by(Prompt.id.desc()).limit(limit).offset(offset))
        counts = dict(Run.select(Run.prompt, fn.COUNT(Run.id))
                      .where(Run.prompt.in_([p.id for p in rows]))
                      .group_by(Run.prompt).tuples()) if rows else {}
        return rows, total, counts

    def count_prompt_runs(self, prompt_id: str) -> int:
        return Run.select().where(Run.prompt == prompt_id).count()

    # -- presets ------------------------------------------------------------------------------
    def save_preset(self, name: str, params: dict[str, Any]) -> None:
        """Insert or replace the named preset."""
        now = time.time()
        text = json.dumps(params)
        (Preset.insert(name=name, params=text, created_at=now, updated_at=now)
         .on_conflict(conflict_target=[Preset.name],
                      update={Preset.params: text, Preset.updated_at: now})
         .execute())

    def preset_params(self, name: str) -> dict[str, Any] | None:
        row = Preset.get_or_none(Preset.name == name)
        return json.loads(row.params) if row else None

    def preset_names(self) -> list[str]:
        return [p.name for p in Preset.select(Preset.name).order_by(Preset.name)]

    def delete_preset(self, name: str) -> None:
        Preset.delete().where(Preset.name == name).execute()
