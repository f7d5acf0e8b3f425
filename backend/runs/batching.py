"""Smart batching: compatible queued runs share one container and one model load.

Loading the 7B model, T5 and the guardrail takes minutes, so N runs that differ only in
prompt, weights and input videos are cheaper as one Cosmos batch job (`--batch_input_path`).
Each run keeps its own prompt, weights and control inputs (every item states every control
explicitly, see backend/cosmos/batch.py) and ends as its own run with its own video, log and
status. The batch folder on the box is `runs/<batch_id>/`; outputs `video_<i>/` map back to the
run with `batch_index` i.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Callable, Sequence

from backend import media, store as st
from backend.runs import plan
from backend.models.transfer1.batch import (BatchItem, batch_compatibility_key, batch_controls,
                                  batch_output_paths, build_batch_base_spec, build_batch_jsonl)
from backend.models.transfer1.outcome import classify_outcome
from backend.models.transfer1.params import RUN_INFERENCE, GenerationParams
from backend.models.transfer1.progress import ProgressTracker
from backend.models.transfer1.spec import resolve_fps
from backend.runs.executor import ContainerWatch, RunExecutor
from backend.remote.shell import RemoteError

log = logging.getLogger(__name__)



def batch_key(run: st.Run, fps_of: Callable[[str], float | None]) -> tuple | None:
    """The compatibility key of a queued run, or None if it cannot be batched."""
    if run.run_type != RUN_INFERENCE:
        return None
    params = GenerationParams.from_dict(run.params_dict())
    if not params.input_video:
        return None
    return batch_compatibility_key(params, fps=resolve_fps(params, fps_of(params.input_video)))


def pick_batch(head: st.Run, queued: Sequence[st.Run], max_batch: int,
               fps_of: Callable[[str], float | None]) -> list[st.Run]:
    """The head plus the oldest queued runs that can share its container (FIFO, same host)."""
    key = batch_key(head, fps_of)
    if key is None or max_batch < 2:
        return [head]
    mates = [head]
    for run in queued:
        if len(mates) >= max_batch:
            break
        if run.id != head.id and run.host == head.host and batch_key(run, fps_of) == key:
            mates.append(run)
    return mates


class BatchExecutor(RunExecutor):
    """Runs a claimed batch: one container for every run with the same `batch_id`."""

    def members(self, batch_id: str) -> list[st.Run]:
        return list(st.Run.select().where(st.Run.batch_id == batch_id)
                    .order_by(st.Run.batch_index))

    def execute_batch(self, batch_id: str) -> None:
        runs = self.members(batch_id)
        try:
            if all(r.status == st.STAGING for r in runs):
                self._stage_and_launch_batch(batch_id, runs)
        except Exception as exc:
            log.exception("batch %s failed while staging", batch_id)
            for run in runs:
                self._fail_unexpected(run.id, exc)
            return
        delay = 0.5
        while True:
            try:
                runs = [r for r in self.members(batch_id) if not r.is_terminal]
                if runs and runs[0].status == st.RUNNING:
                    self._follow_batch(batch_id, runs)
                runs = [r for r in self.members(batch_id) if r.status == st.COLLECTING]
                if runs:
                    self._collect_batch(batch_id, runs)
                return
            except RemoteError as exc:
                log.warning("batch %s: lost the box (%s); retrying in %.1f s", batch_id, exc,
                            delay)
                time.sleep(delay)
                delay = min(delay * 2, 10.0)
            except Exception as exc:
                log.exception("batch %s failed", batch_id)
                for run in self.members(batch_id):
                    self._fail_unexpected(run.id, exc)
                return

    # -- staging ------------------------------------------------------------------------------
    def _stage_and_launch_batch(self, batch_id: str, runs: list[st.Run]) -> None:
        host = self.rt.host
        folder = self.rt.run_dir(batch_id)
        crun = host.container_path(folder)
        self.rt.ensure_sim_checkout()
        self.rt.shell.run(["mkdir", "-p", f"{folder}/inputs", f"{folder}/outputs"]).check(
            "creating the batch folder")
        items, first_params, fps = [], None, 24
        for index, run in enumerate(runs):
            params = GenerationParams.from_dict(run.params_dict())
            local = Path(params.input_video)
            link = self._stage_input(local, folder, f"{index}_input{local.suffix.lower()}")
            controls = {}
            for control in params.active_controls():
                video = params.control_videos.get(control)
                if video:
                    controls[control] = host.container_path(self._stage_input(
                        Path(video), folder, f"{index}_{control}{Path(video).suffix.lower()}"))
            items.append(BatchItem.from_params(params, visual_input=host.container_path(link),
                                               control_paths=controls))
            if first_params is None:
                first_params = params
                fps = resolve_fps(params, media.probe_video(local).fps)
        hints = batch_controls(items)
        spec = build_batch_base_spec(first_params, items=items, fps=fps, controls=hints)
        jsonl = build_batch_jsonl(items, controls=hints)
        lead = runs[0]
        launch = plan.plan_launch(host=host, run_id=batch_id, run_type=RUN_INFERENCE,
                                  num_gpus=first_params.num_gpus, spec=spec,
                                  gpus=lead.gpu_list(), master_port=lead.master_port,
                                  instance_id=self.instance_id,
                                  batch_input_path=f"{crun}/batch.jsonl")
        self.rt.shell.write_file(f"{folder}/spec.json", launch.spec_text.encode())
        self.rt.shell.write_file(f"{folder}/batch.jsonl", jsonl.encode())
        self.rt.shell.write_file(f"{folder}/job.sh", launch.job_script.encode(), 0o755)
        for run in runs:
            self.store.update_run(run.id, spec=launch.spec_text, job_script=launch.job_script,
                                  command=launch.command, container_name=launch.container_name)
        if any(self.store.get_run(r.id).cancel_requested for r in runs):
            self._requeue_or_cancel(runs, note="killed before the batch started")
            return
        container_id = self.rt.docker.run_detached(launch.docker_argv)
        for run in runs:
            self.store.transition(run.id, st.RUNNING, expect=(st.STAGING,),
                                  container_id=container_id,
                                  note=f"batch {batch_id}: item {run.batch_index} of {len(runs)}")
            self.bus.publish("status", run.id, status=st.RUNNING)
        log.info("batch %s of %d runs started container %s", batch_id, len(runs),
                 container_id[:12])

    # -- following ----------------------------------------------------------------------------
    def _batch_log(self, batch_id: str) -> str:
        return f"{self.rt.run_dir(batch_id)}/run.log"

    def _follow_batch(self, batch_id: str, runs: list[st.Run]) -> None:
        tracker = ProgressTracker(n_items=len(runs))
        for text in self.store.log_text(runs[0].id):
            tracker.feed(text)
        watch = ContainerWatch(self.rt.docker, plan.container_name(batch_id))
        watch.start()
        killed = False
        try:
            while True:
                self._store_new_lines(runs, self._batch_log(batch_id), tracker, final=False)
                wanted = [r for r in self.members(batch_id) if r.cancel_requested]
                if wanted and not killed:
                    killed = True
                    watch.request_kill(*plan.parse_kill_request(wanted[0].cancel_requested,
                                                                self.settings.kill_grace))
                if watch.error is not None:
                    raise watch.error
                if watch.finished.is_set():
                    self._store_new_lines(runs, self._batch_log(batch_id), tracker, final=True)
                    state = watch.state
                    for run in runs:
                        self.store.transition(run.id, st.COLLECTING, expect=(st.RUNNING,),
                                              exit_code=state.exit_code if state else None,
                                              note="batch container exited" if state else
                                              "batch container vanished")
                    return
                watch.finished.wait(self.settings.poll_interval)
        finally:
            watch.stop()

    # -- collecting ---------------------------------------------------------------------------
    def _collect_batch(self, batch_id: str, runs: list[st.Run]) -> None:
        folder = self.rt.run_dir(batch_id)
        outputs = batch_output_paths(f"{folder}/outputs", len(self.members(batch_id)))
        log_lines = self.store.log_text(runs[0].id)
        killed = [r for r in runs if r.cancel_requested]
        for run in runs:
            local_dir = self.settings.runs_dir / run.id
            local_dir.mkdir(parents=True, exist_ok=True)
            self._fetch(f"{folder}/run.log", local_dir / "run.log")
            remote_video, remote_prompt = outputs[run.batch_index]
            video = local_dir / f"{plan.VIDEO_NAME}.mp4"
            have_video = self._fetch(remote_video, video)
            self._fetch(remote_prompt, local_dir / f"{plan.VIDEO_NAME}.txt")
            fields: dict = {}
            if have_video:
                media.embed_settings(video, {"run_id": run.id, "run_type": run.run_type,
                                             "host": run.host, "batch_id": batch_id,
                                             "params": run.params_dict()})
                info = media.probe_video(video)
                fields.update(output_path=str(video), output_info=json.dumps(
                    dict(info.to_dict(), bytes=video.stat().st_size)),
                    thumbnail_path=str(media.make_thumbnail(video, local_dir / "thumb.jpg")))
            fresh = self.store.get_run(run.id)
            if killed and not fresh.cancel_requested and not have_video:
                # a batch-mate was killed: this run did nothing wrong, so it queues again alone
                self.store.transition(run.id, st.QUEUED, expect=(st.COLLECTING,),
                                      note=f"requeued: batch-mate {killed[0].id} was killed",
                                      batch_id=None, batch_index=None, gpus=None,
                                      master_port=None, worker_id=None, log_offset=0,
                                      container_id=None, exit_code=None)
                st.LogLine.delete().where(st.LogLine.run == run.id).execute()
                self.store.update_run(run.id, log_lines=0, progress=None)
                continue
            outcome = classify_outcome(exit_code=fresh.exit_code, log_lines=log_lines,
                                       output_exists=have_video,
                                       killed_by_user=bool(fresh.cancel_requested))
            fields.update(failure_cause=None if outcome.status == st.COMPLETED else outcome.cause,
                          failure_evidence=outcome.evidence)
            self.store.transition(run.id, outcome.status, expect=(st.COLLECTING,),
                                  note=outcome.cause, **fields)
            self.bus.publish("status", run.id, status=outcome.status)
            if outcome.status == st.COMPLETED:
                self._chain_upscale(self.store.get_run(run.id))
        self.rt.docker.remove(plan.container_name(batch_id))

    def _chain_upscale(self, run: st.Run) -> None:
        params = run.params_dict()
        if params.get("chain_upscale"):
            child = self.store.create_run(
                params=dict(params, chain_upscale=False), host=run.host, prompt_id=run.prompt_id,
                run_type="upscale", parent_id=run.id, name=f"{run.name or 'run'} 4K",
                simulated=run.simulated)
            self.bus.publish("status", child.id, status=st.QUEUED)

    def _requeue_or_cancel(self, runs: list[st.Run], note: str) -> None:
        for run in runs:
            fresh = self.store.get_run(run.id)
            if fresh.cancel_requested:
                self.store.transition(run.id, st.CANCELLED, expect=(st.STAGING,), note=note,
                                      failure_cause="Cancelled before the container started.")
            else:
                self.store.transition(run.id, st.QUEUED, expect=(st.STAGING,), note=note,
                                      batch_id=None, batch_index=None, gpus=None,
                                      master_port=None, worker_id=None)
