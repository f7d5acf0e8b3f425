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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from backend.models.checks import FieldError, VideoInfoLike
from backend.models.params import GenerationParams
from backend.models.results import Outcome, Progress


@dataclass(frozen=True)
class FieldSpec:
    """One setting the Create form and the CLI offer for this model.

    `name` is a GenerationParams attribute or `extra.<key>`; `kind` is "number", "integer",
    "choice" or "text"; `optional` lets it be blank (None: the model's own default).
    """

    name: str
    label: str
    kind: str
    default: Any
    minimum: float | None = None
    maximum: float | None = None
    step: float | None = None
    choices: tuple[Any, ...] = ()
    info: str = ""
    optional: bool = False


@dataclass(frozen=True)
class ControlSpec:
    """One control as this model spells it, with the per-control options it accepts
    (`mask_path`, `mask_prompt`, `ckpt_path`, `weight_map`, `weight_prompt`: see
    backend/models/params.py) and the global preset field that drives its preprocessor."""

    name: str
    label: str
    options: tuple[str, ...] = ()
    preset: str | None = None


@dataclass(frozen=True)
class VariantSpec:
    """A variant of the model (the distilled edge model): which controls it takes and which
    settings it fixes (e.g. num_steps 4)."""

    name: str
    label: str
    summary: str
    controls: tuple[str, ...]
    fixed: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ImageFacts:
    """How the model's container is made and where its code lives.

    `checkout_dir` is the default folder name of a checkout on a box; `entry_script` the file
    that proves a checkout is one (doctor); `container_checkout` where the code is inside the
    container; `entrypoint` replaces the image's entrypoint (None: keep it); `keep_image_paths`
    stay the image's own under a mounted checkout; `sim_checkout` names the simulator's
    stand-in for this model. `repository` is where a checkout is cloned from, and
    `download` how its checkpoints are fetched (doctor's fixes; `{checkout}`,
    `{checkpoint_dir}`, and for a Hugging Face cache `{hf_home}` and `{repos}`, the missing
    repositories, are filled in).
    """

    default_image: str
    build: str
    checkout_dir: str
    entry_script: str
    container_checkout: str
    sim_checkout: str
    entrypoint: str | None = None
    keep_image_paths: tuple[str, ...] = ()
    repository: str = ""
    download: str = ""
    #: `cosmos setup`: the model's own download step as an argv run INSIDE the container, in
    #: the checkout (`{checkpoint_dir}` is filled in; the token reaches it through the
    #: environment, never the argv), and the environment later runs get once every
    #: checkpoint is on the box (no network lookups: HF_HUB_OFFLINE, UV_OFFLINE).
    download_argv: tuple[str, ...] = ()
    offline_env: Mapping[str, str] = field(default_factory=dict)
    #: `--build-arg`s setup passes when it builds the model's own Dockerfile
    build_args: tuple[str, ...] = ()


@dataclass(frozen=True)
class CheckpointFile:
    """A file `doctor` and setup expect: `path` under `root` ("checkpoint_dir" of the checkout,
    or "hf_home", the Hugging Face cache), and what needs it."""

    path: str
    root: str
    needed_for: str
    #: What upstream pins, when it does: setup verifies the file against it.
    sha256: str = ""
    revision: str = ""
    #: The model downloads the whole Hugging Face repository (a `CheckpointDirHf` upstream,
    #: or `from_pretrained`): setup fetches all of it, and `path` is one file every copy of
    #: it has (for an unpinned repository, `refs/main` of the cache).
    whole_repo: bool = False


@dataclass(frozen=True)
class InputFile:
    """A file of the artist's that the job needs on the box: the input video, a control
    video, a mask, a weight map. `role` names it for the profile ("input", "control.edge",
    "mask.edge", "weight.seg", "region.0"); `link_name` is its name in the run's inputs/."""

    role: str
    path: str
    video: bool
    link_name: str


@dataclass(frozen=True)
class JobItem:
    """One run of a job: its settings and where its inputs are inside the container."""

    run_id: str
    params: GenerationParams
    paths: Mapping[str, str]
    input_fps: float | None = None
    input_frames: int | None = None


@dataclass(frozen=True)
class JobContext:
    """The infrastructure side of a job, decided by the generic code."""

    run_type: str
    folder: str  # the job folder, as the container sees it
    checkpoint_dir: str
    num_gpus: int
    master_port: int
    offload: tuple[str, ...]
    batch: bool = False


@dataclass(frozen=True)
class OutputFile:
    """A file to bring home and show: `role` ("control.edge"), a label, its path relative to
    the job folder."""

    role: str
    label: str
    path: str


@dataclass(frozen=True)
class RunOutputs:
    """What one run leaves in the job folder (paths relative to it).

    `video` decides "has a result"; `text` is the final prompt; `recipe` the resolved
    arguments the model used (kept on the run); `extras` are shown in the run view;
    `status` files are handed to `classify` (a per-sample status JSON)."""

    video: str | None = None
    text: str | None = None
    recipe: str | None = None
    extras: tuple[OutputFile, ...] = ()
    status: tuple[str, ...] = ()


@dataclass(frozen=True)
class RequestShape:
    """What a request of this model looks like, so the form follows it (a mode without an
    input video, like text2video): `input` is "video", "image" or None (no input at all);
    `controls` whether control weights and videos apply; `hidden` the field names that do
    not apply to this request (the form hides them and sends nothing for them)."""

    input: str | None = "video"
    controls: bool = True
    hidden: frozenset[str] = frozenset()


@dataclass(frozen=True)
class ModelCommand:
    """A job as the model wants it: files to write into the job folder, the argv and env of
    its launcher, and per run the outputs to collect, the spec text to keep, and facts known
    at plan time (e.g. which control video an upsampler reads)."""

    files: Mapping[str, str]
    spec_files: tuple[str, ...]
    argv: Sequence[str]
    env: Mapping[str, str]
    outputs: Mapping[str, RunOutputs]
    run_specs: Mapping[str, str]
    notes: Mapping[str, tuple[OutputFile, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class ItemResult:
    """What is known about one run once its job ended, for `classify`."""

    run_id: str
    run_type: str
    index: int
    n_items: int
    exit_code: int | None
    log_lines: Sequence[str]
    have_video: bool
    files: Mapping[str, Path | None]
    killed_by_user: bool = False


class Tracker(Protocol):
    """A profile's progress tracker: feed it every log line in order."""

    @property
    def progress(self) -> Progress: ...

    def feed(self, line: str, now: float | None = None) -> Progress | None: ...

    def feed_all(self, lines: Sequence[str], now: float | None = None) -> Progress: ...


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
