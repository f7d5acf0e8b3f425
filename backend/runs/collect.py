"""Collecting a finished job: bring its log and outputs home, decide how each run ended.

Whatever happened (success, failure, kill, a vanished container) the full log and any outputs
are downloaded (as `.part`, size-checked, then renamed) before a run is marked terminal, and a
failure gets a one-line cause with the log line that proves it. A batch's members each get
their own video and status; a member whose batch-mate was killed did nothing wrong and goes
back to the queue. The video's settings embed, probe and thumbnail run side by side (and the
container's removal beside them): a completed run shows up a fraction of a second after its
container ended.

Which files a run left, and how it ended, are its model profile's answers: the outputs layout
the plan stored on the run (`artifacts.layout`: video, prompt text, resolved recipe, control
videos the model wrote) and `profile.classify`. Local copies get model-independent names
(`output.mp4`, `output.txt`, `recipe.json`, the extras under their own names).
"""

from __future__ import annotations

import json
import logging
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from backend import media
from backend.hosts.runtime import HostRuntime
from backend.models.params import RUN_ENHANCE, RUN_INFERENCE, RUN_UPSCALE, GenerationParams
from backend.models.profile import ItemResult, ModelProfile, RunOutputs, get_profile
from backend.remote.shell import RemoteError
from backend.runs.job import Job
from backend.runs.plan import RECIPE_NAME, VIDEO_NAME, outputs_from_dict
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
        profile = get_profile(job.runs[0].model)
        folder = self.rt.run_dir(job.id)
        killed = [r for r in job.runs if r.cancel_requested]
        log_lines = self.store.log_text(runs[0].id)
        with ThreadPoolExecutor(max_workers=4, thread_name_prefix=f"collect-{job.id}") as pool:
            removal = pool.submit(self._remove_container, job)  # its log and outputs stay
            finished = [(run, self._fetch_outputs(run, folder, self._layout(job, run), job,
                                                  pool)) for run in runs]
            removal.result()
        ending: list[tuple[Run, Any, dict[str, Any]]] = []
        for run, (have_video, fields, files) in finished:
            fresh = self.store.get_run(run.id)
            if killed and not fresh.cancel_requested and not have_video:
                self.store.requeue(run.id, expect=(COLLECTING,),
                                   note=f"requeued: batch-mate {killed[0].id} was killed")
                continue
            outcome = self._classify(profile, job, fresh, log_lines, have_video, files)
            fields.update(failure_cause=None if outcome.status == COMPLETED else outcome.cause,
                          failure_evidence=outcome.evidence)
            if outcome.status == COMPLETED and fresh.run_type == RUN_ENHANCE:
                fields["result_prompt_id"] = self._store_enhanced_prompt(fresh)
            ending.append((fresh, outcome, fields))
        # what only the engine knows (Slurm's reason, the node) goes in with the end itself:
        # added afterwards, a reader seeing the run ended could read the wrong cause
        extra = self.rt.engine.explain_end(job.name, {r.id: o.status for r, o, _ in ending})
        completed: list[Run] = []
        for fresh, outcome, fields in ending:
            fields.update(extra.get(fresh.id, {}))
            cause = fields.get("failure_cause") or outcome.cause
            done = self.store.transition(fresh.id, outcome.status, expect=(COLLECTING,),
                                         note=cause, **fields)
            log.info("run %s ended %s: %s", fresh.id, outcome.status, cause)
            if outcome.status == COMPLETED:
                completed.append(done)
        for run in completed:
            self._chain_upscale(run)

    @staticmethod
    def _classify(profile: ModelProfile, job: Job, run: Run, log_lines: list[str],
                  have_video: bool, files: dict[str, Path | None]):
        return profile.classify(ItemResult(
            run_id=run.id, run_type=run.run_type, index=run.batch_index or 0,
            n_items=len(job.runs), exit_code=run.exit_code, log_lines=log_lines,
            have_video=have_video, files=files, killed_by_user=bool(run.cancel_requested)))

    # -- files --------------------------------------------------------------------------------
    @staticmethod
    def _layout(job: Job, run: Run) -> RunOutputs:
        """Where the run's outputs are in the job folder, as its plan stored it (a run planned
        before profiles existed: Transfer1's layout, single or batch item)."""
        stored = outputs_from_dict(json.loads(run.artifacts).get("layout")
                                   if run.artifacts else None)
        if stored is not None:
            return stored
        if job.is_batch:
            folder = f"outputs/video_{run.batch_index}"
            return RunOutputs(video=f"{folder}/output.mp4", text=f"{folder}/prompt.txt")
        return RunOutputs(video=f"outputs/{VIDEO_NAME}.mp4", text=f"outputs/{VIDEO_NAME}.txt")

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

    def _fetch_outputs(self, run: Run, folder: str, layout: RunOutputs, job: Job,
                       pool: ThreadPoolExecutor
                       ) -> tuple[bool, dict[str, Any], dict[str, Path | None]]:
        """Bring the run's log, video, text, recipe and extras home; (has a readable video,
        fields to set, the local files by role for the profile's classify)."""
        local_dir = self.runs_dir / run.id
        local_dir.mkdir(parents=True, exist_ok=True)
        self._fetch(f"{folder}/run.log", local_dir / "run.log")
        files: dict[str, Path | None] = {}
        fields: dict[str, Any] = {}
        for role, rel, name in (("text", layout.text, f"{VIDEO_NAME}.txt"),
                                ("recipe", layout.recipe, RECIPE_NAME)):
            local = local_dir / name
            files[role] = local if rel and self._fetch(f"{folder}/{rel}", local) else None
        for rel in layout.status:
            local = local_dir / Path(rel).name
            files[f"status:{rel}"] = local if self._fetch(f"{folder}/{rel}", local) else None
        if files.get("recipe") is not None:
            fields["recipe"] = files["recipe"].read_text(encoding="utf-8", errors="replace")
        artifacts = json.loads(run.artifacts) if run.artifacts else {}
        collected = []
        for extra in layout.extras:
            local = local_dir / Path(extra.path).name
            if self._fetch(f"{folder}/{extra.path}", local):
                collected.append({"role": extra.role, "label": extra.label, "path": str(local)})
        if collected or artifacts:
            artifacts["files"] = collected
            fields["artifacts"] = json.dumps(artifacts)
        video = local_dir / f"{VIDEO_NAME}.mp4"
        have_video = bool(layout.video) and self._fetch(f"{folder}/{layout.video}", video)
        if not have_video:
            return False, fields, files
        settings = {"run_id": run.id, "run_type": run.run_type, "host": run.host,
                    "model": run.model, "image_digest": run.image_digest,
                    "checkpoints_manifest": run.checkpoints_manifest,
                    "guardrails": run.guardrails, "params": run.params_dict()}
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
            return False, fields, files
        fields.update(output_info=json.dumps(dict(info.to_dict(), bytes=video.stat().st_size)),
                      output_path=str(video), thumbnail_path=str(thumbnail))
        return True, fields, files

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
        """"Run + upscale": a completed generation queues its 4K upscale on the same box, made
        by the first model the box serves that has an upscaler (checked at launch)."""
        params = run.params_dict()
        if run.run_type != RUN_INFERENCE or not params.get("chain_upscale"):
            return
        model = next((m for m in self.rt.host.models
                      if RUN_UPSCALE in get_profile(m).run_types), None)
        if model is None:
            log.warning("run %s asked for an upscale but %s serves no model with one", run.id,
                        run.host)
            return
        with self.store.writing():  # the upscale is the next version of its parent's shot
            child = self.store.create_run(
                params=dict(params, chain_upscale=False, model=model), host=run.host,
                prompt_id=run.prompt_id, run_type=RUN_UPSCALE, parent_id=run.id,
                name=f"{run.name or 'run'} 4K", simulated=run.simulated, owner=run.owner or "",
                model=model, gpu_count=get_profile(model).gpus_for(
                    GenerationParams.from_dict(params), RUN_UPSCALE))
            self.store.join_source_shot(child.id, run.id)
        log.info("run %s chained upscale %s", run.id, child.id)
