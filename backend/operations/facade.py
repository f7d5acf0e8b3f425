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

import json
import time

from backend import media, store as st
from backend.store import history
from backend.config import Settings
from backend.models.transfer1.params import (CONTROLS, RUN_ENHANCE, RUN_INFERENCE, RUN_UPSCALE,
                                   GenerationParams)
from backend.models.transfer1.validate import FieldError, validate_params, validate_upscale_weight
from backend.events import EventBus
from backend.ids import is_valid_id

log = logging.getLogger(__name__)

from backend.paths import ASSETS_DIR  # noqa: E402
VIDEO_SUFFIXES = (".mp4", ".mov", ".webm", ".mkv", ".avi", ".m4v")


class ValidationFailed(ValueError):
    """The request was refused before anything was stored; `errors` says why, per field."""

    def __init__(self, errors: list[FieldError]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{e.field}: {e.message}" for e in errors))


class NotFound(KeyError):
    pass


class Refused(ValueError):
    """The action cannot be done in the run's current state; the message says why and what to do."""


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
    parent_id: str | None = None
    output_info: dict[str, Any] | None = None
    gpus: tuple[int, ...] = ()
    result_prompt_id: str | None = None
    rating: float | None = None
    ratings: int = 0

    @property
    def is_terminal(self) -> bool:
        return self.status in st.TERMINAL


def _summary(run: st.Run, rating: tuple[float, int] | None = None) -> RunSummary:
    params = run.params_dict()
    return RunSummary(
        id=run.id, name=run.name, run_type=run.run_type, status=run.status, host=run.host,
        simulated=run.simulated, prompt=params.get("prompt", ""), created_at=run.created_at,
        started_at=run.started_at, finished_at=run.finished_at, exit_code=run.exit_code,
        failure_cause=run.failure_cause, failure_evidence=run.failure_evidence,
        output_path=run.output_path, thumbnail_path=run.thumbnail_path, command=run.command,
        spec=run.spec, progress=run.progress_dict(), params=params, log_lines=run.log_lines,
        cancel_requested=run.cancel_requested,
        parent_id=run.parent_id, output_info=json.loads(run.output_info) if run.output_info
        else None, gpus=tuple(run.gpu_list()), result_prompt_id=run.result_prompt_id,
        rating=rating[0] if rating else None, ratings=rating[1] if rating else 0,
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

    def _checked(self, params: GenerationParams, host: str | None) -> str:
        """Trim the prompts, validate everything, and return the host name (or refuse)."""
        params.prompt = (params.prompt or "").strip()
        params.negative_prompt = (params.negative_prompt or "").strip()
        host_name = host or self.settings.generation.host
        errors = self.validate(params, host_name)
        if errors:
            raise ValidationFailed(errors)
        return host_name

    def launch(self, params: GenerationParams, *, name: str = "", host: str | None = None,
               prompt_name: str = "", with_upscale: bool = False,
               run_type: str = RUN_INFERENCE, prompt_id: str | None = None,
               priority: int = 0) -> RunSummary:
        """Validate, then store the prompt and a queued run. Refuses with ValidationFailed.

        The queue is FIFO; a higher `priority` (-100..100) goes ahead of lower ones.

        `with_upscale` chains a 4K upscale of the result once the run completes.
        `run_type=enhance` runs Cosmos' prompt upsampler; its result becomes a new prompt.
        `prompt_id` links the run to a stored prompt (NotFound if there is none) instead of
        storing a new one; if the texts in `params` differ from it, a new prompt derived from
        it is stored.
        """
        base_prompt = self.store.get_prompt(prompt_id) if prompt_id else None
        if prompt_id and base_prompt is None:
            raise NotFound(prompt_id)
        host_name = self._checked(params, host)
        if not -100 <= int(priority) <= 100:
            raise ValidationFailed([FieldError("priority", f"Priority {priority} is out of "
                                               "range; use a whole number from -100 to 100 "
                                               "(0 is normal, higher runs first).")])
        if params.input_video:
            params.input_video = str(self.import_video(params.input_video))
        params.control_videos = {c: str(self.import_video(v))
                                 for c, v in params.control_videos.items() if v}
        host_cfg = self.settings.hosts[host_name]
        if with_upscale:
            errors = validate_upscale_weight(params.upscale_weight)
            if errors:
                raise ValidationFailed(errors)
        prompt = base_prompt
        if prompt is None or (prompt.text, prompt.negative_prompt) != (params.prompt,
                                                                      params.negative_prompt):
            prompt = self.store.create_prompt(params.prompt, params.negative_prompt, prompt_name,
                                              parent_id=prompt_id)
        stored = params.to_dict()
        if with_upscale:
            stored["chain_upscale"] = True
        run = self.store.create_run(params=stored, host=host_name, prompt_id=prompt.id,
                                    run_type=run_type, name=name.strip(),
                                    simulated=host_cfg.simulated, priority=priority)
        log.info("queued run %s on %s", run.id, host_name)
        self.bus.publish("status", run.id, status=st.QUEUED)
        if self.scheduler is not None:
            self.scheduler.wake()
        return _summary(run)

    def _queued(self, run: st.Run) -> RunSummary:
        self.bus.publish("status", run.id, status=st.QUEUED)
        if self.scheduler is not None:
            self.scheduler.wake()
        return _summary(run)

    def settings_of(self, run_id: str) -> GenerationParams:
        """A run's settings, to re-run them or load them into the Create form."""
        run = self._get(run_id)
        return GenerationParams.from_dict(run.params_dict())

    def rerun(self, run_id: str) -> RunSummary:
        """Queue a new run with exactly the same settings (and host) as an earlier one."""
        run = self._get(run_id)
        if run.run_type == RUN_UPSCALE:
            return self.upscale(run.parent_id) if run.parent_id else self._refuse_upscale_orphan()
        params = GenerationParams.from_dict(run.params_dict())
        name = f"{run.name} (re-run)" if run.name else ""
        return self.launch(params, name=name, host=run.host,
                           with_upscale=bool(run.params_dict().get("chain_upscale")),
                           run_type=run.run_type)

    @staticmethod
    def _refuse_upscale_orphan() -> RunSummary:
        raise Refused("This upscale's source run was deleted; upscale another run instead.")

    def upscale(self, run_id: str, weight: float | None = None) -> RunSummary:
        """Queue a 4K upscale of a completed run's video, on the box that holds it."""
        parent = self._get(run_id)
        if parent.run_type != RUN_INFERENCE:
            raise Refused(f"Only generated videos can be upscaled; this is a {parent.run_type} "
                          "run.")
        if parent.status != st.COMPLETED or not parent.output_path:
            raise Refused(f"Run {run_id} is {parent.status}; only a completed run with a video "
                          "can be upscaled.")
        params = GenerationParams.from_dict(parent.params_dict())
        params.upscale_weight = self.settings.generation.upscale_weight if weight is None \
            else weight
        errors = validate_upscale_weight(params.upscale_weight)
        if errors:
            raise ValidationFailed(errors)
        if parent.host not in self.settings.hosts:
            raise Refused(f"Host {parent.host} is no longer configured.")
        run = self.store.create_run(params=params.to_dict(), host=parent.host,
                                    prompt_id=parent.prompt_id, run_type=RUN_UPSCALE,
                                    name=f"{parent.name or 'run'} 4K", parent_id=parent.id,
                                    simulated=parent.simulated)
        return self._queued(run)

    def enhance(self, params: GenerationParams, *, host: str | None = None,
                name: str = "", prompt_id: str | None = None) -> RunSummary:
        """Queue a prompt-enhancement run: Cosmos' upsampler rewrites the prompt from the video."""
        return self.launch(params, name=name or "prompt enhancement", host=host,
                           run_type=RUN_ENHANCE, prompt_id=prompt_id)

    def _deletion(self, run_id: str) -> tuple[st.Run, Path | None, bool]:
        """What deleting a run touches: (run, its local folder if any, whether its remote
        folder is ours to remove). Refuses a run that is not over."""
        run = self._get(run_id)
        if not run.is_terminal:
            raise Refused(f"Run {run_id} is {run.status}; kill it first, then delete it.")
        local = self.settings.runs_dir / run_id
        safe = is_valid_id(run_id)
        return (run, local if safe and local.is_dir() else None,
                safe and run.host in self.settings.hosts)

    def delete_run(self, run_id: str) -> list[str]:
        """Delete a finished run: its record, log, local files and its own remote folder.

        Returns what was removed, in words. Never touches another run's files or the shared
        input cache on the box; the remote folder is removed later by the scheduler.
        """
        run, local, remote = self._deletion(run_id)
        removed = [f"run {run_id} and its {run.log_lines} log lines"]
        if local is not None:
            shutil.rmtree(local)
            removed.append(f"local files in {local}")
        with st.db.atomic("IMMEDIATE"):
            if remote:
                st.RemoteCleanup.create(host=run.host, run_id=run_id, created_at=time.time())
                removed.append(f"its folder runs/{run_id} on {run.host}")
            st.Run.delete_by_id(run_id)
        self.bus.publish("status", run_id, status="deleted")
        return removed

    # -- presets ------------------------------------------------------------------------------
    def save_preset(self, name: str, params: GenerationParams) -> None:
        name = (name or "").strip()
        if not name or len(name) > 80:
            raise ValidationFailed([FieldError("preset", "Give the preset a name of 1 to 80 "
                                               "characters.")])
        data = params.to_dict()
        data.update(prompt="", input_video=None, control_videos={})  # settings, not content
        now = time.time()
        (st.Preset.insert(name=name, params=json.dumps(data), created_at=now, updated_at=now)
         .on_conflict(conflict_target=[st.Preset.name],
                      update={st.Preset.params: json.dumps(data), st.Preset.updated_at: now})
         .execute())

    def load_preset(self, name: str) -> GenerationParams:
        row = st.Preset.get_or_none(st.Preset.name == name)
        if row is None:
            raise NotFound(name)
        return GenerationParams.from_dict(json.loads(row.params))

    def list_presets(self) -> list[str]:
        return [p.name for p in st.Preset.select(st.Preset.name).order_by(st.Preset.name)]

    def delete_preset(self, name: str) -> None:
        st.Preset.delete().where(st.Preset.name == name).execute()

    def kill(self, run_id: str, *, force: bool = False, grace: int | None = None) -> RunSummary:
        """Stop a started run's container (graceful, or force = SIGKILL now); ends `cancelled`.

        `grace` is this kill's seconds between SIGTERM and SIGKILL (default: the config's
        kill_grace); it travels to the executor on the run row. A queued run has no container:
        that is `dequeue`, a different action.
        """
        from backend.runs.plan import kill_request

        try:
            mode = kill_request(force, grace)
        except ValueError as exc:
            raise ValidationFailed([FieldError("grace", str(exc))]) from None
        run = self._get(run_id)
        if run.status == st.QUEUED:
            raise Refused(f"Run {run_id} is still queued and has no container; dequeue it "
                          "instead.")
        if run.is_terminal:
            raise Refused(f"Run {run_id} already ended ({run.status}); nothing to kill.")
        run = self.store.request_cancel(run_id, mode)
        self.bus.publish("status", run_id, status=run.status)
        return _summary(run)

    def dequeue(self, run_id: str) -> RunSummary:
        """Take a queued run out of the queue before it starts; it ends `cancelled`."""
        run = self._get(run_id)
        if run.status != st.QUEUED:
            raise Refused(f"Run {run_id} is {run.status}, not queued; "
                          + ("kill it instead." if not run.is_terminal else "nothing to do."))
        try:
            run = self.store.transition(run_id, st.CANCELLED, expect=(st.QUEUED,),
                                        note="dequeued", failure_cause="Dequeued before it "
                                        "started.")
        except st.StaleTransition:
            raise Refused(f"Run {run_id} started meanwhile; kill it instead.") from None
        self.bus.publish("status", run_id, status=run.status)
        return _summary(run)

    # -- queries ------------------------------------------------------------------------------
    def _get(self, run_id: str) -> st.Run:
        run = self.store.get_run(run_id) if run_id else None
        if run is None:
            raise NotFound(run_id)
        return run

    def get_run(self, run_id: str) -> RunSummary:
        run = self._get(run_id)
        return _summary(run, history.ratings_for([run.id]).get(run.id))

    def find_runs(self, flt: history.RunFilter, *, limit: int = 25,
                  offset: int = 0) -> tuple[list[RunSummary], int]:
        """One page of the history (or gallery, with `with_output`) and the total count."""
        runs = history.query_runs(flt, limit=limit, offset=offset)
        ratings = history.ratings_for([r.id for r in runs])
        return [_summary(r, ratings.get(r.id)) for r in runs], history.count_runs(flt)

    def hosts_overview(self) -> list[dict[str, Any]]:
        """Per host: reachability, GPUs, running and queued runs, orphan containers.

        Read from the scheduler's latest in-memory check and the store: never a network call.
        """
        from backend.hosts.telemetry import orphans

        overview = []
        for name, host in self.settings.hosts.items():
            monitor = self.scheduler.monitors.get(name) if self.scheduler else None
            snap = monitor.snapshot if monitor else None
            running = [_summary(r) for r in self.store.runs_in(st.ACTIVE, host=name)]
            queued = [_summary(r) for r in self.store.runs_in((st.QUEUED,), host=name)]

            overview.append({
                "name": name, "kind": host.kind, "simulated": host.simulated,
                "reachable": snap.reachable if snap else None,
                "checked_at": snap.checked_at if snap else None,
                "error": snap.error if snap else "not watched by this process",
                "gpus": snap.gpus if snap else [], "gpu_ids": list(host.gpus),
                "max_concurrent": host.max_concurrent,
                "running": running, "queued": queued,
                "containers": snap.containers if snap else [],
                "orphans": orphans(snap, self._container_owners(snap).__contains__)
                if snap else [],
            })
        return overview

    def _container_owners(self, snap: Any) -> set[str]:
        """The run and batch ids that still own a container of `snap` (one query).

        A run owns its container while active and for a short while after it ends (the
        executor removes the container after collecting).
        """
        from backend.hosts.telemetry import run_id_of

        ids = [i for i in (run_id_of(c) for c in snap.containers) if i]
        if not ids:
            return set()
        recent = (snap.checked_at or time.time()) - 30
        owners: set[str] = set()
        for run in st.Run.select(st.Run.id, st.Run.batch_id, st.Run.status,
                                 st.Run.finished_at).where(
                st.Run.id.in_(ids) | st.Run.batch_id.in_(ids)):
            if run.status not in st.TERMINAL or (run.finished_at or 0) > recent:
                owners.update(i for i in (run.id, run.batch_id) if i)
        return owners

    def remove_orphan(self, host: str, container_name: str) -> None:
        """Ask the host's monitor to remove a container of ours that no run owns."""
        monitor = self.scheduler.monitors.get(host) if self.scheduler else None
        if monitor is None:
            raise Refused(f"Host {host} is not watched by this process.")
        from backend.hosts.telemetry import orphans

        snap = monitor.snapshot
        known = {o["name"] for o in orphans(snap, self._container_owners(snap).__contains__)}
        if container_name not in known:
            raise Refused(f"{container_name} is not an orphan container on {host}.")
        monitor.request_removal(container_name)

    def gpu_metrics(self, run_id: str, limit: int = 2000) -> list[dict[str, Any]]:
        """The run's GPU samples, oldest first (the run view's plot)."""
        rows = (st.MetricSample.select().where(st.MetricSample.run == run_id)
                .order_by(st.MetricSample.at.desc()).limit(limit))
        return [{"at": r.at, "gpu": r.gpu, "utilization": r.utilization,
                 "memory_used": r.memory_used, "memory_total": r.memory_total,
                 "temperature": r.temperature} for r in reversed(list(rows))]

    def get_prompt(self, prompt_id: str) -> tuple[str, str, str | None]:
        """(text, negative prompt, parent prompt id) of a stored prompt."""
        prompt = self.store.get_prompt(prompt_id)
        if prompt is None:
            raise NotFound(prompt_id)
        return prompt.text, prompt.negative_prompt, prompt.parent_id

    def list_runs(self, *, limit: int = 50, offset: int = 0,
                  statuses: list[str] | None = None) -> list[RunSummary]:
        return [_summary(r) for r in self.store.list_runs(limit=limit, offset=offset,
                                                          statuses=statuses)]

    def log_since(self, run_id: str, after_seq: int = -1, limit: int = 5000) -> list[tuple[int, str]]:
        return [(row.seq, row.text) for row in self.store.log_since(run_id, after_seq, limit)]

    # -- CLI (issue 7) ---------------------------------------------------------------------
    # What the `cosmos` command needs beyond the UI's calls. Reads are plain store queries;
    # `dry_run` builds (never sends) a launch through backend.runs.plan, exactly as the executor
    # would; `doctor` is the one call here that talks to boxes, through backend.hosts.doctor.

    def _prompt_dict(self, prompt: st.Prompt, runs: int | None = None) -> dict[str, Any]:
        if runs is None:
            runs = st.Run.select().where(st.Run.prompt == prompt.id).count()
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
        from peewee import fn

        query = st.Prompt.select()
        for word in (text or "").split():
            pattern = f"%{word}%"
            query = query.where(st.Prompt.text ** pattern | st.Prompt.name ** pattern)
        total = query.count()
        rows = list(query.order_by(st.Prompt.id.desc()).limit(limit).offset(offset))
        counts = dict(st.Run.select(st.Run.prompt, fn.COUNT(st.Run.id))
                      .where(st.Run.prompt.in_([p.id for p in rows]))
                      .group_by(st.Run.prompt).tuples()) if rows else {}
        return [self._prompt_dict(p, counts.get(p.id, 0)) for p in rows], total

    def run_details(self, run_id: str) -> dict[str, Any]:
        """What `show RUN` needs beyond RunSummary: history, job script, container, files."""
        run = self._get(run_id)
        local = self.settings.runs_dir / run.id

        def local_file(name: str) -> str | None:
            path = local / name
            return str(path) if is_valid_id(run.id) and path.is_file() else None

        return {
            "prompt_id": run.prompt_id, "job_script": run.job_script,
            "container_name": run.container_name, "container_id": run.container_id,
            "master_port": run.master_port, "worker_id": getattr(run, "worker_id", None),
            "transitions": [{"status": t.status, "at": t.at, "note": t.note}
                            for t in self.store.transitions(run.id)],
            "files": {"video": run.output_path, "thumbnail": run.thumbnail_path,
                      "log": local_file("run.log"), "text": local_file("output.txt")},
        }

    def children_of(self, run_id: str) -> list[RunSummary]:
        """Runs made from this one (its upscale), oldest first."""
        return [_summary(r) for r in st.Run.select().where(st.Run.parent == run_id)
                .order_by(st.Run.id)]

    def live_workers(self) -> list[dict[str, Any]]:
        """Schedulers (the app's or `cosmos worker`s) whose heartbeat is fresh."""

        cutoff = time.time() - self.settings.stale_worker_seconds
        return [{"id": w.id, "pid": w.pid, "hostname": w.hostname, "started_at": w.started_at,
                 "heartbeat_at": w.heartbeat_at}
                for w in st.Worker.select().where(st.Worker.heartbeat_at >= cutoff)
                .order_by(st.Worker.started_at)]

    def queue_overview(self) -> dict[str, Any]:
        """Counts per status, the runs in progress, the queue in start order, per-host GPUs."""
        from peewee import fn

        counts = {s: 0 for s in st.STATUSES}
        counts.update(dict(st.Run.select(st.Run.status, fn.COUNT(st.Run.id))
                           .group_by(st.Run.status).tuples()))
        active = [_summary(r) for r in self.store.runs_in(st.ACTIVE)]
        queued = [_summary(r) for r in st.Run.select().where(st.Run.status == st.QUEUED)
                  .order_by(st.Run.priority.desc(), st.Run.id)]
        hosts = []
        for name, host in self.settings.hosts.items():
            busy = sorted({g for r in active if r.host == name for g in r.gpus})
            hosts.append({"name": name, "simulated": host.simulated, "gpus": list(host.gpus),
                          "busy_gpus": busy, "max_concurrent": host.max_concurrent,
                          "running": sum(r.host == name for r in active),
                          "queued": sum(r.host == name for r in queued)})
        return {"workers": self.live_workers(), "counts": counts, "running": active,
                "queued": queued, "hosts": hosts}

    def dry_run(self, params: GenerationParams, host: str | None = None, *,
                run_type: str = RUN_INFERENCE) -> dict[str, Any]:
        """What `launch` would send, built by backend.runs.plan exactly as the executor builds it.

        Validates like `launch` (ValidationFailed) but stores, uploads and queues nothing. The
        run id is provisional (a real launch gets its own), and so are the GPUs and port,
        picked from what is busy right now.
        """
        from backend.runs import plan
        from backend.models.transfer1.command import pick_master_port
        from backend.ids import new_id
        from backend.runs.scheduler import allocate_gpus, instance_id

        host_name = self._checked(params, host)
        host_cfg = self.settings.hosts[host_name]
        run_id = new_id()
        folder = plan.run_dir(host_cfg, run_id)

        def as_imported(path: str) -> str:  # the name import_video would give the file
            src = Path(path)
            if src.parent in (ASSETS_DIR, self.settings.uploads_dir):
                return src.name
            return "x" + (src.suffix.lower() if src.suffix.lower() in VIDEO_SUFFIXES
                          else ".mp4")

        input_link = (plan.input_link(folder, plan.input_link_name(as_imported(
            params.input_video))) if params.input_video else None)
        active = params.active_controls()
        control_links = {c: plan.input_link(folder, plan.input_link_name(as_imported(v), c))
                         for c, v in params.control_videos.items() if v and c in active}
        input_fps = media.probe_video(params.input_video).fps if params.input_video else None
        spec = plan.inference_spec(host_cfg, params, input_link=input_link,
                                   control_links=control_links, input_fps=input_fps)
        running = self.store.runs_in(st.ACTIVE, host=host_name)
        busy = {g for r in running for g in r.gpu_list()}
        gpus = allocate_gpus(host_cfg, busy, params.num_gpus)
        waits = gpus is None
        gpus = gpus or list(host_cfg.gpus[:params.num_gpus])
        port = pick_master_port(run_id, {r.master_port for r in running if r.master_port})
        launch = plan.plan_launch(host=host_cfg, run_id=run_id, run_type=run_type,
                                  num_gpus=params.num_gpus, spec=spec, gpus=gpus,
                                  master_port=port,
                                  instance_id=instance_id(self.settings.data_dir))
        return {
            "run_id": run_id, "host": host_name, "simulated": host_cfg.simulated,
            "run_type": run_type, "gpus": list(gpus), "waits_for_gpus": waits,
            "master_port": port, "container_name": launch.container_name,
            "command": launch.command, "argv": list(launch.docker_argv),
            "job_script": launch.job_script, "spec": json.loads(launch.spec_text),
            "spec_json": launch.spec_text,
            "files": {"run_dir": folder, "spec": f"{folder}/spec.json",
                      "job_script": f"{folder}/job.sh", "log": f"{folder}/run.log"},
            "inputs": dict({"input": input_link} if input_link else {}, **control_links),
        }

    def doctor(self, hosts: list[str] | None = None) -> list[dict[str, Any]]:
        """Check each host (reachable, docker, image, checkpoints, HF cache, disk, GPUs).

        Unlike everything else here this talks to the boxes (it is what it is for); it is
        called from the CLI, never from a UI event handler.
        """
        from backend.hosts import doctor

        names = list(hosts or self.settings.hosts)
        unknown = [n for n in names if n not in self.settings.hosts]
        if unknown:
            raise NotFound(unknown[0])
        return [r.to_dict() for r in doctor.check_hosts(self.settings, names)]

    # -- UI queries (issue 5) -----------------------------------------------------------------
    def recent_inputs(self, limit: int = 12, scan: int = 300) -> list[tuple[str, str]]:
        """Input videos used by recent runs that still exist here: (label, path), newest first.

        One query over the latest `scan` runs (their params only), so it stays cheap however
        long the history grows. Shipped samples are left out (the form lists them anyway).
        """
        rows = (st.Run.select(st.Run.id, st.Run.name, st.Run.params, st.Run.created_at)
                .where(st.Run.run_type == RUN_INFERENCE)
                .order_by(st.Run.id.desc()).limit(scan))
        seen: dict[str, str] = {}
        for row in rows:
            params = json.loads(row.params)
            path = params.get("input_video")
            if not path or path in seen or Path(path).parent == ASSETS_DIR:
                continue
            if not Path(path).is_file():
                continue
            used = time.strftime("%Y-%m-%d %H:%M", time.localtime(row.created_at))
            title = row.name or (params.get("prompt") or "")[:40] or row.id
            seen[path] = f"{Path(path).name[:10]}... used {used} by '{title}'"
            if len(seen) >= limit:
                break
        return [(label, path) for path, label in seen.items()]

    def delete_preview(self, run_id: str) -> list[str]:
        """What `delete_run` would remove, in the same words, for the confirmation prompt."""
        run, local, remote = self._deletion(run_id)
        items = [f"run {run_id} and its {run.log_lines} log lines"]
        if local is not None:
            size = sum(p.stat().st_size for p in local.rglob("*") if p.is_file())
            items.append(f"local files in {local} ({size / 1e6:.1f} MB)")
        if remote:
            items.append(f"its folder runs/{run_id} on {run.host}")
        derived = st.Run.select().where(st.Run.parent == run_id).count()
        if derived:
            items.append(f"(kept: {derived} run(s) made from it, e.g. upscales, lose their link)")
        return items

    def export_side_by_side(self, a_id: str, b_id: str) -> Path:
        """Render two runs' videos into one labelled mp4 (in data_dir/exports) and return it."""
        runs = [self._get(a_id), self._get(b_id)]
        for run in runs:
            if not run.output_path or not Path(run.output_path).is_file():
                raise Refused(f"Run {run.id} has no video to export.")
        labels = [f"{side}: {run.name or run.id}" for side, run in zip("AB", runs)]
        out = self.exports_dir / f"compare-{a_id}-{b_id}.mp4"
        if out.exists() and out.stat().st_mtime >= max(Path(r.output_path).stat().st_mtime
                                                       for r in runs):
            return out  # already rendered from these very videos
        return media.render_side_by_side(runs[0].output_path, runs[1].output_path, labels, out)

    @property
    def exports_dir(self) -> Path:
        """Side-by-side renders: served to the browser for download, safe to delete."""
        return self.settings.data_dir / "exports"

    def settings_from_video(self, path: str | Path) -> tuple[GenerationParams, dict] | None:
        """Settings embedded in one of our output videos (params, plus run_id/host), or None."""
        data = media.read_embedded_settings(path)
        if not isinstance(data, dict):
            return None
        params = data.get("params") if isinstance(data.get("params"), dict) else data
        try:
            return GenerationParams.from_dict(params), {k: v for k, v in data.items()
                                                        if k != "params"}
        except TypeError:
            return None

    def resolve_id(self, text: str, kinds: tuple[str, ...] = ("run", "prompt")) -> tuple[str, str]:
        """(kind, full id) for a run or prompt id, or a unique prefix of 6+ characters of one.

        NotFound when nothing matches; Refused when a prefix matches more than one.
        """
        text = (text or "").strip().lower()
        models = {"run": st.Run, "prompt": st.Prompt}
        for kind in kinds:
            if models[kind].get_or_none(models[kind].id == text) is not None:
                return kind, text
        if len(text) < 6 or not text.isalnum():
            raise NotFound(text)
        found = [(kind, row.id) for kind in kinds for row in
                 models[kind].select(models[kind].id).where(models[kind].id.startswith(text))
                 .limit(2)]
        if not found:
            raise NotFound(text)
        if len(found) > 1:
            raise Refused(f"'{text}' is the start of several ids ({found[0][1]}, {found[1][1]}"
                          "...); give more characters.")
        return found[0]

    def search_runs(self, text: str, *, limit: int = 25) -> tuple[list[RunSummary], int]:
        """Runs whose name or prompt match the words of `text` (FTS5 prefix match), newest
        first, and how many match in all."""
        match = history.fts_query(text or "")
        if match is None:
            return [], 0
        ids = self.store.search_run_ids(text, limit=limit)
        total = st.db.execute_sql("SELECT count(*) FROM run_fts WHERE run_fts MATCH ?",
                                  (match,)).fetchone()[0]
        runs, _ = self.find_runs(history.RunFilter(ids=ids), limit=limit)
        return runs, int(total)

    # -- reviews (issue 6) ---------------------------------------------------------------------
    REVIEW_COMMENT_MAX = 2000

    def add_review(self, run_id: str, username: str | None, rating: int | None,
                   comment: str | None) -> dict:
        """Store one rating (1-5) and/or comment on a run, by `username` ("local" when
        sign-in is off). Refused with ValidationFailed before anything is stored."""
        comment = (comment or "").strip()
        errors: list[FieldError] = []
        if rating is not None:
            try:
                rating = int(rating)
            except (TypeError, ValueError):
                rating = 0
            if not 1 <= rating <= 5:
                errors.append(FieldError("rating", "A rating is a whole number from 1 to 5."))
        if len(comment) > self.REVIEW_COMMENT_MAX:
            errors.append(FieldError("comment", f"A comment is at most "
                                     f"{self.REVIEW_COMMENT_MAX} characters."))
        if rating is None and not comment:
            errors.append(FieldError("general", "Give a rating, a comment, or both."))
        if not is_valid_id(run_id or "") or st.Run.get_or_none(st.Run.id == run_id) is None:
            raise NotFound(run_id)
        if errors:
            raise ValidationFailed(errors)
        row = st.Review.create(run=run_id, username=username or "local", rating=rating,
                               comment=comment, created_at=time.time())
        return self._review_dict(row)

    def reviews(self, run_id: str) -> list[dict]:
        """A run's reviews, newest first."""
        if not is_valid_id(run_id or ""):
            return []
        rows = (st.Review.select().where(st.Review.run == run_id)
                .order_by(st.Review.created_at.desc(), st.Review.id.desc()))
        return [self._review_dict(r) for r in rows]

    @staticmethod
    def _review_dict(row: Any) -> dict:
        return {"id": row.id, "run_id": row.run_id, "username": row.username,
                "rating": row.rating, "comment": row.comment, "created_at": row.created_at}
