"""A sweep's grid as one MP4, drawn by ffmpeg's own filters (xstack + drawtext).

Why a filter graph and not frames in Python: ffmpeg decodes, scales, labels and stacks every
tile in one pass at native speed, with nothing held in our memory. Each run's video is an
input, scaled into its tile (letterboxed), held on its last frame until the longest ends; a
cell without a video (failed, blocked, cancelled, deleted) is a coloured `color` source with
its reason written on it; labels are `color` sources with `drawtext`. Pages (the z axis) play
one after the other. Every text reaches ffmpeg through a text file (`textfile=`,
`expansion=none`), so no run name, cause or value is ever parsed as filter syntax or reaches
a shell (ffmpeg runs from an argv list).
"""

from __future__ import annotations

import logging
import re
import tempfile
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from backend import media
from backend.sweeps.axes import Axis
from backend.sweeps.grid import GridLayout, grid_layout, tile_size
from backend.sweeps.grid import font_px as grid_font_px

log = logging.getLogger(__name__)

LABEL_COLOUR = "0x202020"
PLACEHOLDER_COLOUR = "0x5a1e1e"
#: How long a grid lasts when no cell has a video to take the length from.
EMPTY_SECONDS = 2.0


@dataclass(frozen=True)
class Tile:
    """One cell of the grid: its video, or the words on its placeholder."""

    coords: tuple[int, int, int]
    video: Path | None
    placeholder: str = ""


#: Characters a path may have to stand unescaped in a filter graph (no ':', quotes, commas).
_GRAPH_SAFE = re.compile(r"^[A-Za-z0-9/_.-]+$")


def _work_root() -> str:
    """Where the label files go: the temp folder, unless its path would need filter-graph
    escaping (then /tmp, which never does)."""
    root = tempfile.gettempdir()
    return root if _GRAPH_SAFE.match(root) else "/tmp"


def _wrap(text: str, width_px: int, font_px: int) -> str:
    """Lines that fit `width_px` (DejaVu Sans averages about 0.62 em a character, bold
    capitals more), at most six of them."""
    chars = max(8, int((width_px - 24) / (font_px * 0.66)))
    lines = []
    for paragraph in str(text).splitlines() or [""]:
        lines += textwrap.wrap(paragraph, chars) or [""]
    return "\n".join(lines[:6])


def filter_graph(layout: GridLayout, tiles: Sequence[Tile], inputs: dict[tuple, int],
                 texts: dict[str, Path], *, fps: float, duration: float, font: str) -> str:
    """The -filter_complex text; `inputs` maps a tile's coords to its ffmpeg input index and
    `texts` a label key ("p<z>l<i>", "t<x>_<y>_<z>") to the file holding its words."""
    font_px = grid_font_px(layout.band_h)
    chains, out_pages = [], []
    by_coords = {t.coords: t for t in tiles}

    def text(key: str, centred: bool = True, size: int = font_px) -> str:
        x = "(w-text_w)/2" if centred else "12"
        return (f"drawtext={font}:textfile={texts[key]}:expansion=none:fontcolor=white:"
                f"fontsize={size}:line_spacing=4:x={x}:y=(h-text_h)/2")

    def colour(colour_hex: str, w: int, h: int) -> str:
        return f"color=c={colour_hex}:s={w}x{h}:r={fps:g}:d={duration:.3f},format=yuv420p"

    for page in layout.pages:
        names, positions = [], []
        for index, label in enumerate(page.labels):
            name = f"p{page.z}l{index}"
            chains.append(f"{colour(LABEL_COLOUR, label.rect.w, label.rect.h)},"
                          f"{text(name, centred=index > 0)}[{name}]")
            names.append(name)
            positions.append(f"{label.rect.x}_{label.rect.y}")
        for (x, y), rect in page.tiles.items():
            coords = (x, y, page.z)
            name = f"t{x}_{y}_{page.z}"
            tile = by_coords.get(coords)
            if tile is not None and tile.video is not None:
                chains.append(
                    f"[{inputs[coords]}:v]fps={fps:g},scale={rect.w}:{rect.h}:"
                    "force_original_aspect_ratio=decrease,"
                    f"pad={rect.w}:{rect.h}:(ow-iw)/2:(oh-ih)/2:color=black,setsar=1,"
                    f"format=yuv420p,tpad=stop_mode=clone:stop_duration={duration:.3f},"
                    f"trim=duration={duration:.3f},setpts=PTS-STARTPTS[{name}]")
            else:
                chains.append(f"{colour(PLACEHOLDER_COLOUR, rect.w, rect.h)},"
                              f"drawbox=x=0:y=0:w=iw:h=ih:color={LABEL_COLOUR}:t=2,"
                              f"{text(name, size=_placeholder_px(font_px))}[{name}]")
            names.append(name)
            positions.append(f"{rect.x}_{rect.y}")
        chains.append("".join(f"[{n}]" for n in names) + f"xstack=inputs={len(names)}:"
                      f"layout={'|'.join(positions)}[page{page.z}]")
        out_pages.append(f"page{page.z}")
    if len(out_pages) == 1:
        chains.append(f"[{out_pages[0]}]null[grid]")
    else:
        chains.append("".join(f"[{p}]" for p in out_pages)
                      + f"concat=n={len(out_pages)}:v=1:a=0[grid]")
    return ";".join(chains)


def _placeholder_px(font_px: int) -> int:
    return max(10, font_px * 4 // 5)


def label_texts(layout: GridLayout, tiles: Sequence[Tile]) -> dict[str, str]:
    """Every text the grid burns in, by the key filter_graph uses."""
    font_px = grid_font_px(layout.band_h)
    texts: dict[str, str] = {}
    for page in layout.pages:
        for index, label in enumerate(page.labels):
            # bands hold one line; a row's label (as tall as a tile) may wrap
            texts[f"p{page.z}l{index}"] = label.text if label.rect.h <= layout.band_h else \
                _wrap(label.text, label.rect.w, font_px)
    by_coords = {t.coords: t for t in tiles}
    for page in layout.pages:
        for (x, y) in page.tiles:
            tile = by_coords.get((x, y, page.z))
            if tile is None or tile.video is None:
                words = tile.placeholder if tile is not None else "no run"
                texts[f"t{x}_{y}_{page.z}"] = _wrap(words, layout.tile_w,
                                                    _placeholder_px(font_px))
    return texts


def render_grid(axes: Sequence[Axis], tiles: Sequence[Tile], out: str | Path, *,
                max_tile_w: int = 480, timeout: float = 900) -> Path:
    """Write the grid MP4 to `out` (atomically) and return it; MediaError if ffmpeg fails."""
    out = Path(out)
    videos = [t for t in tiles if t.video is not None]
    infos = {t.coords: media.probe_video(t.video) for t in videos}
    if infos:
        first = infos[videos[0].coords]
        tile_w, tile_h = tile_size(first.width, first.height, max_tile_w)
        fps = first.fps if first.fps > 0 else 24.0
        duration = max(i.duration for i in infos.values()) or EMPTY_SECONDS
    else:
        (tile_w, tile_h), fps, duration = tile_size(640, 360, max_tile_w), 24.0, EMPTY_SECONDS
    layout = grid_layout(axes, tile_w, tile_h)
    inputs = {t.coords: i for i, t in enumerate(videos)}
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.stem + ".part" + out.suffix)
    with tempfile.TemporaryDirectory(prefix="cosmos-grid-", dir=_work_root()) as work:
        files = {}
        for key, words in label_texts(layout, tiles).items():
            path = Path(work) / f"{key}.txt"
            path.write_text(words, encoding="utf-8")
            files[key] = path
        graph = filter_graph(layout, tiles, inputs, files, fps=fps, duration=duration,
                             font=media._font_option())
        argv = ["-loglevel", "error", "-y"]
        for tile in videos:
            argv += ["-i", str(tile.video)]
        argv += ["-filter_complex", graph, "-map", "[grid]", "-an", "-c:v", "libx264",
                 "-preset", "veryfast", "-crf", "23", "-pix_fmt", "yuv420p",
                 "-movflags", "+faststart", "-f", "mp4", str(tmp)]
        log.info("rendering a %dx%d grid of %d page(s), %d video(s) into %s", layout.width,
                 layout.height, len(layout.pages), len(videos), out)
        proc = media._ffmpeg(*argv, timeout=timeout)
    if proc.returncode != 0 or not tmp.exists():
        tmp.unlink(missing_ok=True)
        raise media.MediaError("could not render the sweep grid: "
                               + proc.stderr.decode("utf-8", "replace")[-400:])
    tmp.replace(out)
    return out
