"""Inputs: the shipped samples, imported uploads, recently used videos, and settings carried
inside our own output videos."""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import threading
import time
from pathlib import Path

from backend import media
from backend.models.params import RUN_INFERENCE, GenerationParams
from backend.paths import ASSETS_DIR

VIDEO_SUFFIXES = (".mp4", ".mov", ".webm", ".mkv", ".avi", ".m4v")


class InputOps:
    """A mixin of Operations (settings, store)."""

    @staticmethod
    def sample_videos() -> list[Path]:
        """Small clips shipped in assets/ so a first run needs no footage of one's own."""
        return sorted(p for p in ASSETS_DIR.glob("*.mp4"))

    def input_refusal(self, path: str | Path | None) -> str | None:
        """Why this file may not become an input here, or None when it may.

        The web app accepts server paths only under its input roots (uploads, the shipped
        samples, `[ui] input_roots`), checked after resolving symlinks, so a crafted request
        cannot turn any file the app can read into an input that lands in uploads.
        """
        if not path or self.input_roots is None:
            return None
        try:
            real = Path(path).resolve(strict=True)
        except (OSError, RuntimeError):
            return f"{Path(str(path)).name}: no such file."
        if any(real.is_relative_to(root) for root in self.input_roots):
            return None
        return ("Not an allowed input: choose a sample, a video used before or upload one "
                "(files on the server are accepted only under the uploads folder, the shipped "
                "samples and the folders in [ui] input_roots).")

    def import_video(self, path: str | Path) -> Path:
        """Copy a chosen file into the uploads folder under its content hash.

        Gradio's temp files vanish; runs must point at something that stays. Samples and files
        already imported are used where they are.
        """
        refusal = self.input_refusal(path)
        if refusal:
            raise PermissionError(refusal)
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
            publish_copy(src, dest)
        return dest

    def import_file(self, path: str | Path) -> Path:
        """Like import_video, for any file a request names (a mask video, a `.pt` weight map):
        the file keeps its own suffix, since the model reads some files by their suffix."""
        src = Path(path)
        if src.parent in (ASSETS_DIR, self.settings.uploads_dir):
            return src
        suffix = src.suffix.lower()
        if suffix in VIDEO_SUFFIXES:
            return self.import_video(src)
        if not (1 < len(suffix) <= 8 and suffix[1:].isalnum()):
            suffix = ".bin"
        digest = hashlib.sha256()
        with open(src, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
        dest = self.settings.uploads_dir / f"{digest.hexdigest()}{suffix}"
        if not dest.exists():
            publish_copy(src, dest)
        return dest

    def recent_inputs(self, limit: int = 12, scan: int = 300) -> list[tuple[str, str]]:
        """Input videos used by recent runs that still exist here: (label, path), newest first.

        One query over the latest `scan` runs (their params only), so it stays cheap however
        long the history grows. Shipped samples are left out (the form lists them anyway).
        """
        rows = self.store.recent_run_params(RUN_INFERENCE, scan)
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

    def settings_from_video(self, path: str | Path) -> tuple[GenerationParams, dict] | None:
        """Settings embedded in one of our output videos (params, plus run_id/host), or None."""
        data = media.read_embedded_settings(path)
        if not isinstance(data, dict):
            return None
        params = data.get("params") if isinstance(data.get("params"), dict) else data
        try:
            recalled = GenerationParams.from_dict(params)
        except TypeError:
            return None
        if data.get("model") and "model" not in params:
            recalled.model = str(data["model"])
        return recalled, {k: v for k, v in data.items() if k != "params"}


def publish_copy(src: Path, dest: Path) -> None:
    """Copy `src` to `dest` so that `dest` is never seen half written: through a temporary
    file of this writer's own (two launches of one clip at the same moment each copy; a
    shared `.part` name let the second rename find its file already moved), then an atomic
    rename. The content is named by its hash, so whichever rename lands last is the same."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.{threading.get_ident()}."
                         f"{secrets.token_hex(4)}.part")
    try:
        shutil.copyfile(src, tmp)
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
