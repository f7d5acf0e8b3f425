"""How a note's region mask enters the parameters of the draft v+1 ("re-generate here").

The run's model decides, through its profile (backend/models/profile.py `with_region_mask`):
Transfer1, for instance, carries the mask video as a regional prompt's region with the note's
words as that region's prompt. A model with no way to give a region a prompt of its own
refuses, and the message names the models that have one. Nothing else in the review room
knows how a mask is carried, and nothing here names a model.
"""

from __future__ import annotations

from pathlib import Path

from backend import media
from backend.models.params import GenerationParams
from backend.models.profile import UnknownModel, get_profile, profile_ids


#: The inverse of a note's mask, made beside it for a model that takes it (region_mask).
OUTSIDE_SUFFIX = ".outside.mp4"


def outside_of(mask_video: str | Path) -> str:
    """Where the inverse of `mask_video` is kept: `<mask>.outside.mp4` beside it."""
    text = str(mask_video)
    return (text[:-4] if text.lower().endswith(".mp4") else text) + OUTSIDE_SUFFIX


class RegionMaskRefused(ValueError):
    """The draft's model cannot re-generate a drawn region with a prompt of its own."""


def region_models() -> list[str]:
    """Names of the models that can re-generate a note's region."""
    return [get_profile(m).name for m in profile_ids() if get_profile(m).takes_region_masks]


def region_refusal(model: str | None) -> str | None:
    """Why `model` cannot take a note's region mask (None: it can)."""
    try:
        profile = get_profile(model)
    except UnknownModel:
        return f"Unknown model {model!r}; choose one of " + ", ".join(profile_ids()) + "."
    if profile.takes_region_masks:
        return None
    able = region_models()
    return (f"{profile.name} cannot re-generate a drawn region with its own prompt (it has no "
            "regional prompts); " + (" or ".join(able) + " can." if able else
                                     "no model here can."))


def mask_into_params(params: GenerationParams, mask_video: str | Path, *,
                     prompt: str) -> GenerationParams:
    """A copy of `params` that re-generates the masked region as `prompt` says (`params` is
    left alone). Raises RegionMaskRefused when its model cannot."""
    refusal = region_refusal(params.model)
    if refusal:
        raise RegionMaskRefused(refusal)
    profile = get_profile(params.model)
    given = str(mask_video)
    if profile.region_mask == "outside":  # the model wants white where it must not change
        given = str(media.negate_video(mask_video, outside_of(mask_video)))
    draft = profile.with_region_mask(params, given, prompt=prompt)
    if draft is None:  # a profile that says it can but does not
        raise RegionMaskRefused(f"{get_profile(params.model).name} did not take the mask.")
    return draft


def mask_of(params: GenerationParams) -> str | None:
    """The mask video a draft carries (None when it carries none, or its model takes none)."""
    try:
        mask = get_profile(params.model).region_mask_of(params)
    except UnknownModel:
        return None
    if mask and mask.endswith(OUTSIDE_SUFFIX):  # the note's mask, whose inverse it carries
        return mask[: -len(OUTSIDE_SUFFIX)] + ".mp4"
    return mask
