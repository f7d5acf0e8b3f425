"""One frame of a pass as the 8-bit RGB a model's video holds, and the maths between.

Why OpenEXR (the Academy Software Foundation's own `OpenEXR` wheel) for EXR: it is the
reference implementation of the format, kept by the people who keep the format, with
manylinux wheels for CPython 3.10-3.13 and only numpy as a dependency; it reads every
compression and half/float channels straight into numpy arrays. (imageio's EXR needs the
FreeImage binary, which is no longer shipped; OpenImageIO's wheels are ~60 MB for what one
format needs here.) PNG and JPEG go through Pillow, which the app already has.

What each pass becomes (README "Image sequences" says the same):

- **beauty** (the input video) and colour passes: PNG/JPEG are taken as the sRGB pictures
  they are. EXR is scene-linear: multiplied by 2**exposure, tone-mapped (`reinhard`:
  c / (1 + c) per channel, which brings any value above 1.0 into range and leaves darks
  almost as they were; or `clamp`: min(c, 1), values 0-1 exactly as they are), then encoded
  with the sRGB transfer curve.
- **depth**: the models' depth control is what Depth-Anything draws (Cosmos-Transfer1's and
  Transfer2.5's own preprocessors): relative inverse depth, **near bright, far dark**. An EXR
  depth pass holds distance (the Z convention: bigger is farther), so it becomes 1 / Z,
  normalised to 0-1 over the whole sequence (not per frame, which would flicker); Z <= 0,
  infinite or NaN (no surface: sky, background) is far, black. A PNG/JPEG depth pass is
  taken as already drawn that way and used as it is (grey).
- **seg** / **mask** and **edge**: labels and lines, not light: no tone map and no sRGB
  curve; EXR values are clamped to 0-1.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from backend.config.prepare import TONEMAPS  # noqa: F401  (one list; the config reads it too)
from backend.prepare.sequence import PrepareError

#: Channel names a single-channel EXR pass may use, in the order they are looked for.
DEPTH_CHANNELS = ("Z", "depth", "Depth", "distance", "R", "Y", "V")


def srgb_encode(linear: np.ndarray) -> np.ndarray:
    """Linear 0-1 -> sRGB-encoded 0-1 (IEC 61966-2-1)."""
    x = np.clip(linear, 0.0, 1.0)
    return np.where(x <= 0.0031308, 12.92 * x, 1.055 * np.power(x, 1 / 2.4) - 0.055)


def tonemap(linear: np.ndarray, method: str, exposure: float = 0.0) -> np.ndarray:
    """Scene-linear (any range, NaN and negatives included) -> 0-1 display-linear."""
    x = np.nan_to_num(linear.astype(np.float64), nan=0.0, posinf=65504.0, neginf=0.0)
    x = np.maximum(x, 0.0) * (2.0 ** exposure)
    if method == "reinhard":
        return x / (1.0 + x)
    if method == "clamp":
        return np.minimum(x, 1.0)
    raise ValueError(f"unknown tone map {method!r}; allowed: {', '.join(TONEMAPS)}")


def to_bytes(unit: np.ndarray) -> np.ndarray:
    """0-1 floats -> uint8, rounded."""
    return np.round(np.clip(unit, 0.0, 1.0) * 255.0).astype(np.uint8)


def as_rgb(pixels: np.ndarray) -> np.ndarray:
    """H x W, H x W x 1, x 2 (grey + alpha), x 3 or x 4 -> H x W x 3 (alpha dropped)."""
    if pixels.ndim == 2:
        return np.repeat(pixels[:, :, None], 3, axis=2)
    if pixels.shape[2] in (1, 2):
        return np.repeat(pixels[:, :, :1], 3, axis=2)
    return pixels[:, :, :3]


# -- reading ----------------------------------------------------------------------------------
def read_exr(path: Path, *, want: str) -> np.ndarray:
    """An EXR's pixels as float32: H x W x 3 for `want` == "rgb", H x W for "single"."""
    import OpenEXR

    try:
        with OpenEXR.File(str(path)) as exr:
            channels = {name: ch.pixels for name, ch in exr.channels().items()}
    except Exception as exc:  # the library raises RuntimeError for anything it cannot read
        raise PrepareError("path", f"{path.name} is not an EXR OpenEXR can read ({exc}); "
                           "every frame must be an image (png, jpg or exr)") from None
    if want == "rgb":
        for name in ("RGB", "RGBA"):
            if name in channels:
                return np.asarray(channels[name], dtype=np.float32)[:, :, :3]
        single = [n for n in channels if np.asarray(channels[n]).ndim == 2]
        if len(channels) == 1 and single:
            return as_rgb(np.asarray(channels[single[0]], dtype=np.float32))
        raise PrepareError("path", f"{path.name} has channels {', '.join(sorted(channels))};"
                           " a colour pass needs R, G and B (an RGB or RGBA layer)")
    for name in DEPTH_CHANNELS:
        if name in channels and np.asarray(channels[name]).ndim == 2:
            return np.asarray(channels[name], dtype=np.float32)
    if len(channels) == 1:
        only = np.asarray(next(iter(channels.values())), dtype=np.float32)
        return only if only.ndim == 2 else only[:, :, 0]
    for name in ("RGB", "RGBA"):
        if name in channels:
            return np.asarray(channels[name], dtype=np.float32)[:, :, 0]
    raise PrepareError("path", f"{path.name} has channels {', '.join(sorted(channels))}; a "
                       "depth pass needs one channel (" + ", ".join(DEPTH_CHANNELS) + ")")


def read_picture(path: Path) -> np.ndarray:
    """A PNG or JPEG as uint8 H x W x 3 (16-bit images scaled to 8 bits)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            image.load()
            if image.mode in ("I;16", "I;16B", "I;16L", "I"):
                data = np.asarray(image, dtype=np.float64)
                scale = 65535.0 if data.max(initial=0) > 255 or image.mode != "I" else 255.0
                return as_rgb(to_bytes(data / scale))
            if image.mode == "F":
                return as_rgb(to_bytes(np.asarray(image, dtype=np.float64)))
            return np.asarray(image.convert("RGB"), dtype=np.uint8)
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise PrepareError("path", f"{path.name} is not an image Pillow can read ({exc}); "
                           "every frame must be an image (png, jpg or exr)") from None


# -- one frame of each kind of pass -------------------------------------------------------------
def colour_frame(path: Path, *, method: str, exposure: float) -> np.ndarray:
    if path.suffix.lower() != ".exr":
        return read_picture(path)
    return to_bytes(srgb_encode(tonemap(read_exr(path, want="rgb"), method, exposure)))


def label_frame(path: Path) -> np.ndarray:
    """seg / mask / edge: values as they are (EXR clamped to 0-1), no curve."""
    if path.suffix.lower() != ".exr":
        return read_picture(path)
    pixels = np.nan_to_num(read_exr(path, want="rgb"), nan=0.0)
    return to_bytes(pixels)


def inverse_depth(z: np.ndarray) -> np.ndarray:
    """1 / Z where there is a surface (0 < Z < inf), else 0 (far)."""
    valid = np.isfinite(z) & (z > 0)
    out = np.zeros(z.shape, dtype=np.float64)
    out[valid] = 1.0 / z[valid].astype(np.float64)
    return out


def depth_range(paths: list[Path]) -> tuple[float, float]:
    """The lowest and highest inverse depth over the whole sequence (surfaces only)."""
    lo, hi = np.inf, -np.inf
    for path in paths:
        d = inverse_depth(read_exr(path, want="single"))
        surface = d[d > 0]
        if surface.size:
            lo, hi = min(lo, float(surface.min())), max(hi, float(surface.max()))
    if not np.isfinite(lo):
        raise PrepareError("path", f"{paths[0].parent.name}/{paths[0].name}...: the depth pass "
                           "has no surface in any frame (every Z is 0, negative, infinite or "
                           "NaN); check it is a depth (Z) pass")
    return lo, hi


def depth_frame(path: Path, span: tuple[float, float] | None) -> np.ndarray:
    """EXR Z -> near bright, far dark over the sequence's `span`; PNG/JPEG as drawn."""
    if path.suffix.lower() != ".exr":
        return as_rgb(read_picture(path)[:, :, 0])
    assert span is not None
    lo, hi = span
    d = inverse_depth(read_exr(path, want="single"))
    unit = np.where(d > 0, (d - lo) / (hi - lo) if hi > lo else 1.0, 0.0)
    return as_rgb(to_bytes(unit))
