"""The one facade the UI and the CLI use: validate, launch, kill, and ask about runs.

Nothing here talks to SSH or Docker directly and nothing blocks on the network: launching
means validating and writing a queued run; the scheduler does the rest. That is what keeps a
browser click instant and lets a run outlive the tab that started it.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from backend import media, store as st
from backend.config import Settings
from backend.cosmos.params import CONTROLS, GenerationParams, RUN_INFERENCE
from backend.cosmos.validate import FieldError, validate_params
from backend.events import EventBus

log = logging.getLogger(__name__)

ASSETS_DIR = Path(__file__).resolve().parent.parent / "assets"
VIDEO_SUFFIXES = (".mp4", ".mov", ".webm", ".mkv", ".avi", ".m4v")


class ValidationFailed(ValueError):
    """The request was refused before anything was stored; `errors` says why, per field."""

    def __init__(self, errors: list[FieldError]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{e.field}: {e.message}" for e in errors))


class NotFound(KeyError):
    pass


@dataclass(frozen=True)
class RunSummary:
    """A run as the UI and CLI show it (no ORM objects leave this module)."""

    id: str
    name: str
    run_type: str
    status: str
    host: str
    simulated: bool
    prompt: str
    created_at: float
    started_at: float | None
    finished_at: float | None
    exit_code: int | None
    failure_cause: str | None
    failure_evidence: str | None
    output_path: str | None
    thumbnail_path: str | None
    command: str | None
    spec: str | None
    progress: dict[str, Any] | None
    params: dict[str, Any]
    log_lines: int
    cancel_requested: str | None

    @property
    def is_terminal(self) -> bool:
        return self.status in st.TERMINAL


def _summary(run: st.Run) -> RunSummary:
    params = run.params_dict()
    return RunSummary(
        id=run.id, name=run.name, run_type=run.run_type, status=run.status, host=run.host,
        simulated=run.simulated, prompt=params.get("prompt", ""), created_at=run.created_at,
        started_at=run.started_at, finished_at=run.finished_at, exit_code=run.exit_code,
        failure_cause=run.failure_cause, failure_evidence=run.failure_evidence,
        output_path=run.output_path, thumbnail_path=run.thumbnail_path, command=run.command,
        spec=run.spec, progress=run.progress_dict(), params=params, log_lines=run.log_lines,
        cancel_requested=run.cancel_requested,
    )


class Operations:
    def __init__(self, settings: Settings, store: st.Store, bus: EventBus,
                 scheduler: Any | None = None) -> None:
        self.settings = settings
        self.store = store
        self.bus = bus
        self.scheduler = scheduler

    # -- defaults and inputs ------------------------------------------------------------------
    def default_params(self) -> GenerationParams:
        g = self.settings.generation
        return GenerationParams(
            prompt="", negative_prompt=g.negative_prompt, weights=dict(g.weights),
            sigma_max=g.sigma_max, guidance=g.guidance, num_steps=g.num_steps, seed=g.seed,
            blur_strength=g.blur_strength, canny_threshold=g.canny_threshold,
            num_gpus=g.num_gpus, upscale_weight=g.upscale_weight,
        )

    @staticmethod
    def sample_videos() -> list[Path]:
        """Small clips shipped in assets/ so a first run needs no footage of one's own."""
        return sorted(p for p in ASSETS_DIR.glob("*.mp4"))

    def import_video(self, path: str | Path) -> Path:
        """Copy a chosen file into the uploads folder under its content hash.

        Gradio's temp files vanish; runs must point at something that stays. Samples and files
        already imported are used where they are.
        """
        src = Path(path)
        if src.parent in (ASSETS_DIR, self.settings.uploads_dir):
            return src
        digest = hashlib.sha256()
        with open(src, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
        suffix = src.suffix.lower() if src.suffix.lower() in VIDEO_SUFFIXES else ".mp4"
        dest = self.settings.uploads_dir / f"{digest.hexdigest()}{suffix}"
        if not dest.exists():
            dest.parent.mkdir(parents=True, exist_ok=True)
            tmp = dest.with_name(dest.name + ".part")
            shutil.copyfile(src, tmp)
            tmp.replace(dest)
        return dest

    # -- validation and launch ----------------------------------------------------------------
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
        if host_cfg is not None and params.num_gpus > len(host_cfg.gpus):
            errors.append(FieldError("num_gpus", f"{host_name} has {len(host_cfg.gpus)} GPU(s); "
                                     f"ask for at most that many (1, 2, 4 or 8)."))
        return errors

    def launch(self, params: GenerationParams, *, name: str = "", host: str | None = None,
               prompt_name: str = "") -> RunSummary:
        """Validate, then store the prompt and a queued run. Refuses with ValidationFailed."""
        params.prompt = (params.prompt or "").strip()
        params.negative_prompt = (params.negative_prompt or "").strip()
        host_name = host or self.settings.generation.host
        errors = self.validate(params, host_name)
        if errors:
            raise ValidationFailed(errors)
        if params.input_video:
            params.input_video = str(self.import_video(params.input_video))
        params.control_videos = {c: str(self.import_video(v))
                                 for c, v in params.control_videos.items() if v}
        host_cfg = self.settings.hosts[host_name]
        prompt = self.store.create_prompt(params.prompt, params.negative_prompt, prompt_name)
        run = self.store.create_run(params=params.to_dict(), host=host_name, prompt_id=prompt.id,
                                    run_type=RUN_INFERENCE, name=name.strip(),
                                    simulated=host_cfg.simulated)
        log.info("queued run %s on %s", run.id, host_name)
        self.bus.publish("status", run.id, status=st.QUEUED)
        if self.scheduler is not None:
            self.scheduler.wake()
        return _summary(run)

    def kill(self, run_id: str, *, force: bool = False) -> RunSummary:
        """Stop a run: a queued one is cancelled at once, a live one's container is stopped."""
        try:
            run = self.store.request_cancel(run_id, "force" if force else "graceful")
        except KeyError:
            raise NotFound(run_id) from None
        self.bus.publish("status", run_id, status=run.status)
        return _summary(run)

    # -- queries ------------------------------------------------------------------------------
    def get_run(self, run_id: str) -> RunSummary:
        run = self.store.get_run(run_id)
        if run is None:
            raise NotFound(run_id)
        return _summary(run)

    def list_runs(self, *, limit: int = 50, offset: int = 0,
                  statuses: list[str] | None = None) -> list[RunSummary]:
        return [_summary(r) for r in self.store.list_runs(limit=limit, offset=offset,
                                                          statuses=statuses)]

    def log_since(self, run_id: str, after_seq: int = -1, limit: int = 5000) -> list[tuple[int, str]]:
        return [(row.seq, row.text) for row in self.store.log_since(run_id, after_seq, limit)]
