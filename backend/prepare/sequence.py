"""Finding image sequences in a folder (`shot.%04d.exr`), their frame numbers and their gaps.

Why gaps are refused rather than filled: a missing frame is usually a render that failed, and
a video made by skipping or repeating it would be one frame short or hold a frame, silently
out of step with the plate, the other passes and the edit. So the numbers are reported and
the person renders them, or picks a range without them (`--start/--end`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".exr")
_FRAME = re.compile(r"^(?P<prefix>.*?)(?P<frame>\d+)(?P<suffix>\.(?:png|jpe?g|exr))$",
                    re.IGNORECASE)


class PrepareError(ValueError):
    """The images cannot become a video as asked; `field` is what the person should change
    (path, fps, start, end) and the message says what is wrong and what is allowed."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class Sequence:
    """One numbered run of frames: `folder/prefix<NNNN>suffix`."""

    folder: Path
    prefix: str
    suffix: str
    padding: int  # digits of the zero-padded number (0: not padded)
    frames: dict[int, Path]

    @property
    def name(self) -> str:
        """What pass patterns match: the sub-folder (if any) and the prefix, e.g.
        "depth/shot." or "shot_depth."."""
        return self.prefix

    @property
    def pattern(self) -> str:
        number = f"%0{self.padding}d" if self.padding else "%d"
        return f"{self.prefix}{number}{self.suffix}"

    @property
    def first(self) -> int:
        return min(self.frames)

    @property
    def last(self) -> int:
        return max(self.frames)

    @property
    def is_exr(self) -> bool:
        return self.suffix.lower() == ".exr"

    def missing(self, start: int | None = None, end: int | None = None) -> list[int]:
        lo = self.first if start is None else start
        hi = self.last if end is None else end
        return [n for n in range(lo, hi + 1) if n not in self.frames]

    def select(self, start: int | None, end: int | None) -> list[tuple[int, Path]]:
        """The frames from start to end (inclusive), refusing a range with gaps."""
        lo = self.first if start is None else start
        hi = self.last if end is None else end
        if lo < self.first or hi > self.last:
            raise PrepareError("start" if lo < self.first else "end",
                               f"{self.pattern} has frames {self.first}-{self.last}; "
                               f"{lo}-{hi} is outside them (choose --start/--end within).")
        gaps = self.missing(lo, hi)
        if gaps:
            raise PrepareError("path", f"{self.pattern}: frames {lo}-{hi} have "
                               f"{len(gaps)} missing: {number_ranges(gaps)}. Render the "
                               "missing frames, or choose a range without them with "
                               "--start/--end (a gap is never filled or skipped silently).")
        return [(n, self.frames[n]) for n in range(lo, hi + 1)]


def number_ranges(numbers: list[int]) -> str:
    """[3, 4, 5, 9] -> "3-5, 9" (at most 20 ranges, then how many more)."""
    ranges: list[str] = []
    numbers = sorted(numbers)
    start = prev = numbers[0]
    for n in numbers[1:] + [None]:  # type: ignore[list-item]
        if n is not None and n == prev + 1:
            prev = n
            continue
        ranges.append(str(start) if start == prev else f"{start}-{prev}")
        if n is not None:
            start = prev = n
    shown = ", ".join(ranges[:20])
    return shown + (f" and {len(ranges) - 20} more ranges" if len(ranges) > 20 else "")


def find_sequences(folder: Path, *, depth: int = 1) -> tuple[list[Sequence], list[str]]:
    """The sequences in `folder` and its sub-folders (to `depth` levels), and the names of
    other files found there (not hidden ones), so a folder of the wrong things is named."""
    groups: dict[tuple[str, str, str], dict[int, Path]] = {}
    widths: dict[tuple[str, str, str], set[int]] = {}
    others: list[str] = []
    for path in sorted(_walk(folder, depth)):
        rel = path.relative_to(folder)
        match = _FRAME.match(path.name)
        if match is None:
            others.append(str(rel))
            continue
        sub = "" if rel.parent == Path(".") else rel.parent.as_posix() + "/"
        key = (sub + match["prefix"], match["suffix"].lower(), match["suffix"])
        number = int(match["frame"])
        frames = groups.setdefault(key, {})
        if number in frames:  # shot.1.png and shot.0001.png: two names for one frame
            raise PrepareError("path", f"frame {number} is there twice: "
                               f"{frames[number].name} and {path.name}; keep one.")
        frames[number] = path
        widths.setdefault(key, set()).add(len(match["frame"]))
    sequences = []
    for (prefix, _, suffix), frames in groups.items():
        lengths = widths[(prefix, suffix.lower(), suffix)]
        padding = next(iter(lengths)) if len(lengths) == 1 else 0  # else: %d
        sequences.append(Sequence(folder, prefix, suffix, padding, frames))
    sequences.sort(key=lambda s: s.prefix)
    return sequences, others


def _walk(folder: Path, depth: int):
    for entry in folder.iterdir():
        if entry.name.startswith(".") or entry.name.startswith("__MACOSX"):
            continue
        if entry.is_file():
            yield entry
        elif entry.is_dir() and depth > 0:
            yield from _walk(entry, depth - 1)
