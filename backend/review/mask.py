"""A note's drawn region as a mask video: white inside the region over the note's frames, black
everywhere else, at the run's own resolution, length and frame rate.

Why lossless H.264 in yuv420p: the mask must be exactly the drawing (a model reads it pixel by
pixel), yet any reader of mp4 (Cosmos' decoders, a browser, ffmpeg) must open it. Pure black
and white survive yuv420p unchanged (their chroma is neutral) and `-qp 0` keeps luma exact.
Frames are piped raw into the bundled ffmpeg: the mask is never held as a whole in memory.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Sequence

from backend import media
from backend.review.drawing import Shape, fill_regions, regions


class MaskError(ValueError):
    """No mask can be made from this note; the message says why and what to do."""


def check_mask_request(shapes: Sequence[Shape], frame: int | None, end_frame: int | None,
                       frames: int) -> tuple[int, int]:
    """The (first, last) frame the mask covers, or MaskError saying what is missing."""
    if not regions(shapes):
        raise MaskError("This note has no region: draw a rectangle, an ellipse or a closed "
                        "freehand outline over what should change (arrows only point).")
    if frame is None:
        raise MaskError("This note is not on a frame; only frame notes can become a mask.")
    last = frame if end_frame is None else end_frame
    if not 0 <= frame <= last < frames:
        raise MaskError(f"The note's frames {frame}-{last} are outside the video's "
                        f"0-{frames - 1}.")
    return frame, last


def write_mask_video(shapes: Sequence[Shape], *, width: int, height: int, frames: int,
                     fps: float, first: int, last: int, out: str | Path,
                     timeout: float = 600) -> Path:
    """Render the mask video (written atomically) and return its path."""
    if width < 2 or height < 2 or frames < 1:
        raise MaskError(f"A mask needs a video of at least 2x2 pixels and 1 frame, not "
                        f"{width}x{height} with {frames}.")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.stem + ".part" + out.suffix)
    inside = fill_regions(shapes, (width, height)).tobytes()
    black = bytes(width * height)
    pix_fmt = "yuv420p" if width % 2 == 0 and height % 2 == 0 else "yuv444p"
    argv = [media.ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y",
            "-f", "rawvideo", "-pix_fmt", "gray", "-s", f"{width}x{height}",
            "-framerate", f"{fps:g}", "-i", "-", "-c:v", "libx264", "-preset", "ultrafast",
            "-qp", "0", "-pix_fmt", pix_fmt, "-an", str(tmp)]
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    try:
        assert proc.stdin is not None
        for index in range(frames):
            proc.stdin.write(inside if first <= index <= last else black)
        _, err = proc.communicate(timeout=timeout)
    except BaseException:
        proc.kill()
        proc.wait()
        tmp.unlink(missing_ok=True)
        raise
    if proc.returncode != 0 or not tmp.exists():
        tmp.unlink(missing_ok=True)
        raise MaskError("ffmpeg could not write the mask video: "
                        + err.decode("utf-8", "replace")[-300:])
    tmp.replace(out)
    return out


def read_gray_frames(path: str | Path, width: int, height: int) -> list[bytes]:
    """Every frame of a video as 8-bit gray pixels (how tests and checks read a mask)."""
    proc = subprocess.run([media.ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-i",
                           str(path), "-f", "rawvideo", "-pix_fmt", "gray", "-"],
                          capture_output=True, timeout=600)
    if proc.returncode != 0:
        raise MaskError(proc.stderr.decode("utf-8", "replace")[-300:])
    size = width * height
    data = proc.stdout
    return [data[i:i + size] for i in range(0, len(data), size)]
