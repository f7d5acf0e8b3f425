"""Image sequences -> a run's input and control videos, for the CLI (`cosmos prepare`) and
Create ("From an image sequence"): the person's values validated, the source checked against
the input roots, then backend/prepare does the work.

The web app takes a folder on the server only under its input roots (as for any input) or a
zip upload, which is unpacked into the uploads folder; the videos it makes land there too, so
they are inputs the form may use.
"""

from __future__ import annotations

import math
import re
import shutil
from pathlib import Path
from typing import Any

from backend.ids import new_id
from backend.config.prepare import TONEMAPS
from backend.models.checks import FieldError
from backend.operations.errors import ValidationFailed
from backend.prepare.sequence import PrepareError
from backend.prepare.unzip import extract_images

_FRACTION = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")
FPS_RANGE = (1.0, 240.0)


def parse_fps(value: Any) -> str:
    """A frame rate as ffmpeg takes it ("24", "23.976", "24000/1001"), or ValidationFailed."""
    allowed = (f"a frame rate from {FPS_RANGE[0]:g} to {FPS_RANGE[1]:g}: a number such as 24 "
               "or 23.976, or a fraction such as 24000/1001")
    text = str(value).strip() if value is not None else ""
    match = _FRACTION.match(text)
    try:
        rate = (int(match[1]) / int(match[2])) if match and int(match[2]) else float(text)
    except ValueError:
        rate = math.nan
    if not (math.isfinite(rate) and FPS_RANGE[0] <= rate <= FPS_RANGE[1]):
        raise ValidationFailed([FieldError("fps", f"fps {text or '(empty)'!r} is not valid; "
                                           f"allowed: {allowed}")])
    return f"{match[1]}/{match[2]}" if match else f"{rate:g}"


def _frame_number(field: str, value: Any) -> int | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    try:
        number = int(str(value).strip())
    except ValueError:
        number = -1
    if number < 0:
        raise ValidationFailed([FieldError(field, f"{field} {value!r} is not valid; allowed: "
                                           "a frame number (a whole number, 0 or more) of the "
                                           "sequence")])
    return number


class PrepareOps:
    """A mixin of Operations (settings, input_roots)."""

    def prepare_sequence(self, source: str | Path, *, fps: Any, output: str | Path | None = None,
                         start: Any = None, end: Any = None, tonemap: str | None = None,
                         exposure: float | None = None) -> dict[str, Any]:
        """Turn a folder (or a .zip) of frames into the input video and one control video per
        pass found; returns {"input": {...}, "controls": {control: {...}}, "notes": [...]}.
        `output` None: a new file in the uploads folder."""
        rate = parse_fps(fps)
        first, last = _frame_number("start", start), _frame_number("end", end)
        if first is not None and last is not None and first > last:
            raise ValidationFailed([FieldError("end", f"end {last} is before start {first}; "
                                               "allowed: an end at or after the start")])
        cfg = self.settings.prepare
        method = tonemap or cfg.tonemap
        if method not in TONEMAPS:
            raise ValidationFailed([FieldError("tonemap", f"tone map {method!r} is not one of "
                                               + ", ".join(TONEMAPS))])
        stops = cfg.exposure if exposure is None else float(exposure)
        if not (math.isfinite(stops) and -20 <= stops <= 20):
            raise ValidationFailed([FieldError("exposure", f"exposure {stops:g} is not valid; "
                                               "allowed: -20 to 20 stops")])
        if output and Path(output).suffix.lower() != ".mp4":
            raise ValidationFailed([FieldError("output", f"{Path(output).name}: the output is "
                                               "an .mp4 file (e.g. -o shot.mp4)")])
        from backend.prepare.bundle import build, plan  # numpy: only when frames are read

        folder, unpacked = self._sequence_folder(Path(str(source)))
        out = Path(output).expanduser().resolve() if output else (
            self.settings.uploads_dir / "prepared" / new_id() / f"{_stem(folder)}.mp4")
        try:
            made = build(plan(folder, cfg.passes, start=first, end=last), out, fps=rate,
                         tonemap=method, exposure=stops)
        except PrepareError as exc:
            raise ValidationFailed([FieldError(exc.field, exc.message)]) from None
        finally:
            if unpacked is not None:  # the frames of a zip are not kept once encoded
                shutil.rmtree(unpacked, ignore_errors=True)
        return {"input": made.input, "controls": made.controls, "notes": made.notes,
                "fps": rate}

    def _sequence_folder(self, source: Path) -> tuple[Path, Path | None]:
        """The folder to read: `source` itself, or a zip unpacked into the uploads (then
        also the folder to remove after)."""
        refusal = self.input_refusal(source)
        if refusal:
            raise ValidationFailed([FieldError("path", refusal)])
        if not source.exists():
            raise ValidationFailed([FieldError("path", f"{source}: no such folder or file; "
                                               "allowed: a folder of frames or a .zip of them")])
        if source.is_file():
            if source.suffix.lower() != ".zip":
                raise ValidationFailed([FieldError("path", f"{source.name} is a single file; "
                                                   "allowed: a folder of numbered frames "
                                                   "(shot.0001.png ...) or a .zip of them")])
            dest = self.settings.uploads_dir / "sequences" / new_id()
            try:
                return extract_images(source, dest,
                                      max_bytes=self.settings.max_upload_mb * 20 * 10**6), dest
            except PrepareError as exc:
                shutil.rmtree(dest, ignore_errors=True)
                raise ValidationFailed([FieldError(exc.field, exc.message)]) from None
        return source.resolve(), None


def _stem(folder: Path) -> str:
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", folder.name).strip("._") or "sequence"
    return name[:60]
