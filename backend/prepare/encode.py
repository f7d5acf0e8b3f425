"""Frames -> an H.264 mp4 at an exact frame rate, with the static ffmpeg of imageio-ffmpeg.

Why raw frames through a pipe instead of ffmpeg reading the images itself: EXR, depth and
16-bit PNG need conversions ffmpeg does not do the way the models want (frames.py), and a
pipe keeps one code path for every kind of pass. Every frame is written once, at the given
rate (`-r` on the input: no frames dropped or duplicated), and the result is probed after:
its frame count must equal the number of images.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Iterable

import numpy as np

from backend import media
from backend.prepare.sequence import PrepareError

#: Near-lossless for a control video (depth steps, seg labels, thin edges survive), and the
#: yuv420p every player and the models' readers take.
X264 = ("-c:v", "libx264", "-preset", "fast", "-crf", "12", "-pix_fmt", "yuv420p")


def even(frame: np.ndarray) -> np.ndarray:
    """yuv420p needs even sides: repeat the last row / column once if one is odd."""
    h, w = frame.shape[:2]
    if h % 2 == 0 and w % 2 == 0:
        return frame
    return np.pad(frame, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")


def write_video(frames: Iterable[np.ndarray], out: Path, *, width: int, height: int,
                fps: str, count: int) -> media.VideoInfo:
    """Encode `count` frames of width x height (uint8 RGB) at `fps` to `out` (atomically:
    a .part file renamed when it is whole and has every frame)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.stem + ".part.mp4")
    w, h = width + width % 2, height + height % 2
    proc = subprocess.Popen(
        [media.ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-f", "rawvideo",
         "-pix_fmt", "rgb24", "-s", f"{w}x{h}", "-r", fps, "-i", "pipe:0", *X264,
         "-r", fps, "-movflags", "+faststart", str(tmp)],
        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert proc.stdin is not None and proc.stderr is not None
    written = 0
    try:
        for frame in frames:
            proc.stdin.write(np.ascontiguousarray(even(frame)).tobytes())
            written += 1
    except BrokenPipeError:
        pass
    finally:
        try:
            proc.stdin.close()
        except BrokenPipeError:
            pass
    error = proc.stderr.read().decode("utf-8", "replace").strip()
    if proc.wait() != 0:
        tmp.unlink(missing_ok=True)
        raise PrepareError("path", f"ffmpeg could not encode {out.name}: {error[-300:]}")
    info = media.probe_video(tmp)
    if info.frames != count or written != count:
        tmp.unlink(missing_ok=True)
        raise PrepareError("path", f"{out.name}: wrote {written} of {count} frames and the "
                           f"video has {info.frames}; nothing was kept")
    tmp.replace(out)
    return info
