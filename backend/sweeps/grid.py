r"""Where everything goes in a sweep's grid: tiles, the axis labels, and one page per z value.

The picture, as A1111's X/Y/Z plot draws it:

```
+------------------------------------------------+   title band: the axes, and the page's
| x: edge weight | y: seed | z: model=transfer1   |   z value when there is a third axis
+--------+-----------+-----------+---------------+
| seed \ edge | edge=0.2 | edge=0.5 | edge=0.8   |   header row: the x values
+--------+-----------+-----------+---------------+
| seed=1 |   tile    |   tile    |   tile        |   one row per y value, its label on the left
| seed=2 |   tile    |   tile    |   tile        |
+--------+-----------+-----------+---------------+
```

Pure: sizes in, rectangles and label texts out, so the export (render.py) and the tests read
the same layout. Every size is even (H.264 in yuv420p needs it) and the rectangles cover the
frame exactly, so ffmpeg's xstack needs no fill.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from backend.sweeps.axes import Axis


@dataclass(frozen=True)
class Rect:
    x: int
    y: int
    w: int
    h: int


@dataclass(frozen=True)
class Label:
    rect: Rect
    text: str


@dataclass(frozen=True)
class Page:
    """One grid: the cells whose z index is `z`."""

    z: int
    labels: tuple[Label, ...]  # title, corner (with a y axis), the x values, the y values
    tiles: dict[tuple[int, int], Rect]  # (x index, y index) -> where its video goes


@dataclass(frozen=True)
class GridLayout:
    width: int
    height: int
    tile_w: int
    tile_h: int
    band_h: int
    side_w: int
    pages: tuple[Page, ...]


def _even(value: float) -> int:
    value = int(value)
    return value - value % 2


def font_px(band_h: int) -> int:
    """The labels' font size for a band this high."""
    return max(12, band_h * 11 // 20)


def tile_size(video_w: int, video_h: int, max_w: int = 480) -> tuple[int, int]:
    """A tile keeps the videos' aspect, at most `max_w` wide, even sides."""
    w = min(video_w, max_w)
    h = round(video_h * w / video_w) if video_w else video_h
    return max(2, _even(w)), max(2, _even(h))


def title_text(axes: Sequence[Axis], z: int, sep: str = "   ") -> str:
    """The title band: every axis by position; the third with this page's value."""
    parts = []
    for position, axis in zip("xyz", axes):
        parts.append(f"{position}: {axis.label(z)}" if position == "z" else
                     f"{position}: {axis.title}")
    return sep.join(parts)


def grid_layout(axes: Sequence[Axis], tile_w: int, tile_h: int) -> GridLayout:
    """The layout of every page for these axes and tiles of tile_w x tile_h."""
    nx = len(axes[0].values)
    ny = len(axes[1].values) if len(axes) > 1 else 1
    nz = len(axes[2].values) if len(axes) > 2 else 1
    band_h = max(24, _even(tile_h / 7))
    side_w = 0
    if len(axes) > 1:  # wide enough for the corner's and the rows' words on one line
        words = [f"{axes[1].name} \\ {axes[0].name}"] + [axes[1].label(j) for j in range(ny)]
        need = max(len(w) for w in words) * font_px(band_h) * 0.66 + 24
        side_w = _even(min(max(96, tile_w / 3, need), max(96, tile_w)) + 1)
    width, height = side_w + nx * tile_w, 2 * band_h + ny * tile_h
    pages = []
    for z in range(nz):
        labels = [Label(Rect(0, 0, width, band_h), title_text(axes, z))]
        if side_w:
            labels.append(Label(Rect(0, band_h, side_w, band_h),
                                f"{axes[1].name} \\ {axes[0].name}"))
        labels += [Label(Rect(side_w + i * tile_w, band_h, tile_w, band_h), axes[0].label(i))
                   for i in range(nx)]
        if side_w:
            labels += [Label(Rect(0, 2 * band_h + j * tile_h, side_w, tile_h),
                             axes[1].label(j)) for j in range(ny)]
        tiles = {(i, j): Rect(side_w + i * tile_w, 2 * band_h + j * tile_h, tile_w, tile_h)
                 for j in range(ny) for i in range(nx)}
        pages.append(Page(z, tuple(labels), tiles))
    return GridLayout(width, height, tile_w, tile_h, band_h, side_w, tuple(pages))
