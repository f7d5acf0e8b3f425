"""One run's life on one box: stage -> launch -> follow -> collect (DESIGN §3).

The executor never holds state the store does not have: every step writes its result (status,
command, container id, log offset) before the next begins, so a restarted app can pick a run up
wherever it was (`resume`). It runs in a scheduler thread, never inside a UI request.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from backend import media, store as st
from backend.config import HostConfig, Settings
from backend.models.transfer1 import command as cmd
from backend.models.transfer1.outcome import classify_outcome
from backend.models.transfer1.params import RUN_ENHANCE, RUN_INFERENCE, RUN_UPSCALE, GenerationParams
from backend.models.transfer1.progress import ProgressTracker
from backend.models.transfer1.spec import build_upscale_spec
from backend.events import EventBus
from backend.runs.plan import (VIDEO_NAME, container_name, inference_spec, input_link_name,
                          parse_kill_request, plan_launch, run_dir as plan_run_dir)
from backend.remote.docker import DockerClient
from backend.remote.shell import RemoteError, Shell

log = logging.getLogger(__name__)

_LINE_SPLIT = re.compile(rb"\r\n|\r|\n")
#: How often the container's state is asked for while its log is followed.
INSPECT_EVERY = 1.0
#: How long a follower keeps retrying an unreachable box before leaving the run for adoption.
RECONNECT_PATIENCE = 600.0
#: Least time between two `transfer` progress events of one upload (the last one always goes).
TRANSFER_EVENT_EVERY = 0.25


def complete_lines(data: bytes, offset: int, final: bool) -> tuple[list[tuple[int, str]], int]:
    """The non-blank lines in `data` (read from byte `offset` of a log) and the bytes used.

    `\r` ends a line too (tqdm redraws its bar with it). Unless `final`, a trailing partial
    line is left for the next read, and so is a lone trailing `\r` (it may be half of
    `\r\n`: the line before it is stored, the `\r` is read again with what follows).
    """
    if not final:
        cut = max(data.rfind(b"\n"), data.rfind(b"\r"))
        if cut >= 0 and data[cut:cut + 1] == b"\r" and cut == len(data) - 1:
            cut -= 1
        data = data[:cut + 1] if cut >= 0 else b""
    lines: list[tuple[int, str]] = []
    pos = 0
    for match in _LINE_SPLIT.finditer(data):
        lines.append((offset + pos, data[pos:match.start()].decode("utf-8", "replace")))
        pos = match.end()
    if pos < len(data):  # the final partial line, when `final`
        lines.append((offset + pos, data[pos:].decode("utf-8", "replace")))
        pos = len(data)
    return [(off, text) for off, text in lines if text.strip()], pos


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass
class HostRuntime:
    """A box as the executor sees it: its settings, its shell and its docker."""

    host: HostConfig
    shell: Shell
    checkout_ready: bool = False
    #: runs staged at the same time must not write the same checkout files at once
    _checkout_lock: threading.Lock = field(default_factory=threading.Lock, repr=False,
                                           compare=False)

    @property
    def docker(self) -> DockerClient:
        return DockerClient(self.shell, self.host.docker)

    def run_dir(self, run_id: str) -> str:
        return plan_run_dir(self.host, run_id)

    def cache_dir(self) -> str:
        return str(PurePosixPath(self.host.remote_root) / "cache")

    def ensure_sim_checkout(self) -> None:
        """Install the simulator's stand-in Cosmos checkout on a simulated box (once)."""
        if self.checkout_ready or not self.host.simulated:
            return
        from backend.simulator.checkout import checkout_files

        with self._checkout_lock:
            if self.checkout_ready:
                return
            for rel, data in checkout_files().items():
                target = str(PurePosixPath(self.host.cosmos_checkout) / rel)
                self.shell.write_file(target, data, 0o755 if rel.endswith(".py") else 0o644)
            self.checkout_ready = True


_upload_locks: dict[str, threading.Lock] = {}
_upload_locks_guard = threading.Lock()


def _upload_lock(digest: str) -> threading.Lock:
    with _upload_locks_guard:
        return _upload_locks.setdefault(digest, threading.Lock())


class ContainerWatch:
    """Asks the box about one container every INSPECT_EVERY seconds, and kills it on request.

    `finished` is set once the container is no longer running (`state` then holds what inspect
    said, or None if it vanished); `error` holds a RemoteError for the follower to handle.
    """

    def __init__(self, docker: DockerClient, name: str) -> None:
        self.docker = docker
        self.name = name
        self.state = None
        self.error: Exception | None = None
        self.finished = threading.Event()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._kill: tuple[bool, int] | None = None
        self._thread = threading.Thread(target=self._loop, daemon=True, name=f"watch-{name}")

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def request_kill(self, force: bool, grace: int) -> None:
        self._kill = (force, grace)
        self._wake.set()

    def _loop(self) -> None:
        try:
            while not self._stop.is_set():
                if self._kill is not None:
                    force, grace = self._kill
                    self._kill = None
                    self.docker.kill(self.name) if force else self.docker.stop(self.name, grace)
                state = self.docker.inspect(self.name)
                if state is None or not state.running:
                    self.state = state
                    self.finished.set()
                    return
                self._wake.wait(INSPECT_EVERY)
                self._wake.clear()
        except Exception as exc:  # handed to the follower, which retries or fails the run
            self.error = exc


class RunExecutor:
    def __init__(self, settings: Settings, store: st.Store, runtime: HostRuntime, bus: EventBus,
                 instance_id: str) -> None:
        self.settings = settings
        self.store = store
        self.rt = runtime
        self.bus = bus
        self.instance_id = instance_id

    # -- public entry points ------------------------------------------------------------------
    def execute(self, run_id: str) -> None:
        """Take a claimed (staging) run all the way to a terminal state.

        Once the container runs, the box is the source of truth: a lost connection while
        following or collecting is retried with backoff (the log resumes from its stored
        offset), never turned into a failed run. Only staging errors fail the run, since
        nothing is running yet.
        """
        try:
            run = self.store.get_run(run_id)
            if run.status == st.STAGING:
                if not self._stage_and_launch(run):
                    return
                run = self.store.get_run(run_id)
        except Exception as exc:  # a run must never be left half-way without a cause
            log.exception("run %s failed while staging", run_id)
            self._fail_unexpected(run_id, self._explain_staging_error(exc))
            return
        delay = 0.5
        deadline = time.monotonic() + RECONNECT_PATIENCE
        while True:
            try:
                run = self.store.get_run(run_id)
                if run.status == st.RUNNING:
                    self._follow(run)
                    run = self.store.get_run(run_id)
                if run.status == st.COLLECTING:
                    self._collect(run)
                return
            except RemoteError as exc:
                if time.monotonic() > deadline:
                    log.error("run %s: box unreachable for %.0f s, leaving it to be adopted "
                              "later: %s", run_id, RECONNECT_PATIENCE, exc)
                    return
                log.warning("run %s: lost the box (%s); retrying in %.1f s", run_id, exc, delay)
                time.sleep(delay)
                delay = min(delay * 2, 10.0)
            except Exception as exc:
                log.exception("run %s failed in the executor", run_id)
                self._fail_unexpected(run_id, exc)
                return

    def resume(self, run_id: str) -> None:
        """Reattach after a restart: follow a live container, collect a finished one."""
        run = self.store.get_run(run_id)
        if run is None or run.is_terminal:
            return
        if run.status == st.STAGING:
            state = self.rt.docker.inspect(container_name(run_id))
            if state is not None:  # launched just before the crash: adopt it
                self.store.transition(run_id, st.RUNNING, expect=(st.STAGING,),
                                      note="reattached after restart", container_id=state.id)
        log.info("resuming run %s (%s)", run_id, run.status)
        self.execute(run_id)

    # -- staging ------------------------------------------------------------------------------
    def _transfer_progress(self, run_id: str, name: str, total: int):
        """A put_file progress callback that publishes `transfer` events, a few per second."""
        last = [0.0]

        def report(sent: int, _total: int) -> None:
            now = time.monotonic()
            if sent < total and now - last[0] < TRANSFER_EVENT_EVERY:
                return
            last[0] = now
            self.bus.publish("transfer", run_id, file=name, sent=sent, total=total,
                             host=self.rt.host.name)
            if run_id:  # the run view and `cosmos run --wait` show the run's progress row
                self.store.update_run(run_id, progress=json.dumps({
                    "phase": f"uploading {name}", "fraction": 0.0,
                    "detail": f"{sent / 1e6:.1f} of {total / 1e6:.1f} MB "
                              f"({100 * sent / max(total, 1):.0f}%) to {self.rt.host.name}"}))
        return report

    def _stage_input(self, local: Path, run_dir: str, link_name: str, run_id: str = "") -> str:
        """Upload `local` once into the box's content cache and link it into the run folder.

        Only an upload publishes `transfer` events (progress, then sent == total): an input the
        box already has costs one `stat`, and no event says otherwise.
        """
        shell = self.rt.shell
        digest = sha256_file(local)
        suffix = local.suffix.lower() or ".bin"
        cached = f"{self.rt.cache_dir()}/{digest}{suffix}"
        if not shell.exists(cached):
            with _upload_lock(digest):  # one upload of a content at a time in this process
                if not shell.exists(cached):
                    self._upload(local, digest, cached, link_name, run_id)
        link = f"{run_dir}/inputs/{link_name}"
        shell.run(["ln", "-sfn", f"../../../cache/{digest}{suffix}", link]).check(
            "linking an input into the run folder")
        return link

    def _upload(self, local: Path, digest: str, cached: str, link_name: str,
                run_id: str) -> None:
        """Send one input into the cache: resumable, verified on the box, then moved in place.

        The upload's name is derived from the content hash, so an upload cut by a dropped
        connection or a restart continues where it stopped; the sha256 check on the box
        catches anything that does not fit together.
        """
        shell = self.rt.shell
        part = f"{cached}.upload"
        shell.run(["mkdir", "-p", self.rt.cache_dir()]).check("creating the input cache")
        total = local.stat().st_size
        report = self._transfer_progress(run_id, link_name, total)
        report(0, total)
        try:
            shell.put_file(local, part, progress=report, resume=True)
        except RemoteError as exc:
            # SFTP says only "Failure" (or paramiko "size mismatch") when the disk is full, so
            # ask how much room is left; a full disk gets its partial file removed, anything
            # else (a dropped connection) keeps it for the next attempt to resume
            try:
                cause = self._disk_full_cause(self.rt.cache_dir(), total)
                if cause is not None:
                    shell.run(["rm", "-f", "--", part, f"{part}.part"])
            except RemoteError:  # the connection is gone: its own error says enough
                raise exc from None
            if cause is None:
                raise
            raise RemoteError(cause) from exc
        remote_hash = shell.run(["sha256sum", part]).check("verifying an upload").out.split()
        if not remote_hash or remote_hash[0] != digest:
            shell.run(["rm", "-f", part])
            raise RemoteError(f"upload of {local.name} arrived corrupted (sha256 mismatch)")
        shell.run(["mv", "-f", part, cached]).check("storing an upload in the cache")
        report(total, total)

    def _explain_staging_error(self, exc: Exception) -> Exception:
        """A file operation that failed without saying why ("Failure" is all SFTP reports for
        a full disk) gets the box's free space checked; anything else is kept as it is."""
        from backend.remote.ssh_connect import ConnectError

        if not isinstance(exc, RemoteError) or isinstance(exc, ConnectError) or "disk" in str(exc):
            return exc
        host = self.rt.host
        if "permission denied" in str(exc).lower() and "docker" not in str(exc).lower():
            user = f"user {host.user}" if host.user else "the user the app logs in as"
            return RemoteError(f"{exc}. On host {host.name}, {user} must be able to write "
                               f"remote_root ({host.remote_root}) and read cosmos_checkout "
                               f"({host.cosmos_checkout}); fix the owner/permissions there or "
                               "point remote_root at a folder of that user")
        if "failed: failure" not in str(exc).lower():
            return exc
        try:
            cause = self._disk_full_cause(self.rt.host.remote_root)
        except Exception:  # the box is gone too: the original error says enough
            return exc
        return RemoteError(cause) if cause else exc

    def _disk_full_cause(self, folder: str, need: int = 0) -> str | None:
        """'the disk is full' with figures, if `folder`'s filesystem lacks room for `need` bytes
        (or is down to its last MiB); None if there is room or the box cannot say."""
        result = self.rt.shell.run(["df", "-Pk", "--", folder], timeout=30)
        try:
            free_kib = int(result.out.splitlines()[-1].split()[3])
        except (IndexError, ValueError):
            return None
        if free_kib * 1024 >= max(need, 1 << 20):
            return None
        wanted = f"; {need / 1e6:.1f} MB were to be uploaded" if need else ""
        return (f"the disk of host {self.rt.host.name} is full: {folder} has "
                f"{free_kib} KiB free{wanted}. Free space there (old runs live in "
                f"{self.rt.host.remote_root}/runs) and run again")

    def _stage_parent_output(self, run: st.Run, run_dir: str) -> str:
        """An upscale's input: the parent's video already on the box, linked, never re-sent."""
        parent = self.store.get_run(run.parent_id) if run.parent_id else None
        if parent is None:
            raise RemoteError("the run to upscale was deleted; nothing to upscale")
        remote = f"{self.rt.run_dir(parent.id)}/outputs/{VIDEO_NAME}.mp4"
        link = f"{run_dir}/inputs/input.mp4"
        if self.rt.shell.exists(remote):
            self.rt.shell.run(["ln", "-sfn", f"../../{parent.id}/outputs/{VIDEO_NAME}.mp4",
                               link]).check("linking the video to upscale")
            return link
        if parent.output_path and Path(parent.output_path).exists():  # box was cleaned up
            return self._stage_input(Path(parent.output_path), run_dir, "input.mp4", run.id)
        raise RemoteError(f"the video of run {parent.id} is neither on {self.rt.host.name} nor "
                          "here any more; re-run it first")

    def _build_spec(self, run: st.Run, params: GenerationParams, run_dir: str) -> dict:
        """Stage this run's inputs and shape its spec, by run type."""
        host = self.rt.host
        if run.run_type == RUN_UPSCALE:
            staged = self._stage_parent_output(run, run_dir)
            parent = self.store.get_run(run.parent_id)
            info = json.loads(parent.output_info) if parent.output_info else {}
            fps = params.fps or (round(info["fps"]) if info.get("fps") else None)
            return build_upscale_spec(host.container_path(staged), params.upscale_weight,
                                      negative_prompt=params.negative_prompt,
                                      prompt=params.prompt, fps=fps)
        input_path = None
        input_fps = None
        if params.input_video:
            local = Path(params.input_video)
            input_path = self._stage_input(local, run_dir, input_link_name(local), run.id)
            input_fps = media.probe_video(local).fps
        control_links = {}
        for control, video in params.control_videos.items():
            if video and control in params.active_controls():
                local = Path(video)
                control_links[control] = self._stage_input(
                    local, run_dir, input_link_name(local, control), run.id)
        return inference_spec(host, params, input_link=input_path, control_links=control_links,
                              input_fps=input_fps)

    def _stage_and_launch(self, run: st.Run) -> bool:
        host = self.rt.host
        params = GenerationParams.from_dict(run.params_dict())
        run_dir = self.rt.run_dir(run.id)
        shell = self.rt.shell
        self.rt.ensure_sim_checkout()
        shell.run(["mkdir", "-p", f"{run_dir}/inputs", f"{run_dir}/outputs"]).check(
            "creating the run folder")
        spec = self._build_spec(run, params, run_dir)
        used_ports = {r.master_port for r in self.store.runs_in(st.ACTIVE, host=host.name)
                      if r.master_port and r.id != run.id}
        port = run.master_port or cmd.pick_master_port(run.id, used_ports)
        launch = plan_launch(host=host, run_id=run.id, run_type=run.run_type,
                             num_gpus=params.num_gpus, spec=spec, gpus=run.gpu_list(),
                             master_port=port, instance_id=self.instance_id)
        shell.write_file(f"{run_dir}/spec.json", launch.spec_text.encode())
        shell.write_file(f"{run_dir}/job.sh", launch.job_script.encode(), 0o755)
        docker_argv = list(launch.docker_argv)
        self.store.update_run(run.id, spec=launch.spec_text, job_script=launch.job_script,
                              command=launch.command, container_name=launch.container_name,
                              master_port=port)

        if self.store.get_run(run.id).cancel_requested:
            self.store.transition(run.id, st.CANCELLED, expect=(st.STAGING,),
                                  note="killed before launch",
                                  failure_cause="Cancelled before the container started.")
            self.bus.publish("status", run.id, status=st.CANCELLED)
            return False
        container_id = self._launch(docker_argv, launch.container_name)
        self.store.transition(run.id, st.RUNNING, expect=(st.STAGING,), container_id=container_id)
        self.bus.publish("status", run.id, status=st.RUNNING)
        log.info("run %s started container %s on %s", run.id, container_id[:12], host.name)
        return True

    def _launch(self, docker_argv: list[str], name: str) -> str:
        """`docker run -d`; if the call fails, ask the box whether the container started anyway.

        A connection can drop after the box received `docker run` but before its answer came
        back: the container then runs and must be followed, not reported as failed (and a retry
        would clash on its name). A container left merely "created" by a failed start is removed,
        so it does not linger as an orphan.
        """
        docker = self.rt.docker
        try:
            return docker.run_detached(docker_argv)
        except RemoteError as exc:
            try:
                state = docker.inspect(name)
            except RemoteError:
                raise exc from None
            if state is None:
                raise
            if state.status != "created":
                log.warning("docker run reported %r, but container %s is %s: following it",
                            str(exc), name, state.status)
                return state.id
            removed = docker.remove(name)
            if not removed.ok:
                log.warning("could not remove the unstarted container %s: %s", name,
                            removed.err.strip())
            raise

    # -- following ----------------------------------------------------------------------------
    def _log_path(self, run_id: str) -> str:
        return f"{self.rt.run_dir(run_id)}/run.log"

    def _read_new_lines(self, run: st.Run, tracker: ProgressTracker, final: bool) -> int:
        """Store the complete lines written since the stored offset; return how many."""
        return self._store_new_lines([run], self._log_path(run.id), tracker, final)

    def _store_new_lines(self, runs: list[st.Run], log_path: str, tracker: ProgressTracker,
                         final: bool) -> int:
        """Read `log_path` past the runs' stored offset and store its new lines on each run.

        A batch stores the same lines on every member; each keeps its own (equal) offset.
        """
        offset = runs[0].log_offset
        lines, consumed = complete_lines(self.rt.shell.read_from(log_path, offset, 4 << 20),
                                         offset, final)
        if not consumed:
            return 0
        for _, text in lines:
            tracker.feed(text)
        for run in runs:
            self.store.append_log(run.id, lines, offset + consumed,
                                  progress=tracker.progress.to_dict())
            run.log_offset = offset + consumed
            if lines:
                self.bus.publish("log", run.id, count=len(lines))
        return len(lines)

    def _follow(self, run: st.Run) -> None:
        """Store log lines as they come while a watcher thread asks the box about the container.

        The container's state (and a kill, which can take the whole grace period) is asked in
        its own thread, so reading the log never waits on a slow `inspect` or `stop`: a line
        written on the box reaches the store within about one poll interval.
        """
        tracker = ProgressTracker()
        for text in self.store.log_text(run.id):  # rebuild progress after a restart
            tracker.feed(text)
        watch = ContainerWatch(self.rt.docker, container_name(run.id))
        watch.start()
        acted_on_cancel = False
        try:
            while True:
                self._read_new_lines(run, tracker, final=False)
                if not acted_on_cancel:
                    fresh = self.store.get_run(run.id)
                    if fresh.cancel_requested:
                        acted_on_cancel = True
                        watch.request_kill(*parse_kill_request(fresh.cancel_requested,
                                                               self.settings.kill_grace))
                if watch.error is not None:
                    raise watch.error
                if watch.finished.is_set():
                    self._read_new_lines(run, tracker, final=True)
                    state = watch.state
                    exit_code = state.exit_code if state is not None else None
                    note = "container exited" if state else "container vanished"
                    self.store.transition(run.id, st.COLLECTING, expect=(st.RUNNING,),
                                          note=note, exit_code=exit_code)
                    self.bus.publish("status", run.id, status=st.COLLECTING)
                    return
                watch.finished.wait(self.settings.poll_interval)
        finally:
            watch.stop()

    # -- collecting ---------------------------------------------------------------------------
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

    def _collect(self, run: st.Run) -> None:
        run_dir = self.rt.run_dir(run.id)
        local_dir = self.settings.runs_dir / run.id
        local_dir.mkdir(parents=True, exist_ok=True)
        # Whatever happened, the full log and any output come home before the run ends.
        self._fetch(f"{run_dir}/run.log", local_dir / "run.log")
        video = local_dir / f"{VIDEO_NAME}.mp4"
        have_video = self._fetch(f"{run_dir}/outputs/{VIDEO_NAME}.mp4", video)
        self._fetch(f"{run_dir}/outputs/{VIDEO_NAME}.txt", local_dir / f"{VIDEO_NAME}.txt")
        fields: dict = {}
        if have_video:
            try:
                media.embed_settings(video, {"run_id": run.id, "run_type": run.run_type,
                                             "host": run.host, "params": run.params_dict()})
                info = media.probe_video(video)
                fields["output_info"] = json.dumps(dict(info.to_dict(),
                                                        bytes=video.stat().st_size))
                fields["output_path"] = str(video)
                fields["thumbnail_path"] = str(media.make_thumbnail(video, local_dir / "thumb.jpg"))
            except media.MediaError as exc:
                log.warning("run %s output is not a readable video: %s", run.id, exc)
                have_video = False
        fresh = self.store.get_run(run.id)
        outcome = classify_outcome(exit_code=fresh.exit_code, log_lines=self.store.log_text(run.id),
                                   output_exists=have_video,
                                   killed_by_user=bool(fresh.cancel_requested))
        fields.update(failure_cause=None if outcome.status == st.COMPLETED else outcome.cause,
                      failure_evidence=outcome.evidence)
        if outcome.status == st.COMPLETED and fresh.run_type == RUN_ENHANCE:
            fields["result_prompt_id"] = self._store_enhanced_prompt(fresh, local_dir)
        removed = self.rt.docker.remove(container_name(run.id))  # its log and outputs are home
        if not removed.ok and "no such" not in (removed.err + removed.out).lower():
            log.warning("run %s: could not remove its container: %s", run.id, removed.err.strip())
        self.store.transition(run.id, outcome.status, expect=(st.COLLECTING,), note=outcome.cause,
                              **fields)
        self.bus.publish("status", run.id, status=outcome.status)
        log.info("run %s ended %s: %s", run.id, outcome.status, outcome.cause)
        if (outcome.status == st.COMPLETED and fresh.run_type == RUN_INFERENCE
                and fresh.params_dict().get("chain_upscale")):
            child = self.store.create_run(
                params=dict(fresh.params_dict(), chain_upscale=False), host=fresh.host,
                prompt_id=fresh.prompt_id, run_type=RUN_UPSCALE, parent_id=fresh.id,
                name=f"{fresh.name or 'run'} 4K", simulated=fresh.simulated)
            log.info("run %s chained upscale %s", run.id, child.id)
            self.bus.publish("status", child.id, status=st.QUEUED)

    def _store_enhanced_prompt(self, run: st.Run, local_dir: Path) -> str | None:
        """Turn the upsampler's rewritten prompt into a new prompt linked to the original."""
        text_file = local_dir / f"{VIDEO_NAME}.txt"
        if not text_file.exists():
            return None
        text = text_file.read_text(encoding="utf-8").strip()
        params = run.params_dict()
        prompt = self.store.create_prompt(text, params.get("negative_prompt", ""),
                                          name=f"enhanced from run {run.id}",
                                          parent_id=run.prompt_id)
        return prompt.id

    def _fail_unexpected(self, run_id: str, exc: Exception) -> None:
        run = self.store.get_run(run_id)
        if run is None or run.is_terminal:
            return
        cause = str(exc) if isinstance(exc, (RemoteError, media.MediaError)) else \
            f"internal error: {type(exc).__name__}: {exc}"
        try:
            self.store.transition(run_id, st.FAILED, expect=(run.status,), note=cause,
                                  failure_cause=cause)
            self.bus.publish("status", run_id, status=st.FAILED)
        except st.StaleTransition:
            log.warning("run %s moved while failing it: %s", run_id, cause)
