"""How a note's region mask enters the parameters of the draft v+1 ("re-generate here").

`mask_into_params` is the ONE place that decides it. Today's model is Cosmos-Transfer1, whose
contract (shared/cosmos-transfer1.md section 2.3-2.4) takes spatiotemporal control-weight
maps only as `.pt` tensors, and a mask *video* only as a regional prompt's
`region_definitions_path`. So for Transfer1 the mask travels as a regional prompt: the region
gets the note's words as its own prompt, the rest of the frame keeps the run's prompt.

When model profiles land (issue 13), route here instead: Transfer2.5 takes the same mp4 as a
control's `mask_path` (white = the control applies), and Transfer1 could take a `.pt` weight
map made from it on the box. Nothing else in the review room knows how a mask is carried.
"""

from __future__ import annotations

import copy
from pathlib import Path

from backend import media
from backend.models.transfer1.params import GenerationParams
from backend.models.transfer1.validate import FieldError

#: Longest regional prompt we send (Cosmos' T5 reads 512 tokens; keep room for the main one).
REGION_PROMPT_MAX = 1000


def mask_into_params(params: GenerationParams, mask_video: str | Path, *,
                     prompt: str) -> GenerationParams:
    """A copy of `params` that regenerates the masked region as `prompt` says."""
    draft = copy.deepcopy(params)
    draft.regional_prompts = [{"prompt": prompt.strip(), "mask_video": str(mask_video)}]
    return draft


def mask_of(params: GenerationParams) -> str | None:
    """The mask video a draft carries (None when it carries none)."""
    for region in params.regional_prompts or []:
        if region.get("mask_video"):
            return region["mask_video"]
    return None


def region_errors(params: GenerationParams) -> list[FieldError]:
    """Why the regional prompts would be refused, tied to the region prompt field."""
    errors: list[FieldError] = []
    for index, region in enumerate(params.regional_prompts or []):
        if not isinstance(region, dict):
            errors.append(FieldError("regional_prompts", f"Region {index + 1} is not a "
                                     "{prompt, mask_video} pair."))
            continue
        text = str(region.get("prompt") or "").strip()
        if not text:
            errors.append(FieldError("region_prompt", "Say what the region should become: "
                                     "the region prompt is empty."))
        elif len(text) > REGION_PROMPT_MAX:
            errors.append(FieldError("region_prompt", f"A region prompt is at most "
                                     f"{REGION_PROMPT_MAX} characters, not {len(text)}."))
        try:
            media.probe_video(str(region.get("mask_video") or ""))
        except media.MediaError as exc:
            errors.append(FieldError("regional_prompts", f"Region {index + 1}'s mask video "
                                     f"cannot be used: {exc}. Make the draft again from its "
                                     "note."))
    return errors
