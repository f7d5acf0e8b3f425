"""Collecting a finished job: bring its log and outputs home, decide how each run ended.

Whatever happened (success, failure, kill, a vanished container) the full log and any outputs
are downloaded (as `.part`, size-checked, then renamed) before a run is marked terminal, and a
failure gets a one-line cause with the log line that proves it. A batch's members each get
their own video and status; a member whose batch-mate was killed did nothing wrong and goes
back to the queue. The video's settings embed, probe and thumbnail run side by side (and the
container's removal beside them): a completed run shows up a fraction of a second after its
container ended.
"""

from __future__ import annotations

import json
import logging
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from backend import media
from backend.hosts.runtime import HostRuntime
from backend.models.transfer1.batch import batch_output_paths
from backend.models.transfer1.outcome import classify_outcome
from backend.models.transfer1.params import RUN_ENHANCE, RUN_INFERENCE, RUN_UPSCALE
from backend.remote.shell import RemoteError
from backend.runs.job import Job
from backend.runs.plan import VIDEO_NAME
from backend.store.models import COLLECTING, COMPLETED, Run

log = logging.getLogger(__name__)


class Collector:
    def __init__(self, store: Any, runtime: HostRuntime, runs_dir: Path) -> None:
        self.store = store
        self.rt = runtime
        self.runs_dir = runs_dir

    def collect(self, job: Job) -> None:
        runs = job.with_status(COLLECTING)
        if not runs:
            return
        folder = self.rt.run_dir(job.id)
        killed = [r for r in job.runs if r.cancel_requested]
        log_lines = self.store.log_text(runs[0].id)
        outputs = self._outputs(job, folder)
        with ThreadPoolExecutor(max_workers=4, thread_name_prefix=f"collect-{job.id}") as pool:
            removal = pool.submit(self._remove_container, job)  # its log and outputs stay
            finished = [(run, self._fetch_outputs(run, folder, outputs[run.id], job, pool))
                        for run in runs]
            removal.result()
        completed: list[Run] = []
        for run, (have_video, fields) in finished:
            fresh = self.store.get_run(run.id)
            if killed and not fresh.cancel_requested and not have_video:
                self.store.requeue(run.id, expect=(COLLECTING,),
                                   note=f"requeued: batch-mate {killed[0].id} was killed")
                continue
            outcome = classify_outcome(exit_code=fresh.exit_code, log_lines=log_lines,
                                       output_exists=have_video,
                                       killed_by_user=bool(fresh.cancel_requested))
            fields.update(failure_cause=None if outcome.status == COMPLETED else outcome.cause,
                          failure_evidence=outcome.evidence)
            if outcome.status == COMPLETED and fresh.run_type == RUN_ENHANCE:
                fields["result_prompt_id"] = self._store_enhanced_prompt(fresh)
            done = self.store.transition(run.id, outcome.status, expect=(COLLECTING,),
                                         note=outcome.cause, **fields)
            log.info("run %s ended %s: %s", run.id, outcome.status, outcome.cause)
            if outcome.status == COMPLETED:
                completed.append(done)
        self.rt.engine.explain_end(job.name, [r.id for r in runs])
        for run in completed:
            self._chain_upscale(run)

    # -- files --------------------------------------------------------------------------------
    def _outputs(self, job: Job, folder: str) -> dict[str, tuple[str, str]]:
        """run id -> (its video, its prompt text) on the box."""
        if not job.is_batch:
            return {job.runs[0].id: (f"{folder}/outputs/{VIDEO_NAME}.mp4",
                                     f"{folder}/outputs/{VIDEO_NAME}.txt")}
        paths = batch_output_paths(f"{folder}/outputs",
                                   max(r.batch_index for r in job.runs) + 1)
        return {r.id: paths[r.batch_index] for r in job.runs}

    def _fetch(self, remote: str, local: Path) -> bool:
        """Download if present: land as .part, check the size, then rename."""
        shell = self.rt.shell
        if not shell.exists(remote):
            return False
        part = local.with_name(local.name + ".part")
        shell.get_file(remote, part)
        size = shell.run(["stat", "-L", "-c", "%s", remote])
        if size.ok and int(size.out.strip()) != part.stat().st_size:
            part.unlink(missing_ok=True)
            raise RemoteError(f"download of {remote} is incomplete")
        part.replace(local)
        return True

    def _fetch_outputs(self, run: Run, folder: str, remote: tuple[str, str], job: Job,
                       pool: ThreadPoolExecutor) -> tuple[bool, dict[str, Any]]:
        """Bring the run's log, video and text home; (has a readable video, fields to set)."""
        local_dir = self.runs_dir / run.id
        local_dir.mkdir(parents=True, exist_ok=True)
        self._fetch(f"{folder}/run.log", local_dir / "run.log")
        video = local_dir / f"{VIDEO_NAME}.mp4"
        have_video = self._fetch(remote[0], video)
        self._fetch(remote[1], local_dir / f"{VIDEO_NAME}.txt")
        if not have_video:
            return False, {}
        if not job.is_batch:
            self._fetch_computed_controls(run, folder, local_dir)
        settings = {"run_id": run.id, "run_type": run.run_type, "host": run.host,
                    "params": run.params_dict()}
        if job.is_batch:
            settings["batch_id"] = job.id
        embed = pool.submit(media.embed_settings, video, settings)
        probe = pool.submit(media.probe_video, video)
        thumb = pool.submit(media.make_thumbnail, video, local_dir / "thumb.jpg")
        try:
            embed.result()
            info = probe.result()
            thumbnail = thumb.result()
        except media.MediaError as exc:
            log.warning("run %s output is not a readable video: %s", run.id, exc)
            return False, {}
        return True, {"output_info": json.dumps(dict(info.to_dict(), bytes=video.stat().st_size)),
                      "output_path": str(video), "thumbnail_path": str(thumbnail)}

    def _fetch_computed_controls(self, run: Run, folder: str, local_dir: Path) -> None:
        """The control videos Cosmos computed itself (`<hint>_input_control_0.mp4`), so
        Compare can lay the control that drove a run over its output (controls/<hint>.mp4)."""
        params = run.params_dict()
        own = params.get("control_videos") or {}
        for hint, weight in (params.get("weights") or {}).items():
            if float(weight or 0) <= 0 or own.get(hint) or not hint.isalpha():
                continue
            (local_dir / "controls").mkdir(exist_ok=True)
            try:
                self._fetch(f"{folder}/outputs/{hint}_input_control_0.mp4",
                            local_dir / "controls" / f"{hint}.mp4")
            except (OSError, RemoteError) as exc:  # a missing layer must not fail the run
                log.warning("run %s: could not fetch its %s control: %s", run.id, hint, exc)

    def _remove_container(self, job: Job) -> None:
        removed = self.rt.engine.remove(job.name)
        if not removed.ok and "no such" not in (removed.err + removed.out).lower():
            log.warning("job %s: could not remove its container: %s", job.id,
                        removed.err.strip())

    # -- what a finished run leads to ---------------------------------------------------------
    def _store_enhanced_prompt(self, run: Run) -> str | None:
        """Turn the upsampler's rewritten prompt into a new prompt linked to the original."""
        text_file = self.runs_dir / run.id / f"{VIDEO_NAME}.txt"
        if not text_file.exists():
            return None
        text = text_file.read_text(encoding="utf-8").strip()
        prompt = self.store.create_prompt(text, run.params_dict().get("negative_prompt", ""),
                                          name=f"enhanced from run {run.id}",
                                          parent_id=run.prompt_id)
        return prompt.id

    def _chain_upscale(self, run: Run) -> None:
        """"Run + upscale": a completed generation queues its 4K upscale on the same box."""
        params = run.params_dict()
        if run.run_type != RUN_INFERENCE or not params.get("chain_upscale"):
            return
        with self.store.writing():  # the upscale is the next version of its parent's shot
            child = self.store.create_run(
                params=dict(params, chain_upscale=False), host=run.host,
                prompt_id=run.prompt_id, run_type=RUN_UPSCALE, parent_id=run.id,
                name=f"{run.name or 'run'} 4K", simulated=run.simulated)
            self.store.join_source_shot(child.id, run.id)
        log.info("run %s chained upscale %s", run.id, child.id)
