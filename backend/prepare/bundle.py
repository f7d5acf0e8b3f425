"""A folder of renders -> one run's input video and control videos.

The folder (or its sub-folders, one level) holds a beauty sequence and optionally passes
whose names match `[prepare] passes` (`*depth*`, `*seg*` / `*mask*`, `*edge*` by default,
matched case-insensitively against the sub-folder and file prefix, e.g. "depth/shot." or
"shot_depth."). The beauty is the one sequence no pattern matches. Every pass must cover the
same frame numbers and have the beauty's size: a control video a frame short, or of another
size, would drive the wrong frames.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Mapping

import numpy as np

from backend.prepare import frames as fr
from backend.prepare.encode import write_video
from backend.prepare.sequence import PrepareError, Sequence, find_sequences

#: control name -> how its frames are made (frames.py)
PASS_KINDS = {"vis": "colour", "edge": "label", "depth": "depth", "seg": "label"}


@dataclass(frozen=True)
class Plan:
    """What will be encoded: the beauty and each control's sequence, the frame numbers."""

    beauty: Sequence
    passes: Mapping[str, Sequence]
    numbers: list[int]
    width: int
    height: int
    ignored: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Prepared:
    input: dict
    controls: dict[str, dict]
    notes: list[str]


def classify(sequences: list[Sequence], patterns: Mapping[str, tuple[str, ...]]
             ) -> tuple[Sequence, dict[str, Sequence]]:
    passes: dict[str, Sequence] = {}
    beauty: list[Sequence] = []
    for seq in sequences:
        name = seq.name.lower()
        kinds = [c for c, globs in patterns.items()
                 if any(fnmatch.fnmatchcase(name, g.lower()) for g in globs)]
        if len(kinds) > 1:
            raise PrepareError("path", f"{seq.pattern} matches the patterns of "
                               f"{' and '.join(kinds)}; rename it or change [prepare] passes")
        if not kinds:
            beauty.append(seq)
            continue
        if kinds[0] in passes:
            raise PrepareError("path", f"two {kinds[0]} passes: {passes[kinds[0]].pattern} and "
                               f"{seq.pattern}; keep one per control")
        passes[kinds[0]] = seq
    if len(beauty) != 1:
        what = ("none is left for the beauty (the input video): every sequence matches a "
                "pass pattern" if not beauty else
                "more than one could be the beauty: " + ", ".join(s.pattern for s in beauty)
                + "; keep one, or name the passes so [prepare] passes matches them")
        raise PrepareError("path", f"{len(sequences)} sequences found, {what}")
    return beauty[0], passes


def plan(folder: Path, patterns: Mapping[str, tuple[str, ...]], *, start: int | None = None,
         end: int | None = None) -> Plan:
    """Find, classify and check everything before anything is encoded."""
    sequences, others = find_sequences(folder)
    if not sequences:
        found = ", ".join(others[:8]) + (f" and {len(others) - 8} more" if len(others) > 8
                                         else "") if others else "nothing"
        raise PrepareError("path", f"no image sequence in {folder.name}: expected numbered "
                           f"frames such as shot.0001.png (png, jpg or exr); found {found}")
    beauty, passes = classify(sequences, patterns)
    numbers = [n for n, _ in beauty.select(start, end)]
    for control, seq in passes.items():
        lacking = [n for n in numbers if n not in seq.frames]
        if lacking:
            from backend.prepare.sequence import number_ranges

            raise PrepareError("path", f"the {control} pass {seq.pattern} lacks frames the "
                               f"beauty {beauty.pattern} has: {number_ranges(lacking)}; every "
                               "pass needs the same frame numbers")
    width, height = size_of(beauty.frames[numbers[0]])
    for label, seq in [("beauty", beauty), *passes.items()]:
        for n in numbers:
            w, h = size_of(seq.frames[n])
            if (w, h) != (width, height):
                raise PrepareError("path", f"{seq.frames[n].name} ({label}) is {w}x{h}; "
                                   f"{beauty.frames[numbers[0]].name} is {width}x{height}: "
                                   "every frame of the beauty and its passes must be one size")
    return Plan(beauty, passes, numbers, width, height, others)


def size_of(path: Path) -> tuple[int, int]:
    """Width and height from the file's header (no decode)."""
    if path.suffix.lower() == ".exr":
        import OpenEXR

        try:
            with OpenEXR.File(str(path), header_only=True) as exr:
                (x0, y0), (x1, y1) = exr.header()["dataWindow"]
        except Exception as exc:
            raise PrepareError("path", f"{path.name} is not an EXR OpenEXR can read ({exc}); "
                               "every frame must be an image (png, jpg or exr)") from None
        return int(x1) - int(x0) + 1, int(y1) - int(y0) + 1
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            return image.size
    except (UnidentifiedImageError, OSError) as exc:
        raise PrepareError("path", f"{path.name} is not an image Pillow can read ({exc}); "
                           "every frame must be an image (png, jpg or exr)") from None


def _frames(seq: Sequence, numbers: list[int], kind: str, *, tonemap: str,
            exposure: float) -> Iterator[np.ndarray]:
    paths = [seq.frames[n] for n in numbers]
    span = fr.depth_range(paths) if kind == "depth" and seq.is_exr else None
    for path in paths:
        if kind == "colour":
            yield fr.colour_frame(path, method=tonemap, exposure=exposure)
        elif kind == "depth":
            yield fr.depth_frame(path, span)
        else:
            yield fr.label_frame(path)


def build(p: Plan, out: Path, *, fps: str, tonemap: str = "reinhard",
          exposure: float = 0.0) -> Prepared:
    """Encode the beauty to `out` and each pass beside it as `<stem>.<control>.mp4`."""
    notes: list[str] = []
    if p.width % 2 or p.height % 2:
        notes.append(f"{p.width}x{p.height} has an odd side: the last row/column is repeated "
                     f"once ({p.width + p.width % 2}x{p.height + p.height % 2}), as H.264 "
                     "4:2:0 needs even sides")
    if p.ignored:
        notes.append("ignored (not numbered frames): " + ", ".join(p.ignored[:10]))
    jobs = [("input", p.beauty, "colour", out)] + [
        (c, seq, PASS_KINDS[c], out.with_name(f"{out.stem}.{c}.mp4"))
        for c, seq in p.passes.items()]
    results: dict[str, dict] = {}
    for role, seq, kind, path in jobs:
        info = write_video(_frames(seq, p.numbers, kind, tonemap=tonemap, exposure=exposure),
                           path, width=p.width, height=p.height, fps=fps,
                           count=len(p.numbers))
        results[role] = {"path": str(path), "pattern": seq.pattern, "source": str(seq.folder),
                         "first": p.numbers[0], "last": p.numbers[-1],
                         "frames": info.frames, "fps": info.fps, "width": info.width,
                         "height": info.height,
                         "conversion": _conversion(kind, seq, tonemap, exposure)}
    inp = results.pop("input")
    return Prepared(inp, results, notes)


def _conversion(kind: str, seq: Sequence, tonemap: str, exposure: float) -> str:
    if not seq.is_exr:
        return "as drawn (grey)" if kind == "depth" else "as is"
    if kind == "colour":
        return f"exposure {exposure:+g}, {tonemap} tone map, sRGB"
    if kind == "depth":
        return "1/Z normalised over the sequence: near bright, far dark"
    return "clamped to 0-1, no curve"
