"""One exact frame of a video as an image (for reports and for the note's burnt-in drawing).

Exact by index, not by time: ffmpeg's `select` filter picks the N-th decoded frame, so a
frame note's image is that frame even where timestamps are uneven.
"""

from __future__ import annotations

import io
import subprocess
from pathlib import Path

from PIL import Image

from backend import media


def frame_image(video: str | Path, index: int, *, max_width: int = 960) -> Image.Image:
    """Frame `index` (0-based) of `video`, scaled down to at most `max_width` pixels wide."""
    scale = f"scale='min({max_width},iw)':-2"
    proc = subprocess.run([media.ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-i",
                           str(video), "-vf", f"select=eq(n\\,{int(index)}),{scale}",
                           "-frames:v", "1", "-f", "image2pipe", "-c:v", "png", "-"],
                          capture_output=True, timeout=300, stdin=subprocess.DEVNULL)
    if proc.returncode != 0 or not proc.stdout:
        raise media.MediaError(f"could not read frame {index} of {Path(video).name}: "
                               + proc.stderr.decode("utf-8", "replace").strip()[-300:])
    return Image.open(io.BytesIO(proc.stdout)).convert("RGB")


def region_preview(video: str | Path, index: int, region: Image.Image, *,
                   max_width: int = 480) -> Image.Image:
    """Frame `index` with the masked region lit up (what "re-generate here" will change)."""
    frame = frame_image(video, index, max_width=max_width)
    mask = region.convert("L").resize(frame.size, Image.NEAREST)
    lit = Image.blend(frame, Image.new("RGB", frame.size, (255, 255, 255)), 0.55)
    return Image.composite(lit, frame, mask)
