"""A note that becomes the next run: its drawn region over its frames becomes a mask video at
the run's resolution and length, and the run's settings plus that mask become a draft of the
shot's next version, which the operator opens in Create, adjusts and launches.

How the mask enters the parameters is the run's model's call (its profile), asked in one
place, backend/review/regenerate.py; a model that cannot take one is refused up front.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from backend.models.checks import FieldError
from backend.models.params import RUN_INFERENCE, GenerationParams
from backend.operations.errors import Refused, ValidationFailed
from backend.operations.summary import RunSummary
from backend.review.drawing import parse_drawing
from backend.review.mask import MaskError, check_mask_request, write_mask_video
from backend.review.regenerate import (RegionMaskRefused, mask_into_params, region_models,
                                       region_refusal)


@dataclass(frozen=True)
class Draft:
    """What "re-generate here" offers: the next version of the note's shot."""

    note_id: int
    run_id: str  # the version the note is on
    shot_id: str
    shot_name: str
    next_number: int  # the version number the draft will most likely get
    params: GenerationParams  # the run's settings with the mask in them
    mask_video: str
    region_prompt: str
    first_frame: int
    last_frame: int
    width: int
    height: int
    frames: int


class DraftOps:
    """A mixin of Operations (settings, store; uses NoteOps, VersionOps, LaunchOps)."""

    @property
    def masks_dir(self) -> Path:
        """Mask videos of notes: inputs of the runs made from them (kept like uploads)."""
        return self.settings.uploads_dir / "masks"

    def draft_from_note(self, note_id: object) -> Draft:
        """The draft v+1 of a note (its mask video is made once and kept). Refused with the
        reason when the note has no region, is not on a generated video, or its run's model
        cannot re-generate a region (the message names the models that can)."""
        note = self._note(note_id)
        if note.parent_id is not None:
            note = self.store.get_note(note.parent_id)
        run = self._get(note.run_id)
        if run.run_type != RUN_INFERENCE:
            raise Refused(f"Run {run.id} is a {run.run_type} run; re-generate from a note on "
                          "a generated version (an upscale's source, for instance).")
        refusal = region_refusal(run.model)
        if refusal:
            advice = (" Make a version of this shot with one of those, then note on it."
                      if region_models() else "")
            raise Refused(f"Run {run.id}: {refusal}{advice}")
        facts = self.video_facts(run.id)
        try:
            first, last = check_mask_request(parse_drawing(note.drawing), note.frame,
                                             note.end_frame, facts["frames"])
            # named by what it is made of too: a note id freed by a deleted run may come back
            shape = json.dumps([note.drawing, first, last, facts["width"], facts["height"],
                                facts["frames"], facts["fps"]])
            key = hashlib.sha256(shape.encode()).hexdigest()[:12]
            mask = self.masks_dir / f"note-{note.id}-{key}.mp4"
            if not mask.is_file():
                write_mask_video(parse_drawing(note.drawing), width=facts["width"],
                                 height=facts["height"], frames=facts["frames"],
                                 fps=facts["fps"], first=first, last=last, out=mask)
        except MaskError as exc:
            raise Refused(str(exc)) from None
        info = self.store.version_info(run.id)
        shot = self.store.get_shot(info.shot_id) if info else None
        prompt = note.text or ""
        try:
            params = mask_into_params(self.settings_of(run.id), mask, prompt=prompt)
        except RegionMaskRefused as exc:
            raise Refused(str(exc)) from None
        return Draft(note_id=note.id, run_id=run.id, shot_id=info.shot_id if info else "",
                     shot_name=shot.name if shot else "",
                     next_number=shot.next_number if shot else 1, params=params,
                     mask_video=str(mask), region_prompt=prompt, first_frame=first,
                     last_frame=last, width=facts["width"], height=facts["height"],
                     frames=facts["frames"])

    def draft_preview(self, draft: Draft) -> str:
        """The note's frame with the mask's region lit up, as base64 JPEG ('' if unreadable)."""
        import base64
        import io

        from backend.media import MediaError
        from backend.review.drawing import fill_regions
        from backend.review.frames import region_preview

        run = self._get(draft.run_id)
        note = self._note(draft.note_id)
        try:
            image = region_preview(run.output_path, draft.first_frame,
                                   fill_regions(parse_drawing(note.drawing),
                                                (draft.width, draft.height)))
        except (MediaError, OSError):
            return ""
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=80)
        return base64.b64encode(buffer.getvalue()).decode("ascii")

    def launch_draft(self, note_id: object, params: GenerationParams, *, region_prompt: str,
                     name: str = "", host: str | None = None,
                     with_upscale: bool = False, owner: str | None = None) -> RunSummary:
        """Launch the (adjusted) draft: `params` from the form, the note's mask with
        `region_prompt`, as the next version of the note's shot, linked to the note. A model
        chosen in the form that cannot take the mask is refused on the model field."""
        draft = self.draft_from_note(note_id)
        try:
            final = mask_into_params(params, draft.mask_video, prompt=region_prompt or "")
        except RegionMaskRefused as exc:
            raise ValidationFailed([FieldError("model", f"{exc} Choose it under Model to "
                                               "re-generate this note's region.")]) from None
        return self.launch(final, name=name, host=host, with_upscale=with_upscale,
                           owner=owner, source_run=draft.run_id, source_note=draft.note_id)
