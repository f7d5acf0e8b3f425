"""Runs as people ask about them: one, a page of the history, a search; and the actions on a
run that exists (kill, dequeue, delete)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from backend.ids import is_valid_id
from backend.models.checks import FieldError
from backend.operations.errors import NotFound, Refused, ValidationFailed
from backend.operations.summary import RunSummary, summarize
from backend.operations.webhooks import delivery_dict
from backend.runs.plan import kill_request
from backend.store.history import RunFilter
from backend.store.models import CANCELLED, QUEUED, Run
from backend.store.runs import StaleTransition


class RunOps:
    """A mixin of Operations (settings, store)."""

    def _get(self, run_id: str) -> Run:
        run = self.store.get_run(run_id) if run_id else None
        if run is None:
            raise NotFound(run_id)
        return run

    def get_run(self, run_id: str) -> RunSummary:
        run = self._get(run_id)
        return summarize(run, self.store.ratings_for([run.id]).get(run.id))

    def find_runs(self, flt: RunFilter, *, limit: int = 25,
                  offset: int = 0) -> tuple[list[RunSummary], int]:
        """One page of the history (or gallery, with `with_output`) and the total count."""
        runs = self.store.query_runs(flt, limit=limit, offset=offset)
        ratings = self.store.ratings_for([r.id for r in runs])
        return [summarize(r, ratings.get(r.id)) for r in runs], self.store.count_matching(flt)

    def list_runs(self, *, limit: int = 50, offset: int = 0,
                  statuses: list[str] | None = None) -> list[RunSummary]:
        return [summarize(r) for r in self.store.list_runs(limit=limit, offset=offset,
                                                          statuses=statuses)]

    def log_since(self, run_id: str, after_seq: int = -1, limit: int = 5000) -> list[tuple[int, str]]:
        return [(row.seq, row.text) for row in self.store.log_since(run_id, after_seq, limit)]

    def kill(self, run_id: str, *, force: bool = False, grace: int | None = None) -> RunSummary:
        """Stop a started run's container (graceful, or force = SIGKILL now); ends `cancelled`.

        `grace` is this kill's seconds between SIGTERM and SIGKILL (default: the config's
        kill_grace); it travels to the executor on the run row. A queued run has no container:
        that is `dequeue`, a different action.
        """
        try:
            mode = kill_request(force, grace)
        except ValueError as exc:
            raise ValidationFailed([FieldError("grace", str(exc))]) from None
        run = self._get(run_id)
        if run.status == QUEUED:
            raise Refused(f"Run {run_id} is still queued and has no container; dequeue it "
                          "instead.")
        if run.is_terminal:
            raise Refused(f"Run {run_id} already ended ({run.status}); nothing to kill.")
        return summarize(self.store.request_cancel(run_id, mode))

    def dequeue(self, run_id: str) -> RunSummary:
        """Take a queued run out of the queue before it starts; it ends `cancelled`."""
        run = self._get(run_id)
        if run.status != QUEUED:
            raise Refused(f"Run {run_id} is {run.status}, not queued; "
                          + ("kill it instead." if not run.is_terminal else "nothing to do."))
        try:
            run = self.store.transition(run_id, CANCELLED, expect=(QUEUED,),
                                        note="dequeued", failure_cause="Dequeued before it "
                                        "started.")
        except StaleTransition:
            raise Refused(f"Run {run_id} started meanwhile; kill it instead.") from None
        return summarize(run)

    def _deletion(self, run_id: str) -> tuple[Run, Path | None, bool]:
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
        self.store.delete_run(run_id, remote_host=run.host if remote else None)
        if remote:
            removed.append(f"its folder runs/{run_id} on {run.host}")
        return removed

    def delete_preview(self, run_id: str) -> list[str]:
        """What `delete_run` would remove, in the same words, for the confirmation prompt."""
        run, local, remote = self._deletion(run_id)
        items = [f"run {run_id} and its {run.log_lines} log lines"]
        if local is not None:
            size = sum(p.stat().st_size for p in local.rglob("*") if p.is_file())
            items.append(f"local files in {local} ({size / 1e6:.1f} MB)")
        if remote:
            items.append(f"its folder runs/{run_id} on {run.host}")
        derived = self.store.count_children(run_id)
        if derived:
            items.append(f"(kept: {derived} run(s) made from it, e.g. upscales, lose their link)")
        return items

    def children_of(self, run_id: str) -> list[RunSummary]:
        """Runs made from this one (its upscale), oldest first."""
        return [summarize(r) for r in self.store.children_of(run_id)]

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
            "webhooks": [delivery_dict(d) for d in self.store.webhook_deliveries(run.id)],
        }

    def gpu_metrics(self, run_id: str, limit: int = 2000) -> list[dict[str, Any]]:
        """The run's GPU samples, oldest first (the run view's plot)."""
        return [{"at": r.at, "gpu": r.gpu, "utilization": r.utilization,
                 "memory_used": r.memory_used, "memory_total": r.memory_total,
                 "temperature": r.temperature} for r in self.store.samples_of(run_id, limit)]

    def search_runs(self, text: str, *, limit: int = 25) -> tuple[list[RunSummary], int]:
        """Runs whose name or prompt match the words of `text` (FTS5 prefix match), newest
        first, and how many match in all."""
        ids = self.store.search_run_ids(text or "", limit=limit)
        if not ids:
            return [], self.store.count_search_matches(text or "")
        runs, _ = self.find_runs(RunFilter(ids=ids), limit=limit)
        return runs, self.store.count_search_matches(text or "")

    def resolve_id(self, text: str, kinds: tuple[str, ...] = ("run", "prompt")) -> tuple[str, str]:
        """(kind, full id) for a run or prompt id, or a unique prefix of 6+ characters of one.

        NotFound when nothing matches; Refused when a prefix matches more than one.
        """
        text = (text or "").strip().lower()
        exact = {"run": self.store.has_run,
                 "prompt": lambda i: self.store.get_prompt(i) is not None,
                 "sweep": lambda i: self.store.get_sweep(i) is not None}
        starting = {"run": self.store.ids_starting_with,
                    "prompt": self.store.prompt_ids_starting_with,
                    "sweep": self.store.sweep_ids_starting_with}
        for kind in kinds:
            if exact[kind](text):
                return kind, text
        if len(text) < 6 or not text.isalnum():
            raise NotFound(text)
        found = [(kind, found_id) for kind in kinds for found_id in starting[kind](text, 2)]
        if not found:
            raise NotFound(text)
        if len(found) > 1:
            raise Refused(f"'{text}' is the start of several ids ({found[0][1]}, {found[1][1]}"
                          "...); give more characters.")
        return found[0]
