"""A run of type `setup`: `cosmos setup HOST` (and the Hosts tab's Set up) as a tracked job,
with its own live log, progress, Kill and history, like any run.

Why a run and not a one-off command: setup takes minutes to hours (an image build, hundreds
of GB of checkpoints), and the people who start it want to watch it, kill it, and see later
what it did. So it is queued like a run, claimed by a scheduler (no GPUs), and its steps
(backend/hosts/setup_steps.py) write their lines into the run's log through the store, which
publishes them to every open page and `cosmos setup --wait`.

A kill stops the long command in flight (the fetch container is killed by name, a build or a
clone by closing its stream); every step is safe to repeat, and a fetch resumes its `.part`
files, so a later setup picks up where the killed one stopped.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any, Sequence

from backend.config import Settings
from backend.events.types import CancelRequested
from backend.hosts import manifest
from backend.hosts.runtime import HostRuntime
from backend.hosts.setup_steps import (SetupCancelled, SetupFailed, SetupIO, check_root,
                                       setup_model)
from backend.models.results import Progress
from backend.remote.errors import RemoteError
from backend.store.models import CANCELLED, COMPLETED, FAILED, RUNNING, STAGING, TERMINAL

log = logging.getLogger(__name__)

RUN_SETUP = "setup"
LOOK_EVERY = 0.5


class SetupRunner:
    """Executes one setup run (what the scheduler spawns for run_type `setup`)."""

    gpus = 0

    def __init__(self, settings: Settings, store: Any, runtime: HostRuntime,
                 instance_id: str) -> None:
        self.settings = settings
        self.store = store
        self.rt = runtime
        self.instance_id = instance_id

    # -- the log ------------------------------------------------------------------------------
    def _say(self, run_id: str, text: str, progress: Progress | None = None) -> None:
        """Lines into the run's log; offsets count bytes as if the log were a file."""
        run = self.store.get_run(run_id)
        at = run.log_offset if run else 0
        lines = []
        for line in text.splitlines() or [""]:
            lines.append((at, line))
            at += len(line.encode()) + 1
        self.store.append_log(run_id, lines, at,
                              progress.to_dict() if progress is not None else None)

    def _cancel_asked(self, run_id: str) -> bool:
        run = self.store.get_run(run_id)
        return bool(run and run.cancel_requested)

    def _stream(self, run_id: str, argv: Sequence[str], container: str | None) -> list[str]:
        """Run a long command, each output line into the log; stop it on a kill."""
        listener = self.store.bus.listen(kinds=(CancelRequested.KIND,))
        stream = self.rt.shell.open_stream(list(argv))
        lines: list[str] = []
        pending = b""
        killed = False
        next_look = 0.0
        try:
            while True:
                try:
                    data = stream.read(LOOK_EVERY)
                except RemoteError as exc:
                    if killed:
                        break
                    tail = "\n".join(lines[-3:])
                    raise SetupFailed(f"`{' '.join(argv[:4])} ...` failed: {exc}"
                                      + (f" (last output: {tail})" if tail else "")) from None
                if data is None:
                    break
                pending += data
                *complete, pending = pending.split(b"\n")
                for raw in complete:
                    line = raw.decode(errors="replace").rstrip("\r")
                    lines.append(line)
                    self._say(run_id, line)
                wanted = any(e.run_id == run_id for e in listener.drain())
                if not killed and (wanted or time.monotonic() >= next_look):
                    next_look = time.monotonic() + LOOK_EVERY
                    if self._cancel_asked(run_id):
                        killed = True
                        self._stop(run_id, container)
                        stream.close()
        finally:
            stream.close()
            listener.close()
        if pending:
            lines.append(pending.decode(errors="replace"))
            self._say(run_id, lines[-1])
        if killed:
            raise SetupCancelled()
        return lines

    def _stop(self, run_id: str, container: str | None) -> None:
        """A kill: the host kind stops the container in flight (docker kill; on Slurm,
        scancel of the setup's steps)."""
        try:
            self.rt.kind.stop_setup(self.rt.host, self.rt.shell, run_id, container)
        except RemoteError as exc:
            log.warning("setup %s: %s", run_id, exc)

    # -- the job ------------------------------------------------------------------------------
    def resume(self, run_id: str) -> None:
        """After a restart the steps simply run again: each reuses what is there."""
        self.execute(run_id)

    def execute(self, run_id: str) -> None:
        from backend.models.profile import get_profile

        run = self.store.get_run(run_id)
        if run is None or run.status in TERMINAL:
            return
        if run.status == STAGING:
            self.store.transition(run_id, RUNNING, expect=(STAGING,), note="setting up")
        host = self.rt.host
        models = json.loads(run.spec or "{}").get("models") or list(host.models)
        step = "remote_root"
        try:
            self._say(run_id, f"setting up {host.name} for {', '.join(models)}",
                      Progress(phase="starting", detail="remote_root"))
            engines = self.rt.kind.setup_engines(host, self.rt.shell, run_id)
            io = SetupIO(say=lambda text: self._say(run_id, text),
                         stream=lambda argv, name: self._stream(run_id, argv, name),
                         run_id=run_id, instance_id=self.instance_id, engines=engines)
            if engines.every != list(host.docker):
                self._say(run_id, "engine commands run as: " + " ".join(engines.every[:8])
                          + " ...")
            check_root(host, self.rt.shell, io)
            docs = []
            for index, model in enumerate(models):
                step = model
                if self._cancel_asked(run_id):
                    raise SetupCancelled()
                self._say(run_id, f"== {model} ==", Progress(
                    phase="loading", fraction=index / len(models), detail=model,
                    item=index + 1, n_items=len(models)))
                doc = setup_model(host, self.rt.shell, io, get_profile(model))
                manifest.save_local(self.settings.data_dir, doc)
                docs.append(doc)
            summary = "; ".join(f"{d['model']}: manifest {d['id']}" for d in docs)
            self._say(run_id, f"ready: {summary}", Progress(phase="done", fraction=1.0,
                                                             detail="ready"))
            self.store.transition(
                run_id, COMPLETED, expect=(RUNNING,), note=summary,
                artifacts=json.dumps({"manifests": [
                    {"model": d["model"], "id": d["id"], "path": str(manifest.local_path(
                        self.settings.data_dir, host.name, d["model"]))} for d in docs]}),
                recipe=json.dumps(docs))
        except SetupCancelled:
            self._end(run_id, CANCELLED, f"Killed during setup ({step}); what was fetched "
                      "stays, and the next setup resumes from there.")
        except SetupFailed as exc:
            if exc.fix:
                self._say(run_id, f"fix: {exc.fix}")
            self._end(run_id, FAILED, exc.cause + (f" Fix: {exc.fix}" if exc.fix else ""))
        except RemoteError as exc:
            self._end(run_id, FAILED, f"lost {host.name} during setup ({step}): {exc}")
        except Exception as exc:
            log.exception("setup run %s failed", run_id)
            self._end(run_id, FAILED, f"internal error: {type(exc).__name__}: {exc}")

    def _end(self, run_id: str, status: str, cause: str) -> None:
        self._say(run_id, cause)
        run = self.store.get_run(run_id)
        if run is not None and not run.is_terminal:
            self.store.transition(run_id, status, expect=(run.status,), note=cause,
                                  failure_cause=cause)
