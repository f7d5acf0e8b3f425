"""Notes reports: a version's (or its shot's) notes as one self-contained HTML file."""

from __future__ import annotations

import os
import time
from pathlib import Path

from backend.operations.errors import Refused
from backend.operations.versions import STATUS_LABELS


class ReportOps:
    """A mixin of Operations (settings, store; uses VersionOps and NoteOps)."""

    def report_html(self, run_id: str, *, whole_shot: bool = False,
                    made_by: str | None = None, only: set[str] | None = None) -> str:
        """The report of one version, or of every version of its shot (`whole_shot`);
        `only` limits it to these runs (a review link's scope)."""
        stack = self.versions(run_id)
        rows = stack["versions"] if whole_shot else [
            v for v in stack["versions"] if v["run_id"] == stack["run_id"]]
        if only is not None:
            rows = [v for v in rows if v["run_id"] in only]
        if not rows:
            raise Refused("Nothing to report: none of these versions may be shown here.")
        versions = []
        for row in rows:
            run = self._get(row["run_id"])
            params = run.params_dict()
            history = [f"{STATUS_LABELS.get(h['status'], h['status'])} by {h['username']}, "
                       + time.strftime("%Y-%m-%d %H:%M", time.localtime(h["at"]))
                       for h in self.status_history(run.id)]
            versions.append({
                "run_id": run.id, "number": row["number"], "label": row["label"],
                "name": run.name, "run_type": run.run_type, "run_status": run.status,
                "simulated": run.simulated, "prompt": params.get("prompt", ""),
                "review_status": row["review_status"],
                "status_label": STATUS_LABELS.get(row["review_status"], row["review_status"]),
                "status_by": row["status_by"],
                "status_at": time.strftime("%Y-%m-%d %H:%M", time.localtime(row["status_at"]))
                if row["status_at"] else "", "history": history,
                "source_note": row["source_note"], "video": run.output_path,
                "notes": self.notes(run.id)})
        shot = stack["shot"]["name"] or f"shot of run {stack['run_id'][-8:]}"
        what = "all versions" if whole_shot else versions[0]["label"]
        from backend.review.report import render_report  # jinja2 + PIL, only here

        return render_report(title=f"{shot}: {what}", versions=versions,
                             made_by=made_by or "local")

    def write_report(self, run_id: str, out: str | Path | None = None, *,
                     whole_shot: bool = False, made_by: str | None = None,
                     only: set[str] | None = None) -> Path:
        """Write the report (atomically) to `out`, or into the exports folder; its path."""
        text = self.report_html(run_id, whole_shot=whole_shot, made_by=made_by, only=only)
        if out is None:
            stamp = time.strftime("%Y%m%d-%H%M%S")
            out = self.exports_dir / "reports" / (
                f"notes-{run_id}{'-shot' if whole_shot else ''}-{stamp}.html")
        out = Path(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(f".{out.name}.{os.getpid()}.part")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(out)
        return out
