"""The value shapes a model profile speaks in (backend/models/profile.py): what the artist may
set (FieldSpec, ControlSpec, VariantSpec), what the box needs (ImageFacts, CheckpointFile), what
a job is made of (InputFile, JobItem, JobContext, ModelCommand), what it leaves (OutputFile,
RunOutputs, ItemResult) and how it is watched (Tracker).

Plain frozen data, apart from the profile's behaviour: the profile module imports them from here
and re-exports them, so `from backend.models.profile import CheckpointFile` keeps working.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from backend.models.params import GenerationParams
from backend.models.results import Progress


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
