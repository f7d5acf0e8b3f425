"""Video facts and images: probe, validate, thumbnail (ffmpeg from imageio-ffmpeg).

imageio-ffmpeg ships a static ffmpeg but no ffprobe, so probing parses `ffmpeg -i` and counts
frames by stream-copying packets to the null muxer (no decode: fast even for long clips).
"""

from __future__ import annotations

import logging
import re
import subprocess
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

log = logging.getLogger(__name__)

_STREAM_RE = re.compile(r"Stream #\d+:\d+.*?: Video: (?P<codec>\w+).*?(?P<w>\d{2,5})x(?P<h>\d{2,5})")
_FPS_RE = re.compile(r"(?P<fps>\d+(?:\.\d+)?) fps")
_TBR_RE = re.compile(r"(?P<fps>\d+(?:\.\d+)?) tbr")
_DURATION_RE = re.compile(r"Duration: (\d+):(\d\d):(\d\d(?:\.\d+)?)")
_FRAME_RE = re.compile(r"frame=\s*(\d+)")


class MediaError(ValueError):
    """The file is not a video we can use; the message says what is wrong."""


@dataclass(frozen=True)
class VideoInfo:
    width: int
    height: int
    frames: int
    fps: float
    duration: float
    codec: str

    def to_dict(self) -> dict:
        return asdict(self)

    def describe(self) -> str:
        return f"{self.width}x{self.height}, {self.frames} frames, {self.fps:g} fps"


@lru_cache(maxsize=1)
def ffmpeg_exe() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def _ffmpeg(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([ffmpeg_exe(), "-hide_banner", *args], capture_output=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


def probe_video(path: str | Path) -> VideoInfo:
    """Resolution, exact frame count, fps and duration of a video file, or MediaError.

    Remembered per file version (path, inode, size, modification time): the form's preview,
    the launch's checks and the plan each asked ffmpeg about the same input again, 25 ms a
    time on the Run click. Our files are written whole and moved into place (a new inode),
    so a changed file is a new key; a file that failed is asked again next time."""
    path = Path(path)
    if not path.is_file():
        raise MediaError(f"{path.name}: file not found")
    stat = path.stat()
    if stat.st_size == 0:
        raise MediaError(f"{path.name} is empty; choose a video file (mp4, mov, webm, mkv)")
    return _probe_version(str(path), stat.st_ino, stat.st_size, stat.st_mtime_ns)


@lru_cache(maxsize=512)
def _probe_version(path_text: str, inode: int, size: int, mtime_ns: int) -> VideoInfo:
    """probe_video's ffmpeg call for one version of a file (the key's last three parts)."""
    path = Path(path_text)
    proc = _ffmpeg("-i", str(path), "-map", "0:v:0", "-c", "copy", "-f", "null", "-")
    text = proc.stderr.decode("utf-8", "replace")
    stream = _STREAM_RE.search(text)
    if stream is None:
        raise MediaError(f"{path.name} is not a video ffmpeg can read; choose a video file "
                         "(mp4, mov, webm, mkv)")
    stream_line = text[stream.start():text.find("\n", stream.start())]
    fps_match = _FPS_RE.search(stream_line) or _TBR_RE.search(stream_line)
    fps = float(fps_match.group("fps")) if fps_match else 24.0
    duration = 0.0
    dur = _DURATION_RE.search(text)
    if dur:
        duration = int(dur.group(1)) * 3600 + int(dur.group(2)) * 60 + float(dur.group(3))
    frames_found = _FRAME_RE.findall(text)
    frames = int(frames_found[-1]) if frames_found else round(duration * fps)
    if frames <= 0:
        raise MediaError(f"{path.name} has no video frames; choose a video with at least one frame")
    return VideoInfo(width=int(stream.group("w")), height=int(stream.group("h")), frames=frames,
                     fps=fps, duration=duration, codec=stream.group("codec"))


def make_thumbnail(video: str | Path, out: str | Path, width: int = 320) -> Path:
    """A JPEG from the middle of the video, `width` pixels wide (written atomically)."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        info = probe_video(video)
        at = max(0.0, info.duration / 2)
    except MediaError:
        at = 0.0
    tmp = out.with_name(out.stem + ".part" + out.suffix)
    proc = _ffmpeg("-loglevel", "error", "-y", "-ss", f"{at:.3f}", "-i", str(video),
                   "-frames:v", "1", "-vf", f"scale={width}:-2", "-q:v", "4", str(tmp))
    if proc.returncode != 0 or not tmp.exists():
        raise MediaError(f"could not make a thumbnail of {Path(video).name}: "
                         + proc.stderr.decode("utf-8", "replace").strip()[-300:])
    tmp.replace(out)
    return out


def negate_video(video: str | Path, out: str | Path, timeout: float = 600) -> Path:
    """The video with every pixel inverted (white <-> black), losslessly: a mask's inverse,
    the same size, length and frame rate (written atomically; kept when already there)."""
    out = Path(out)
    if out.is_file():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.stem + ".part" + out.suffix)
    info = probe_video(video)
    # inverted as gray (full range: white is 255, not video-range 235); stored as the masks
    # are (backend/review/mask.py), 4:2:0 where the size allows it
    pix_fmt = "yuv420p" if info.width % 2 == 0 and info.height % 2 == 0 else "yuv444p"
    proc = _ffmpeg("-loglevel", "error", "-y", "-i", str(video), "-vf", "format=gray,negate",
                   "-c:v", "libx264", "-preset", "ultrafast", "-qp", "0", "-pix_fmt", pix_fmt,
                   "-an", str(tmp), timeout=timeout)
    if proc.returncode != 0 or not tmp.exists():
        tmp.unlink(missing_ok=True)
        raise MediaError(f"could not invert {Path(video).name}: "
                         + proc.stderr.decode("utf-8", "replace").strip()[-300:])
    tmp.replace(out)
    return out


def make_test_clip(out: str | Path, *, width: int = 320, height: int = 180, frames: int = 25,
                   fps: int = 24, pattern: str = "testsrc2") -> Path:
    """A small synthetic H.264 clip (samples for the demo, inputs for tests)."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    proc = _ffmpeg("-loglevel", "error", "-y", "-f", "lavfi", "-i",
                   f"{pattern}=size={width}x{height}:rate={fps}", "-frames:v", str(frames),
                   "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(out))
    if proc.returncode != 0:
        raise MediaError(proc.stderr.decode("utf-8", "replace"))
    return out


SETTINGS_TAG = "cosmos-orchestrator-settings:"


def embed_settings(video: str | Path, settings: dict) -> None:
    """Write the run's settings into the mp4's comment tag (stream copy, no re-encode).

    Any of our videos then carries how it was made: dropped back on Create it recalls them.
    """
    import json

    video = Path(video)
    tmp = video.with_name(video.stem + ".meta" + video.suffix)
    text = SETTINGS_TAG + json.dumps(settings, ensure_ascii=False, separators=(",", ":"))
    proc = _ffmpeg("-loglevel", "error", "-y", "-i", str(video), "-map", "0", "-c", "copy",
                   "-metadata", f"comment={text}", str(tmp))
    if proc.returncode != 0 or not tmp.exists():
        tmp.unlink(missing_ok=True)
        raise MediaError("could not write settings into " + video.name + ": "
                         + proc.stderr.decode("utf-8", "replace")[-300:])
    tmp.replace(video)


def _unescape_ffmetadata(value: str) -> str:
    out, i = [], 0
    while i < len(value):
        if value[i] == "\\" and i + 1 < len(value):
            out.append(value[i + 1])
            i += 2
        else:
            out.append(value[i])
            i += 1
    return "".join(out)


def read_embedded_settings(video: str | Path) -> dict | None:
    """The settings embed_settings wrote, or None for any other file."""
    import json

    proc = _ffmpeg("-loglevel", "error", "-i", str(video), "-f", "ffmetadata", "-")
    if proc.returncode != 0:
        return None
    text = proc.stdout.decode("utf-8", "replace")
    # ffmetadata escapes newlines as a backslash at the end of a line
    text = text.replace("\\\n", "\\n")
    for line in text.splitlines():
        if line.startswith("comment="):
            value = _unescape_ffmetadata(line[len("comment="):])
            if value.startswith(SETTINGS_TAG):
                try:
                    return json.loads(value[len(SETTINGS_TAG):])
                except json.JSONDecodeError:
                    return None
    return None


# -- side-by-side renders (the Compare tab's "Export side-by-side") ---------------------------
_FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Bold.ttf",
    "/System/Library/Fonts/Helvetica.ttc",
)


def _font_option() -> str:
    for candidate in _FONT_CANDIDATES:
        if Path(candidate).exists():
            return f"fontfile={candidate}"
    return "font=Sans"  # fontconfig's default sans face


def render_side_by_side(a: str | Path, b: str | Path, labels: tuple[str, str] | list[str],
                        out: str | Path, *, max_height: int = 720,
                        timeout: float = 600) -> Path:
    """One mp4 with `a` left and `b` right, each scaled to the same height and labelled.

    Both sides play at `a`'s frame rate so they stay in step; the shorter one holds its last
    frame until the longer ends. Labels travel through text files, so any run name or prompt is
    safe in them (no filter-graph escaping of user text). Written atomically.
    """
    import tempfile

    a, b, out = Path(a), Path(b), Path(out)
    info_a, info_b = probe_video(a), probe_video(b)
    height = min(info_a.height, info_b.height, max_height)
    height -= height % 2
    fps = info_a.fps if info_a.fps > 0 else 24
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.stem + ".part" + out.suffix)
    with tempfile.TemporaryDirectory(prefix="cosmos-sbs-") as work:
        label_files = []
        for i, text in enumerate(labels):
            path = Path(work) / f"label{i}.txt"
            path.write_text(str(text).replace("\n", " ")[:120], encoding="utf-8")
            label_files.append(path)

        def graph(with_labels: bool) -> str:
            sides = []
            for i, name in enumerate(("l", "r")):
                chain = f"[{i}:v]fps={fps:g},scale=-2:{height},setsar=1"
                if with_labels:
                    chain += (f",drawtext={_font_option()}:textfile={label_files[i]}:"
                              f"expansion=none:fontcolor=white:fontsize={max(12, height // 22)}:box=1:"
                              "boxcolor=black@0.6:boxborderw=8:x=12:y=12")
                sides.append(chain + f"[{name}]")
            return ";".join(sides) + ";[l][r]hstack=inputs=2:shortest=0[v]"

        proc = None
        for with_labels in (True, False):  # a box without fonts still gets its video
            proc = _ffmpeg("-loglevel", "error", "-y", "-i", str(a), "-i", str(b),
                           "-filter_complex", graph(with_labels), "-map", "[v]", "-an",
                           "-c:v", "libx264", "-preset", "veryfast", "-crf", "23",
                           "-pix_fmt", "yuv420p", "-movflags", "+faststart", str(tmp),
                           timeout=timeout)
            if proc.returncode == 0 and tmp.exists():
                break
            if with_labels:
                log.warning("side-by-side labels failed, rendering without: %s",
                            proc.stderr.decode("utf-8", "replace")[-300:])
    if proc is None or proc.returncode != 0 or not tmp.exists():
        tmp.unlink(missing_ok=True)
        raise MediaError("could not render the side-by-side video: "
                         + (proc.stderr.decode("utf-8", "replace")[-300:] if proc else ""))
    tmp.replace(out)
    return out
