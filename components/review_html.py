"""The review room's markup: the player, the note composer, the notes list, the version bar.

Pure functions of plain data (no Gradio, no store), so they are unit tested on their own. The
browser side that brings them to life is components/js/review.js; the class names and data-*
attributes below are its contract.
"""

from __future__ import annotations

import json
from typing import Any, Mapping, Sequence

from backend import accounts
from backend.review.drawing import COLOURS
from components.common import e, file_url, fmt_ago, fmt_time

STATUS_LABELS = {"in_review": "In review", "needs_changes": "Needs changes",
                 "approved": "Approved"}
TOOL_LABELS = (("freehand", "Freehand"), ("arrow", "Arrow"), ("rect", "Rectangle"),
               ("ellipse", "Ellipse"))


def status_chip(status: str | None) -> str:
    if not status:
        return ""
    return (f"<span class='rv-status rv-status-{e(status)}' data-review-status='{e(status)}'>"
            f"{e(STATUS_LABELS.get(status, status))}</span>")


def _bar(key: str) -> str:
    buttons = [("first", "|◀", "first frame (Home)"), ("back10", "-10", "10 frames back"),
               ("prev", "◀1", "one frame back (←)"), ("play", "Play", "play / pause (space)"),
               ("next", "1▶", "one frame on (→)"), ("fwd10", "+10", "10 frames on"),
               ("last", "▶|", "last frame (End)"), ("j", "J", "shuttle backwards"),
               ("k", "K", "stop"), ("l", "L", "shuttle forwards (again: faster)")]
    html = "".join(f"<button type='button' class='rp-btn rp-{act}' data-act='{act}' "
                   f"title='{e(tip)}'>{e(label)}</button>" for act, label, tip in buttons)
    return (f"<div class='rp-bar'>{html}<span class='rp-frame' aria-live='polite'>frame 0"
            "</span><span class='rp-speed'></span></div>")


def player_html(run: Any, *, key: str = "run", autoplay: bool = False,
                layers: Mapping[str, str] | None = None, role: str = "",
                followers: Sequence[tuple[str, str]] = ()) -> str:
    """A frame-accurate player for a run's video: the video, a canvas for drawings, a
    timeline for note marks, stepping buttons and J/K/L. `layers` are control videos that may
    be laid over the output (Compare); `followers` (label, path) play in step beside it."""
    info = getattr(run, "output_info", None) or {}
    path = getattr(run, "output_path", None)
    if not path:
        return (f"<div class='rp rp-empty' data-key='{e(key)}' data-run-id='{e(run.id)}'>"
                f"<div class='muted'>No video yet ({e(run.status)}): notes go on a version's "
                "video once it has one.</div></div>")
    width, height = int(info.get("width") or 16), int(info.get("height") or 9)
    video_class = "rp-video" + (" cmp-video" if role else "")
    attrs = " autoplay loop" if autoplay else ""
    layer_html = ""
    if layers:
        hint, layer_path = next(iter(layers.items()))
        layer_html = (f"<video class='rp-layer rp-follow' data-control='{e(hint)}' "
                      f"src='{e(file_url(layer_path))}' muted playsinline preload='auto'>"
                      "</video>")
    stage = (f"<div class='rp-stage' style='aspect-ratio: {width} / {height}'>"
             f"<div class='rp-main' data-run='{e(run.id)}'><video class='{video_class}' "
             f"data-role='{e(role)}' src='{e(file_url(path))}' muted playsinline "
             f"preload='auto'{attrs}></video></div>{layer_html}"
             "<canvas class='rp-draw'></canvas></div>")
    timeline = ("<div class='rp-timeline' title='click to seek; marks are notes'>"
                "<div class='rp-marks'></div><div class='rp-head'></div></div>")
    layer_bar = ""
    if layers:
        hint = next(iter(layers))
        layer_bar = (f"<label class='rp-layer-toggle'><input type='checkbox' data-act='layer' "
                     f"class='rp-layer-box'> {e(hint)} control over the output</label>"
                     "<label class='rp-layer-toggle'>opacity <input type='range' "
                     "class='rp-layer-opacity' min='0' max='100' value='60'></label>")
    follow_html = "".join(
        f"<div class='cmp-label muted'>{e(label)}</div><video class='rp-follow cmp-video "
        f"rp-input' data-role='in-{e(key)}' src='{e(file_url(p))}' muted playsinline "
        "preload='auto'></video>" for label, p in followers)
    return (f"<div class='rp' tabindex='0' data-key='{e(key)}' data-run-id='{e(run.id)}' "
            f"data-fps='{float(info.get('fps') or 24):g}' data-frames='{int(info.get('frames') or 0)}' "
            f"data-width='{width}' data-height='{height}'>{stage}{timeline}{_bar(key)}"
            f"{layer_bar}{follow_html}</div>")


def composer_html(key: str = "run", *, enabled: bool = True, saved: int = 0,
                  errors: Mapping[str, str] | None = None) -> str:
    """The note composer: drawing tools and colours (over the player), in/out for a range,
    the note's text and Add note. `errors` go under the field they are about."""
    errors = dict(errors or {})

    def err(field: str) -> str:
        text = errors.pop(field, "")
        return (f"<div class='field-error-text rv-error' data-field='{field}' role='alert'>"
                f"{e(text)}</div>" if text else "")

    if not enabled:
        return (f"<div class='rv-composer' data-key='{e(key)}' data-saved='{saved}'>"
                "<div class='muted'>Pick a run with a video to write notes on its frames."
                "</div></div>")
    tools = "".join(f"<button type='button' class='rv-tool' data-tool='{t}'>{label}</button>"
                    for t, label in TOOL_LABELS)
    colours = "".join(f"<button type='button' class='rv-colour{' on' if i == 0 else ''}' "
                      f"data-color='{hexa}' title='{name}' aria-label='{name}' "
                      f"style='background:{hexa}'></button>"
                      for i, (name, hexa) in enumerate(COLOURS.items()))
    rest = "".join(f"<div class='field-error-text rv-error' role='alert'>{e(v)}</div>"
                   for v in errors.values())
    return (f"<div class='rv-composer' data-key='{e(key)}' data-saved='{saved}'>"
            f"<div class='rv-tools'>Draw: {tools}<span class='rv-colours'>{colours}</span>"
            "<button type='button' class='rv-do' data-do='undo'>Undo</button>"
            "<button type='button' class='rv-do' data-do='clear'>Clear</button>"
            "<span class='rv-shape-count muted'>nothing drawn</span></div>"
            "<div class='rv-tools'>Note is <b class='rv-range'>on the frame shown</b> "
            "<button type='button' class='rv-do' data-do='in' title='set the first frame (I)'>"
            "In</button><button type='button' class='rv-do' data-do='out' "
            "title='set the last frame (O)'>Out</button></div>"
            f"{err('frame')}{err('end_frame')}{err('drawing')}"
            "<textarea class='rv-text' rows='2' maxlength='4000' placeholder='What should "
            "change on this frame?' aria-label='note text'></textarea>"
            f"{err('text')}{rest}<button type='button' class='rv-do rv-add lg primary' "
            "data-do='add'>Add note</button></div>")


def who_wrote(author: str, viewer: accounts.Identity) -> str:
    """Everyone in a review sees who wrote a note (unlike ratings, notes are a conversation)."""
    if viewer.username and author == viewer.username:
        return f"{author} (you)"
    return author


def _note_item(n: dict, viewer: accounts.Identity, *, can_regenerate: bool,
               may_write: bool, now: float | None) -> str:
    where = n.get("where") or f"frame {n['frame']}"
    state = "resolved" if n["resolved"] else "open"
    shapes = len(n.get("drawing") or [])
    drawn = f" · <span class='rv-drawn'>{shapes} shape{'s' if shapes != 1 else ''}</span>" \
        if shapes else ""
    replies = "".join(
        f"<div class='rv-reply-item'><b>{e(who_wrote(r['author'], viewer))}</b> "
        f"<span class='muted'>{e(fmt_ago(r['created_at'], now))}</span>"
        f"<div class='rv-text-body'>{e(r['text'])}</div></div>" for r in n.get("replies", []))
    actions = []
    if may_write:
        actions.append(f"<button type='button' data-action='reply-open' data-note='{n['id']}'>"
                       "Reply</button>")
        actions.append(f"<button type='button' data-action='{'reopen' if n['resolved'] else 'resolve'}' "
                       f"data-note='{n['id']}'>{'Reopen' if n['resolved'] else 'Resolve'}</button>")
    if can_regenerate and shapes:
        actions.append(f"<button type='button' class='rv-regen' data-action='regenerate' "
                       f"data-note='{n['id']}' title='its drawn region becomes a mask; open "
                       "the next version as a draft in Create'>Re-generate here</button>")
    actions.append(f"<button type='button' data-action='copy-link' data-note='{n['id']}' "
                   f"data-run='{e(n['run_id'])}'>Copy link</button>")
    reply_box = (f"<div class='rv-reply' data-note='{n['id']}' hidden><textarea rows='2' "
                 "maxlength='4000' aria-label='reply'></textarea><button type='button' "
                 f"data-action='reply' data-note='{n['id']}'>Send reply</button></div>"
                 if may_write else "")
    return (f"<li class='rv-note rv-{state}' data-note='{n['id']}' data-frame='{n['frame']}' "
            f"data-seek-note='{n['id']}'><div class='rv-note-head'><b class='rv-where'>"
            f"{e(where)}</b> · <b>{e(who_wrote(n['author'], viewer))}</b> "
            f"<span class='muted' title='{e(fmt_time(n['created_at']))}'>"
            f"{e(fmt_ago(n['created_at'], now))}</span> · <span class='rv-state'>{state}"
            f"</span>{drawn}</div><div class='rv-text-body'>{e(n['text'])}</div>{replies}"
            f"<div class='rv-actions'>{''.join(actions)}</div>{reply_box}</li>")


def notes_html(run_id: str | None, notes: Sequence[dict], viewer: accounts.Identity, *,
               can_regenerate: bool = False, may_write: bool = True, title: str = "Notes",
               now: float | None = None) -> str:
    """A version's notes by frame; click one to land on its frame. Also carries the notes as
    data for the player's timeline marks and drawings."""
    if not run_id:
        return "<div class='muted rv-notes-empty'>No run selected.</div>"
    data = json.dumps([{k: n.get(k) for k in ("id", "frame", "end_frame", "text", "drawing",
                                              "resolved")} for n in notes],
                      separators=(",", ":"))
    head = (f"<div class='rv-notes-data' hidden data-run='{e(run_id)}' "
            f"data-notes='{e(data)}'></div><div class='rv-notes-title'><b>{e(title)}</b> "
            f"<span class='muted'>({len(notes)})</span></div>")
    if not notes:
        return head + ("<div class='muted rv-notes-empty' id='notes-empty'>No notes yet: "
                       "step to a frame, draw on it if you like, and add a note.</div>")
    items = "".join(_note_item(n, viewer, can_regenerate=can_regenerate, may_write=may_write,
                               now=now) for n in notes)
    return head + f"<ul class='rv-notes-list'>{items}</ul>"


def versions_html(stack: dict | None, *, run_id: str | None) -> str:
    """The shot's version stack as chips (v1, v2, ...), the shown one marked, latest one click
    away, each with its review status."""
    if not stack:
        return ("<div class='rv-versions muted'>Not a version of a shot.</div>" if run_id
                else "<div class='rv-versions muted'></div>")
    shot = stack["shot"]
    name = shot["name"] or "shot of the same input"
    chips = []
    for v in stack["versions"]:
        classes = ["rv-chip"] + (["current"] if v["run_id"] == run_id else []) + \
            (["latest"] if v["is_latest"] else [])
        chips.append(f"<button type='button' class='{' '.join(classes)}' "
                     f"data-version-run='{e(v['run_id'])}' data-number='{v['number']}' "
                     f"title='{e(v['status'])}, {e(STATUS_LABELS.get(v['review_status'], ''))}'>"
                     f"{e(v['label'])} <span class='rv-dot rv-dot-{e(v['review_status'])}'>"
                     "</span></button>")
    current = next((v for v in stack["versions"] if v["run_id"] == run_id), None)
    latest = ""
    if shot.get("latest_run_id") and shot["latest_run_id"] != run_id:
        latest = (f"<button type='button' class='rv-latest' data-version-run="
                  f"'{e(shot['latest_run_id'])}'>Go to latest (v{shot['latest_number']})"
                  "</button>")
    status = ""
    if current:
        who = (f" · set by <b>{e(current['status_by'])}</b> {e(fmt_time(current['status_at']))}"
               if current.get("status_by") else "")
        note = (f" · asked for by note #{current['source_note']}"
                if current.get("source_note") else "")
        status = (f"<div class='rv-current'><b id='version-label'>{e(current['label'])}</b> "
                  f"{status_chip(current['review_status'])}{who}{note}</div>")
    return (f"<div class='rv-versions' data-shot='{e(shot['id'])}'><span class='rv-shot'>"
            f"Shot: <b>{e(name)}</b></span> {''.join(chips)} {latest}{status}</div>")
