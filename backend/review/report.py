"""The notes report: one self-contained HTML file of a version (or a shot's versions) for a
dailies meeting: each note with its frame as an image, its drawing burnt in, author, time and
status.

Why Jinja2 with autoescaping: notes are free text from many people; the template escapes
every value, so a note cannot inject markup into the report. Frames are embedded as base64
JPEG, so the file opens anywhere, offline, and can be mailed as one attachment.
"""

from __future__ import annotations

import base64
import io
import time
from pathlib import Path
from typing import Any, Sequence

from jinja2 import Environment, FileSystemLoader, select_autoescape

from backend.media import MediaError
from backend.review.drawing import burn_in, parse_drawing
from backend.review.frames import frame_image

TEMPLATES = Path(__file__).with_name("templates")
_env = Environment(loader=FileSystemLoader(str(TEMPLATES)),
                   autoescape=select_autoescape(["html", "j2"]), trim_blocks=True,
                   lstrip_blocks=True)


def _when(ts: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(ts)) if ts else "-"


def note_image(video: str | None, note: dict[str, Any], *, max_width: int = 960) -> str:
    """The note's frame with its drawing burnt in, as base64 JPEG."""
    if not video:
        raise MediaError("the version has no video")
    image = burn_in(frame_image(video, int(note["frame"]), max_width=max_width),
                    parse_drawing(note.get("drawing") or []))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=85)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _note_view(note: dict[str, Any], video: str | None) -> dict[str, Any]:
    view = {"id": note["id"], "frame": note["frame"], "where": note.get("where", ""),
            "author": note["author"], "when": _when(note["created_at"]),
            "text": note["text"], "resolved": note["resolved"],
            "shapes": len(note.get("drawing") or []),
            "replies": [{"author": r["author"], "when": _when(r["created_at"]),
                         "text": r["text"]} for r in note.get("replies", [])],
            "image": None, "image_error": ""}
    try:
        view["image"] = note_image(video, note)
    except (MediaError, OSError) as exc:
        view["image_error"] = str(exc)
    return view


def render_report(*, title: str, versions: Sequence[dict[str, Any]], made_by: str) -> str:
    """The report's HTML. Each version dict has the version facts, `video` (its path) and
    `notes` (operations' note dicts with replies)."""
    views = []
    for v in versions:
        views.append(dict(v, video=Path(v["video"]).name if v.get("video") else "none",
                          notes=[_note_view(n, v.get("video")) for n in v.get("notes", [])]))
    total = sum(len(v["notes"]) for v in views)
    return _env.get_template("report.html.j2").render(
        title=title, versions=views, made_by=made_by, made_at=_when(time.time()),
        total_notes=total)
