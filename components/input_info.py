"""What the form says about a chosen video (resolution, frames, fps), probed once per file."""

from __future__ import annotations

import functools
import html
from pathlib import Path

from backend.media import MediaError, VideoInfo, probe_video


@functools.lru_cache(maxsize=64)
def _probe_cached(path: str, mtime: float, size: int) -> VideoInfo:
    return probe_video(path)


def probe(path: str | None) -> VideoInfo | None:
    """Probe a video once per version of the file (the preview asks on every keystroke)."""
    if not path:
        return None
    stat = Path(path).stat()
    return _probe_cached(str(path), stat.st_mtime, stat.st_size)


def describe_input(path: str | None) -> tuple[str, str]:
    """(facts shown under the input, error message or '')."""
    if not path:
        return "", ""
    try:
        info = probe(path)
    except (MediaError, OSError) as exc:
        return "", f"Not usable: {exc}"
    return f"**{html.escape(Path(path).name)}**: {info.describe()}", ""
