"""Exports: files made for people to download (the side-by-side comparison)."""

from __future__ import annotations

from pathlib import Path

from backend import media
from backend.operations.errors import Refused


class ExportOps:
    """A mixin of Operations (settings, store)."""

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
