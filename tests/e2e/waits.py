"""Waiting in the browser tests: on what a person would see, with generous named timeouts.

A browser test never sleeps and never waits for a timer tick: it waits until the page shows a
state (an element, a text, an attribute such as `#run-status[data-status]`, a playing video).
That keeps working however the page gets its updates (today timers, later pushed events) and
however slow the machine is. The timeouts are upper bounds in milliseconds (Playwright's unit),
sized for a loaded 2-core CI machine (see tests/helpers.py); a wait returns as soon as its state
is there. The page fixture makes UI_REACTS the default of every Playwright call that waits
(click, fill, inner_text, wait_for, ...), so only longer waits name their timeout.
"""

from __future__ import annotations

import json

from tests import helpers


def ms(seconds: float) -> float:
    return seconds * 1000


#: a click, fill or upload shows its result: one round trip to the server and a re-render
UI_REACTS = ms(60)
#: a fresh page (goto, reload, a second browser) is served and its load events have run
PAGE_READY = ms(90)
#: a video that is already there loads and plays (decoding competes for the CPU)
VIDEO_PLAYS = ms(90)
#: a launched run appears in the Runs tab, starts on the simulator box and logs
RUN_STARTS = ms(helpers.RUN_STARTS)
#: a run on the simulator box finishes (or ends after a kill) and the page shows it
RUN_FINISHES = ms(helpers.RUN_FINISHES)
#: ffmpeg renders something on demand (the side-by-side comparison export)
RENDER_FINISHES = ms(180)


def set_default_timeouts(context) -> None:
    """Every Playwright wait in this browser context that names no timeout gets UI_REACTS."""
    context.set_default_timeout(UI_REACTS)
    context.set_default_navigation_timeout(PAGE_READY)


def wait_js(page, condition: str, timeout: float = UI_REACTS) -> None:
    """Wait until a JS expression is truthy. A page mid-update (an element not there yet, a
    property of undefined) counts as "not yet", never as an error."""
    page.wait_for_function(f"() => {{ try {{ return !!({condition}); }}"
                           " catch (e) { return false; } }", timeout=timeout)


def goto_ready(page, url: str) -> None:
    """Open the app at `url` and wait until its load events have run (the Create form's spec
    preview is rendered). Before that a fill or an upload can be overwritten by a load event's
    output, or land on a component that is about to be re-rendered."""
    page.goto(url)
    wait_js(page, "document.querySelector('#spec-preview .cm-content').innerText.includes("
                  "'prompt')", PAGE_READY)


def _q(selector: str) -> str:
    return f"document.querySelector({json.dumps(selector)})"


def wait_attr(page, selector: str, attr: str, value: str, timeout: float = UI_REACTS) -> None:
    """Wait until `selector`'s attribute `attr` is `value`."""
    wait_js(page, f"{_q(selector)}.getAttribute({json.dumps(attr)}) === {json.dumps(value)}",
            timeout)


def wait_status(page, status: str, timeout: float = RUN_FINISHES) -> None:
    """Wait until the run view's status badge says `status` (e.g. completed, cancelled)."""
    wait_attr(page, "#run-status", "data-status", status, timeout)


def wait_value_contains(page, selector: str, text: str, timeout: float = UI_REACTS) -> None:
    """Wait until a textarea's or input's value contains `text` (e.g. a line of the log)."""
    wait_js(page, f"{_q(selector)}.value.includes({json.dumps(text)})", timeout)


def wait_video_playing(page, selector: str, timeout: float = RUN_FINISHES) -> None:
    """Wait until the <video> at `selector` has frames and plays."""
    wait_js(page, f"(v => v.readyState >= 2 && v.currentTime > 0 && !v.paused)"
                  f"({_q(selector)})", timeout)
