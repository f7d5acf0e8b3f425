"""Compare as a review player: two frame-accurate players (each with its own stepping and J/K/L,
in sync or not), and one view that shows them side by side, as a wipe with a draggable
divider, as an overlay, as their difference with gain, or flickering between them. Beside
each side, the control video that drove it can be laid over its output.

Markup only (pure functions); components/js/review.js brings it to life.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from components.common import badge, e, run_title
from components.review_html import player_html, status_chip

MODES = (("side", "Side by side"), ("wipe", "Wipe"), ("overlay", "Overlay"),
         ("difference", "Difference"), ("flicker", "Flicker"))


def _rating(run: Any) -> str:
    rating = getattr(run, "rating", None)
    if rating is None:
        return ""
    return (f" <span class='cmp-rating' title='average rating'>★ {rating:.1f} "
            f"({getattr(run, 'ratings', 0)})</span>")


def _side(tag: str, run: Any, version: dict | None, layers: Mapping[str, str] | None,
          inputs: Sequence[tuple[str, str]]) -> str:
    label = (f"<div class='cmp-label' title='{e(run.prompt[:300])}'>{tag.upper()}: "
             f"{e(run_title(run, 50))} {badge(run.status)}{_rating(run)}"
             + (f" <b>{e(version['label'])}</b> {status_chip(version['review_status'])}"
                if version else "") + "</div>")
    return (f"<div class='cmp-side' data-side='{tag}'>{label}"
            f"{player_html(run, key=tag, role='out-' + tag, layers=layers, followers=inputs)}"
            "</div>")


def compare_html(a: Any, b: Any, *, inputs: Mapping[str, Sequence[tuple[str, str]]] | None = None,
                 layers: Mapping[str, Mapping[str, str]] | None = None,
                 versions: Mapping[str, dict] | None = None, mode: str = "side") -> str:
    """Both runs in one review player (see the module doc)."""
    inputs = inputs or {}
    layers = layers or {}
    versions = versions or {}
    modes = "".join(f"<button type='button' class='cp-mode{' on' if m == mode else ''}' "
                    f"data-mode='{m}'>{label}</button>" for m, label in MODES)
    controls = ("<span class='cp-param cp-p-wipe'>divider <input type='range' class='cp-wipe' "
                "min='0' max='100' step='0.1' value='50' aria-label='wipe position'></span>"
                "<span class='cp-param cp-p-overlay'>B opacity <input type='range' "
                "class='cp-opacity' min='0' max='100' value='50'></span>"
                "<span class='cp-param cp-p-difference'>gain <input type='range' "
                "class='cp-gain' min='1' max='20' step='1' value='1'></span>"
                "<span class='cp-param cp-p-flicker'>rate <input type='number' "
                "class='cp-rate' min='1' max='30' value='4'> Hz</span>")
    sides = "".join(_side(tag, run, versions.get(run.id), layers.get(tag),
                          inputs.get(tag, ())) for tag, run in (("a", a), ("b", b)))
    return (f"<div class='cp cmp' id='cmp-root' data-a='{e(a.id)}' data-b='{e(b.id)}' "
            f"data-mode='{e(mode)}' data-start-mode='{e(mode)}'>"
            f"<div class='cp-bar'>{modes}<label class='cp-sync-label'><input type='checkbox' "
            f"class='cp-sync' checked> sync A and B</label>{controls}</div>"
            "<div class='cp-view' title='drag the divider (wipe); click to play or pause'>"
            "<canvas class='cp-canvas'></canvas><div class='cp-divider'></div>"
            "<span class='cp-tag cp-tag-a'>A</span><span class='cp-tag cp-tag-b'>B</span></div>"
            f"<div class='cmp-grid'>{sides}</div>"
            "<div class='cmp-bar'><button type='button' class='cmp-play'>Play both</button>"
            "<input type='range' class='cmp-seek' min='0' max='1000' value='0' "
            "aria-label='position in both videos'><span class='cmp-time'>0.00 / 0.00 s</span>"
            "<label><input type='checkbox' class='cmp-loop' checked> loop</label></div></div>")
