"""Small pure helpers every UI piece uses: escaping, file URLs, times, badges, event data.

No Gradio state lives here; everything is a function of its arguments so it can be unit tested.
"""

from __future__ import annotations

import html
import json
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

from backend.models.params import RUN_TYPE_LABELS

e = html.escape

#: Tab ids, shared by the app (tabs), navigation handlers and timers.
TAB_CREATE, TAB_RUNS, TAB_GALLERY, TAB_COMPARE, TAB_HOSTS = (
    "create", "runs", "gallery", "compare", "hosts")
TAB_USAGE = "usage"
TAB_SWEEPS = "sweeps"

#: The words for run types (the same as the CLI's: backend/models/params.py).
RUN_TYPE_LABELS = RUN_TYPE_LABELS


def file_url(path: str | Path | None) -> str:
    """The URL under which Gradio serves a local file (only inside the allowed folders).

    Relative, so it also works behind a proxy or under a share link's prefix.
    """
    if not path:
        return ""
    return "gradio_api/file=" + quote(str(Path(path).resolve()), safe="/")


def fmt_time(ts: float | None) -> str:
    if not ts:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(ts))


def fmt_duration(seconds: float | None) -> str:
    if seconds is None or seconds < 0:
        return "-"
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, sec = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {sec:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def fmt_ago(ts: float | None, now: float | None = None) -> str:
    if not ts:
        return "-"
    delta = (now or time.time()) - ts
    if delta < 60:
        return "just now"
    if delta < 3600:
        return f"{int(delta // 60)} min ago"
    if delta < 86400:
        return f"{int(delta // 3600)} h ago"
    return fmt_time(ts)


def run_title(run: Any, width: int = 60) -> str:
    """What to call a run: its name, else the start of its prompt, else its id."""
    text = (getattr(run, "name", "") or getattr(run, "prompt", "") or "").strip()
    if not text:
        return f"run {getattr(run, 'id', '')[-8:]}"
    return text if len(text) <= width else text[: width - 3].rstrip() + "..."


def run_duration(run: Any, now: float | None = None) -> float | None:
    """How long it ran: from its real start (after any wait in a cluster's queue)."""
    begun = getattr(run, "ran_at", None) or (
        None if getattr(run, "pending_at", None) else getattr(run, "started_at", None))
    if not begun:
        return None
    return (run.finished_at or now or time.time()) - begun


def badge(status: str, extra: str = "") -> str:
    return (f"<span class='badge badge-{e(status)}' data-status='{e(status)}'{extra}>"
            f"{e(status)}</span>")


def type_badge(run_type: str) -> str:
    if run_type == "inference":
        return ""
    return f"<span class='badge badge-type'>{e(RUN_TYPE_LABELS.get(run_type, run_type))}</span>"


def sim_badge(simulated: bool) -> str:
    return "<span class='badge badge-sim' title='made on the built-in simulator'>simulated</span>" \
        if simulated else ""


def rating_text(rating: float | None, count: int = 0) -> str:
    if rating is None:
        return "-"
    return f"{rating:.1f}/5" + (f" ({count})" if count > 1 else "")


def event_data(evt: Any) -> dict[str, Any]:
    """The dict a custom HTML component passed to `trigger(name, data)`."""
    data = getattr(evt, "_data", None)
    if isinstance(data, dict):
        return data
    if isinstance(data, str):
        try:
            parsed = json.loads(data)
        except ValueError:
            return {}
        return parsed if isinstance(parsed, dict) else {}
    return {}


def field_error_html(message: str | None) -> str:
    """The red line under a form field (empty string hides it)."""
    if not message:
        return ""
    return f"<div class='field-error-text' role='alert'>{e(message)}</div>"
