"""The model profile: everything model-specific, in one object the generic code asks.

A profile says what a model is (id, name, controls and their options, variants, GPU counts,
VRAM it needs, image and checkout facts, the checkpoints doctor checks), what the artist may
set (`fields`, `defaults`, `validate`, `warnings`), how a job is made (`input_files`,
`command`: the files the model reads, the launch argv and env, the outputs each run leaves),
how batches group (`batch_key`), and how a job is watched and judged (`progress_tracker`,
`classify`). The generic code (runs/, operations/launching.py, the CLI and the form) asks
these and never branches on a model's name; profiles register in backend/extensions.py.

Why this shape fits more than Transfer1 and Transfer2.5: nothing here assumes an input video
(text2video models validate without one), a spec format (`command` returns any files), a
launcher (`command` returns the argv), an output layout (`RunOutputs` are paths the profile
picks, folders included) or a success signal (`classify` gets the log AND the local copies of
the files the profile asked to collect, e.g. a per-sample status JSON).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any

from backend.models.checks import FieldError, VideoInfoLike
from backend.models.params import GenerationParams
from backend.models.results import Outcome
from backend.models.shapes import (  # noqa: F401  (re-exported: the profile's vocabulary)
    CheckpointFile, ControlSpec, FieldSpec, ImageFacts, InputFile, ItemResult, JobContext,
    JobItem, ModelCommand, OutputFile, RequestShape, RunOutputs, Tracker, VariantSpec)


class ModelProfile(ABC):
    """One model's contract (see the module docstring)."""

    id: str
    name: str
    summary: str
    controls: tuple[ControlSpec, ...]
    gpu_counts: tuple[int, ...]
    run_types: tuple[str, ...]
    variants: tuple[VariantSpec, ...] = ()
    #: Offload flags a run may ask for (each a flag name without dashes).
    offload_flags: tuple[str, ...] = ()
    #: GPU memory one GPU needs, in GB (each GPU holds the full weights).
    vram_gb: float = 0.0
    image: ImageFacts
    checkpoints: tuple[CheckpointFile, ...] = ()
    #: Fields the Create form shows beside the model picker rather than under Advanced
    #: (a model's mode or checkpoint choice).
    primary_fields: tuple[str, ...] = ()

    # -- what the artist sees -------------------------------------------------------------------
    @abstractmethod
    def fields(self) -> tuple[FieldSpec, ...]:
        """The settings of the Advanced section, with this model's ranges."""

    @abstractmethod
    def defaults(self, generation: Any) -> GenerationParams:
        """A fresh request for this model (`generation` is the config's [generation])."""

    def shape(self, params: GenerationParams) -> RequestShape:
        """What this request takes (an input video, controls, which fields); the form follows
        it when a setting such as a mode changes. Default: an input video and controls."""
        return RequestShape()

    # -- checking -------------------------------------------------------------------------------
    @abstractmethod
    def input_files(self, params: GenerationParams, run_type: str) -> list[InputFile]:
        """The artist's files this request needs on the box."""

    @abstractmethod
    def validate(self, params: GenerationParams, *, run_type: str,
                 infos: Mapping[str, VideoInfoLike], batching: bool = False
                 ) -> list[FieldError]:
        """Every reason the model would refuse (or silently mangle) this request.

        `infos` holds probes of the video input files by role; `batching` says whether the
        queue may batch runs (some settings only mean something in a batch)."""

    def warnings(self, params: GenerationParams, *,
                 infos: Mapping[str, VideoInfoLike]) -> list[FieldError]:
        """Things the artist should know that do not stop the run."""
        return []

    # -- the job --------------------------------------------------------------------------------
    @abstractmethod
    def command(self, ctx: JobContext, items: Sequence[JobItem]) -> ModelCommand:
        """The files, argv and outputs of a job of one run or a batch (validated requests)."""

    def guardrails(self, params: GenerationParams) -> bool | None:
        """Whether this request runs with the model's guardrails on (recorded on the run as
        `guardrails`); None: the profile does not say."""
        return None

    def vram_for(self, params: GenerationParams, num_gpus: int) -> float:
        """GPU memory in GB each of the job's GPUs needs (the pre-flight asks this): by
        default `vram_gb`; a model whose checkpoint is a choice (or that shards) answers per
        request."""
        return self.vram_gb

    def batch_key(self, params: GenerationParams, input_fps: float | None) -> tuple | None:
        """Runs with equal keys may share one job; None: this run never batches."""
        return None

    # -- the plan before launch -----------------------------------------------------------------
    #: How the model walks a long input: chunks of `chunk_frames`, each new one overlapping
    #: the previous by `chunk_overlap` frames. None: the whole input in one pass.
    chunk_frames: int | None = None
    chunk_overlap: int = 0

    def chunking(self, params: GenerationParams) -> tuple[int | None, int]:
        """(frames per chunk, overlap) for this request (a profile may let a setting pick)."""
        return self.chunk_frames, self.chunk_overlap

    def plan_chunks(self, params: GenerationParams, frames: int) -> tuple[int, list[int]]:
        """(chunks the model generates for an input of `frames` frames, the input frame at
        which each chunk after the first starts: where its seam falls on the timeline)."""
        size, overlap = self.chunking(params)
        frames = max(1, int(frames))
        if not size or frames <= size:
            return 1, []
        step = size - overlap
        seams, start = [], step
        while start + overlap < frames:
            seams.append(start)
            start += step
        return 1 + len(seams), seams

    def gpus_for(self, params: GenerationParams, run_type: str) -> int:
        """GPUs the job of this request takes (placement asks this, not the params)."""
        try:
            return max(1, int(params.num_gpus))
        except (TypeError, ValueError):
            return 1

    # -- watching and judging -------------------------------------------------------------------
    @abstractmethod
    def progress_tracker(self, n_items: int = 1) -> Tracker:
        """A fresh tracker for a job of `n_items` runs."""

    @abstractmethod
    def classify(self, result: ItemResult) -> Outcome:
        """completed / failed / blocked / cancelled for one run, with cause and evidence."""

    # -- a review note's "re-generate here" ------------------------------------------------------
    #: Whether `with_region_mask` can give a drawn region a prompt of its own.
    takes_region_masks: bool = False
    #: Which mask `with_region_mask` is given: "region" (white = the note's region) or
    #: "outside" (its inverse, white = everything else; the review room makes it, so a
    #: profile stays free of I/O).
    region_mask: str = "region"

    def with_region_mask(self, params: GenerationParams, mask_video: str, *,
                         prompt: str) -> GenerationParams | None:
        """A copy of `params` that re-generates the white region of `mask_video` (an mp4 on
        this machine, the size and length of the run's video) as `prompt` says and keeps the
        rest as the run had it; None when this model has no way to give a region a prompt of
        its own (the review room then refuses and names the models that have one).

        Why the profile decides: how a mask reaches a model is that model's contract (a
        regional prompt's region, a control's mask, a weight map), not the review room's."""
        return None

    def region_mask_of(self, params: GenerationParams) -> str | None:
        """The mask video `with_region_mask` put into `params` (None: it holds none)."""
        return None

    # -- helpers every caller uses ----------------------------------------------------------------
    def control(self, name: str) -> ControlSpec | None:
        return next((c for c in self.controls if c.name == name), None)

    @property
    def control_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.controls)

    def variant(self, name: str) -> VariantSpec | None:
        return next((v for v in self.variants if v.name == name), None)

    def field(self, name: str) -> FieldSpec | None:
        return next((f for f in self.fields() if f.name == name), None)

    def offload_for(self, params: GenerationParams, host_offload: Sequence[str]) -> tuple[str, ...]:
        """The run's offload flags: its own, or the host's that this model accepts."""
        chosen = params.offload if params.offload is not None else host_offload
        return tuple(f for f in self.offload_flags if f in set(chosen or ()))

    def describe(self) -> dict[str, Any]:
        """What `cosmos models --json` prints for this profile."""
        return {
            "id": self.id, "name": self.name, "summary": self.summary,
            "controls": [{"name": c.name, "label": c.label, "options": list(c.options)}
                         for c in self.controls],
            "gpu_counts": list(self.gpu_counts), "run_types": list(self.run_types),
            "variants": [{"name": v.name, "label": v.label, "summary": v.summary,
                          "controls": list(v.controls), "fixed": dict(v.fixed)}
                         for v in self.variants],
            "offload_flags": list(self.offload_flags), "vram_gb": self.vram_gb,
            "image": {"default": self.image.default_image, "build": self.image.build,
                      "checkout": self.image.checkout_dir,
                      "repository": self.image.repository,
                      "entry_script": self.image.entry_script},
            "checkpoints": [{"path": c.path, "root": c.root, "needed_for": c.needed_for}
                            for c in self.checkpoints],
            "fields": [{"name": f.name, "label": f.label, "kind": f.kind, "default": f.default,
                        "minimum": f.minimum, "maximum": f.maximum, "step": f.step,
                        "choices": list(f.choices), "optional": f.optional, "info": f.info}
                       for f in self.fields()],
        }


class UnknownModel(KeyError):
    """No profile is registered under that id."""


def get_profile(model_id: str | None) -> ModelProfile:
    """The registered profile `model_id` (the legacy default when None or empty)."""
    from backend.extensions import model_profiles
    from backend.models.params import LEGACY_MODEL

    profiles = model_profiles()
    key = model_id or LEGACY_MODEL
    if key not in profiles:
        raise UnknownModel(key)
    return profiles[key]


def profile_ids() -> list[str]:
    from backend.extensions import model_profiles

    return list(model_profiles())


def unknown_model_error(model_id: Any, allowed: Sequence[str], field_name: str = "model"
                        ) -> FieldError:
    return FieldError(field_name, f"Unknown model {model_id!r}; use one of "
                      + ", ".join(allowed) + " (`cosmos models` lists them).")


#: The ETA said when the host has no finished run like this one yet (seconds per chunk).
DEFAULT_SECONDS_PER_CHUNK = 120.0


def output_plan(profile: ModelProfile, params: GenerationParams, *, width: int | None,
                height: int | None, frames: int | None, fps: float | None,
                history: Sequence[float] = ()) -> dict[str, Any]:
    """What a run will produce and roughly cost, before anything is spent: output size,
    frames, fps, the chunks the model generates and where their seams fall on the input's
    timeline, and an ETA. `history`: how long the host's finished runs of the same profile,
    GPU count and steps took, in seconds per chunk (none: a default, and it says so)."""
    extra = params.extra or {}
    try:
        limit = int(extra.get("max_frames") or 0)
    except (TypeError, ValueError):
        limit = 0
    out_frames = int(frames) if frames else None
    if out_frames and limit:
        out_frames = min(out_frames, limit)
    try:
        out_fps = float(params.fps) if params.fps else (float(fps) if fps else None)
    except (TypeError, ValueError):
        out_fps = float(fps) if fps else None
    chunks, seams = profile.plan_chunks(params, out_frames or 1)
    size, overlap = profile.chunking(params)
    if history:
        per_chunk = sorted(history)[len(history) // 2]  # the median: one slow run is no rule
        source = f"learned from {len(history)} finished run{'s' if len(history) != 1 else ''}"
    else:
        per_chunk = DEFAULT_SECONDS_PER_CHUNK
        source = "default: no finished run of this model, GPU count and steps on this host yet"
    return {
        "width": width, "height": height, "frames": out_frames,
        "fps": out_fps, "chunks": chunks, "chunk_frames": size, "chunk_overlap": overlap,
        "seams": [{"frame": s, "seconds": round(s / out_fps, 3) if out_fps else None}
                  for s in seams],
        "eta_seconds": round(per_chunk * chunks, 1), "eta_source": source,
        "eta_is_default": not history,
    }


def plan_text(plan: Mapping[str, Any]) -> str:
    """The plan in one line a person reads (the CLI's dry run and the Create form)."""
    size = (f"{plan['width']}x{plan['height']}" if plan.get("width") else "size of the input")
    frames = f"{plan['frames']} frames" if plan.get("frames") else "frames of the input"
    fps = f" at {plan['fps']:g} fps" if plan.get("fps") else ""
    chunks = plan.get("chunks") or 1
    seams = plan.get("seams") or []
    where = ""
    if seams:
        where = "; seams at " + ", ".join(
            f"frame {s['frame']}" + (f" ({s['seconds']:g} s)" if s.get("seconds") is not None
                                     else "") for s in seams)
    eta = plan.get("eta_seconds")
    minutes = f"{eta / 60:.1f} min" if eta and eta >= 90 else f"{eta:.0f} s"
    return (f"{size}, {frames}{fps}; {chunks} chunk{'s' if chunks != 1 else ''}{where}; "
            f"ETA about {minutes} ({plan.get('eta_source')})")
