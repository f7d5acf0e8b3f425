"""Drawings on a frame: freehand, arrow, rectangle and ellipse shapes in a few colours.

Stored with the note as JSON in normalised coordinates (0-1 of the frame's width and height,
as Frame.io does), so a drawing scales with any player size, burns into a report image of any
size, and becomes a mask video at the run's own resolution. The browser draws them the same
way (components/js/review.js): a shape is

    {"tool": "rect", "color": "#ff3b30", "width": 0.006, "points": [[x0, y0], [x1, y1]]}

`width` is the stroke width as a fraction of the frame's width. rect, ellipse and arrow have
two points (corners, or tail then head); freehand has 2 or more.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Sequence

if TYPE_CHECKING:  # Pillow loads where a drawing is painted, not for every CLI start
    from PIL import Image

TOOLS = ("freehand", "arrow", "rect", "ellipse")
#: The colours a person can pick (name -> hex), in the order the toolbar shows them.
COLOURS = {"red": "#ff3b30", "yellow": "#ffcc00", "green": "#34c759", "blue": "#0a84ff",
           "white": "#ffffff"}
#: Shapes that enclose a region (what "re-generate here" masks); an arrow only points.
REGION_TOOLS = ("freehand", "rect", "ellipse")
MAX_SHAPES = 50
MAX_POINTS = 2000
WIDTH_MIN, WIDTH_MAX = 0.001, 0.05
DEFAULT_WIDTH = 0.006


class DrawingError(ValueError):
    """The drawing cannot be stored; the message says what is wrong and what is allowed."""


@dataclass(frozen=True)
class Shape:
    tool: str
    color: str
    width: float
    points: tuple[tuple[float, float], ...]

    def to_dict(self) -> dict[str, Any]:
        return {"tool": self.tool, "color": self.color, "width": self.width,
                "points": [list(p) for p in self.points]}


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _shape(index: int, raw: Any) -> Shape:
    where = f"shape {index + 1}"
    if not isinstance(raw, dict):
        raise DrawingError(f"{where} is not an object; each shape has tool, color, width and "
                           "points.")
    tool = raw.get("tool")
    if tool not in TOOLS:
        raise DrawingError(f"{where}: tool {tool!r} is not one of {', '.join(TOOLS)}.")
    color = str(raw.get("color", "")).lower()
    if color not in COLOURS.values():
        raise DrawingError(f"{where}: colour {raw.get('color')!r} is not one of "
                           + ", ".join(f"{n} ({h})" for n, h in COLOURS.items()) + ".")
    width = _number(raw.get("width", DEFAULT_WIDTH))
    if width is None or not WIDTH_MIN <= width <= WIDTH_MAX:
        raise DrawingError(f"{where}: stroke width {raw.get('width')!r} must be a number from "
                           f"{WIDTH_MIN} to {WIDTH_MAX} (a fraction of the frame's width).")
    points_raw = raw.get("points")
    if not isinstance(points_raw, list):
        raise DrawingError(f"{where}: points must be a list of [x, y] pairs.")
    points = []
    for p in points_raw:
        pair = [_number(v) for v in p] if isinstance(p, (list, tuple)) and len(p) == 2 \
            else [None]
        if None in pair:
            raise DrawingError(f"{where}: every point is an [x, y] pair of numbers.")
        x, y = pair
        if not (0.0 <= x <= 1.0 and 0.0 <= y <= 1.0):
            raise DrawingError(f"{where}: point ({x:g}, {y:g}) is outside the frame; "
                               "coordinates are fractions of the frame from 0 to 1.")
        points.append((round(x, 5), round(y, 5)))
    if tool == "freehand":
        if not 2 <= len(points) <= MAX_POINTS:
            raise DrawingError(f"{where}: a freehand line has 2 to {MAX_POINTS} points, not "
                               f"{len(points)}.")
    elif len(points) != 2:
        raise DrawingError(f"{where}: a {tool} has exactly 2 points (start and end), not "
                           f"{len(points)}.")
    return Shape(tool, color, round(width, 5), tuple(points))


def parse_drawing(value: str | Sequence[Any] | None) -> list[Shape]:
    """The shapes of a drawing given as JSON text or a list (empty: no drawing)."""
    if value is None or value == "" or value == []:
        return []
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise DrawingError("The drawing is not valid JSON; it is a list of shapes.") \
                from None
    if not isinstance(value, list):
        raise DrawingError("A drawing is a list of shapes.")
    if len(value) > MAX_SHAPES:
        raise DrawingError(f"A drawing has at most {MAX_SHAPES} shapes, not {len(value)}.")
    return [_shape(i, raw) for i, raw in enumerate(value)]


def drawing_json(shapes: Sequence[Shape]) -> str:
    """The text stored with the note ('' for no drawing)."""
    return json.dumps([s.to_dict() for s in shapes], separators=(",", ":")) if shapes else ""


def regions(shapes: Sequence[Shape]) -> list[Shape]:
    """The shapes that enclose an area (freehand outlines need 3 points to enclose one)."""
    return [s for s in shapes if s.tool in ("rect", "ellipse")
            or (s.tool == "freehand" and len(s.points) >= 3)]


def _px(point: tuple[float, float], size: tuple[int, int]) -> tuple[float, float]:
    return point[0] * size[0], point[1] * size[1]


def _box(shape: Shape, size: tuple[int, int]) -> list[float]:
    """The shape's bounding box in pixels, both corners inclusive (PIL's rule); a corner on the
    far edge (a coordinate of 1.0) is the last pixel, not one past it."""
    (x0, y0), (x1, y1) = (_px(p, size) for p in shape.points)
    right, bottom = size[0] - 1, size[1] - 1
    return [min(right, min(x0, x1)), min(bottom, min(y0, y1)),
            min(right, max(x0, x1)), min(bottom, max(y0, y1))]


def fill_regions(shapes: Sequence[Shape], size: tuple[int, int]) -> Image.Image:
    """A white-on-black 8-bit image of the enclosed regions at `size` (the mask's pixels)."""
    from PIL import Image, ImageDraw

    image = Image.new("L", size, 0)
    draw = ImageDraw.Draw(image)
    for shape in regions(shapes):
        if shape.tool == "rect":
            draw.rectangle(_box(shape, size), fill=255)
        elif shape.tool == "ellipse":
            draw.ellipse(_box(shape, size), fill=255)
        else:
            draw.polygon([_px(p, size) for p in shape.points], fill=255)
    return image


def _arrow_head(tail: tuple[float, float], head: tuple[float, float], length: float
                ) -> list[tuple[float, float]]:
    angle = math.atan2(head[1] - tail[1], head[0] - tail[0])
    return [head, (head[0] - length * math.cos(angle - 0.45),
                   head[1] - length * math.sin(angle - 0.45)),
            (head[0] - length * math.cos(angle + 0.45),
             head[1] - length * math.sin(angle + 0.45))]


def burn_in(image: Image.Image, shapes: Sequence[Shape]) -> Image.Image:
    """The frame with its drawing drawn on it, as the player draws it over the video."""
    from PIL import ImageDraw

    out = image.convert("RGB")
    draw = ImageDraw.Draw(out)
    size = out.size
    for shape in shapes:
        stroke = max(1, round(shape.width * size[0]))
        if shape.tool == "rect":
            draw.rectangle(_box(shape, size), outline=shape.color, width=stroke)
        elif shape.tool == "ellipse":
            draw.ellipse(_box(shape, size), outline=shape.color, width=stroke)
        elif shape.tool == "freehand":
            draw.line([_px(p, size) for p in shape.points], fill=shape.color, width=stroke,
                      joint="curve")
        else:
            tail, head = (_px(p, size) for p in shape.points)
            draw.line([tail, head], fill=shape.color, width=stroke)
            draw.polygon(_arrow_head(tail, head, max(8.0, stroke * 4.0)), fill=shape.color)
    return out
