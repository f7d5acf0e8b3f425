"""Compare as a review player, checked by pixels read out of Chromium (issue 17): wipe at 50%
shows A's left half and B's right half (and follows its dragged divider), overlay mixes them,
difference shows |A - B| and a run against itself is black, flicker shows A then B, and a
side's control video lays over its output. Frame stepping (arrows, buttons, J/K/L) lands on
exact frames: the picture is that frame of the file, and the frame number is the timestamp's."""

from __future__ import annotations

import json

import pytest
from PIL import Image, ImageChops

from backend.review.frames import frame_image
from tests.e2e.conftest import ARTIFACTS, AppProcess, snapshot
from tests.e2e.review_helpers import (WAIT, canvas_image, max_channel, mean_diff, png,
                                      video_frame, wait_frame, wait_ready)
from tests.helpers import SAMPLE

pytestmark = pytest.mark.e2e

MANDELBROT = SAMPLE.with_name("sample_mandelbrot_640x360.mp4")
CANVAS = "#compare-player canvas.cp-canvas"
VIDEO_A = "#compare-player .rp[data-key=a] video.rp-video"
VIDEO_B = "#compare-player .rp[data-key=b] video.rp-video"


def _two_runs(app: AppProcess) -> None:
    app.cli("run", "edges of a test card", "--input", str(SAMPLE), "--weight", "edge=0.5",
            "--name", "A", "--wait")
    app.cli("run", "a blurred fractal", "--input", str(MANDELBROT), "--weight", "vis=1",
            "--name", "B", "--wait")


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    proc = AppProcess(tmp_path_factory.mktemp("review-compare"), sim_seconds=0.5,
                      before=_two_runs)
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def ids(app):
    runs = json.loads(app.cli("--json", "list", "runs").stdout)["runs"]
    return {r["name"]: r for r in runs}


def open_compare(page, app, a: str, b: str) -> None:
    page.goto(f"{app.url}?a={a}&b={b}")
    wait_ready(page, "#compare-player video.rp-video")
    page.locator("#compare-player .rp[data-key=a] [data-act=first]").click()
    # sync is on: stepping A steps B to the same frame
    page.locator("#compare-player .rp[data-key=a] [data-act=fwd10]").click()
    for key in ("a", "b"):
        wait_frame(page, 10, f"#compare-player .rp[data-key={key}]")


def mode(page, name: str) -> None:
    page.locator(f"#compare-player [data-mode={name}]").click()
    page.wait_for_function(f"() => document.querySelector('#cmp-root').dataset.mode"
                           f" === '{name}'", timeout=WAIT)


def set_range(page, selector: str, value: float) -> None:
    page.locator(selector).evaluate(
        "(el, v) => { el.value = String(v); el.dispatchEvent(new Event('input',"
        " {bubbles: true})); }", value)


def draws(page) -> int:
    return int(page.locator("#cmp-root").get_attribute("data-draws") or 0)


def settled(page, after: int, drawn: str = "true") -> Image.Image:
    """The composite once it has drawn (again, after `after` draws) both players' current,
    presented frames; `drawn`: a JS condition on the root `r` that the draw also shows (a
    draw can land between two settings, e.g. the mode and then the wipe's position)."""
    page.wait_for_function(
        "(n) => { const r = document.querySelector('#cmp-root');"
        " const [a, b] = ['a', 'b'].map(k => r.querySelector(`.rp[data-key=${k}] video`));"
        " return parseInt(r.dataset.draws || '0') > n && !a.seeking && !b.seeking"
        " && r.dataset.drawnAt === a.currentTime.toFixed(4) + ',' + b.currentTime.toFixed(4)"
        f" && ({drawn}); }}", arg=after, timeout=WAIT)
    return canvas_image(page, CANVAS)


def test_wipe_overlay_difference_and_flicker_by_pixels(app, ids, page):
    a, b = ids["A"]["id"], ids["B"]["id"]
    open_compare(page, app, a, b)
    frame_a, frame_b = video_frame(page, VIDEO_A), video_frame(page, VIDEO_B)
    w, h = frame_a.size
    assert mean_diff(frame_a, frame_b) > 20  # the two runs really look different
    left, right = (0, 0, w // 2, h), (w // 2, 0, w, h)

    n = draws(page)
    mode(page, "wipe")
    set_range(page, "#compare-player .cp-wipe", 50)
    wipe = settled(page, n, "r.querySelector('.cp-divider').style.left === '50%'")
    assert wipe.size == (w, h)
    assert mean_diff(wipe, frame_a, left) < 1.0 and mean_diff(wipe, frame_b, right) < 1.0
    assert mean_diff(wipe, frame_b, left) > 10 and mean_diff(wipe, frame_a, right) > 10
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    snapshot(page.locator("#compare-player"), "review-compare-wipe.png")
    # dragging the divider moves the wipe
    view = page.locator("#compare-player .cp-view").bounding_box()
    page.mouse.move(view["x"] + 0.5 * view["width"], view["y"] + 0.5 * view["height"])
    page.mouse.down()
    page.mouse.move(view["x"] + 0.25 * view["width"], view["y"] + 0.5 * view["height"],
                    steps=6)
    page.mouse.up()
    page.wait_for_function("() => Math.abs(parseFloat(document.querySelector("
                           "'#compare-player .cp-wipe').value) - 25) < 1.5", timeout=WAIT)
    dragged = settled(page, draws(page) - 1)
    cut = round(float(page.locator("#compare-player .cp-wipe").input_value()) / 100 * w)
    assert mean_diff(dragged, frame_a, (0, 0, cut - 2, h)) < 1.0
    assert mean_diff(dragged, frame_b, (cut + 2, 0, w, h)) < 1.0

    n = draws(page)
    mode(page, "overlay")
    set_range(page, "#compare-player .cp-opacity", 50)
    overlay = settled(page, n)
    assert mean_diff(overlay, Image.blend(frame_a, frame_b, 0.5)) < 2.0

    n = draws(page)
    mode(page, "difference")
    difference = settled(page, n)
    assert mean_diff(difference, ImageChops.difference(frame_a, frame_b)) < 2.0
    n = draws(page)
    set_range(page, "#compare-player .cp-gain", 4)
    boosted = settled(page, n)
    assert mean_diff(boosted, difference.point(lambda v: min(255, v * 4))) < 4.0

    mode(page, "flicker")
    seen = {}
    page.locator("#compare-player .cp-rate").fill("2")
    page.locator("#compare-player .cp-rate").dispatch_event("input")
    for side in ("a", "b", "a"):
        page.wait_for_function(f"() => document.querySelector('#cmp-root').dataset.showing"
                               f" === '{side}'", timeout=WAIT)
        shown, image = page.evaluate(
            "(sel) => [document.querySelector('#cmp-root').dataset.showing,"
            " document.querySelector(sel).toDataURL('image/png')]", CANVAS)
        seen[shown] = png(image)
    assert mean_diff(seen["a"], frame_a) < 1.0 and mean_diff(seen["b"], frame_b) < 1.0


def test_the_difference_of_a_run_with_itself_is_black(app, ids, page):
    a = ids["A"]["id"]
    open_compare(page, app, a, a)
    n = draws(page)
    mode(page, "difference")
    set_range(page, "#compare-player .cp-gain", 20)
    black = settled(page, n)
    assert max_channel(black) <= 2, max_channel(black)
    assert max_channel(video_frame(page, VIDEO_A)) > 200  # the frame itself is not black


def test_a_sides_control_video_lays_over_its_output(app, ids, page):
    a, b = ids["A"]["id"], ids["B"]["id"]
    open_compare(page, app, a, b)
    layer = "#compare-player .rp[data-key=a] video.rp-layer"
    assert page.locator(layer).get_attribute("data-control") == "edge"
    page.locator("#compare-player .rp[data-key=a] .rp-layer-box").check()
    page.locator(f"{layer}.on").wait_for(timeout=WAIT)
    page.wait_for_function(
        "(sel) => { const l = document.querySelector(sel); const v = document.querySelector("
        "'#compare-player .rp[data-key=a] video.rp-video'); return l.readyState >= 2 &&"
        " !l.seeking && Math.abs(l.currentTime - v.currentTime) < 0.001; }", arg=layer,
        timeout=WAIT)
    control = video_frame(page, layer)
    output = video_frame(page, VIDEO_A)
    assert mean_diff(control, output) > 5  # the control is not the output
    n = draws(page)
    mode(page, "wipe")
    set_range(page, "#compare-player .cp-wipe", 100)  # all A: its output under its control
    with_layer = settled(page, n, "r.querySelector('.cp-divider').style.left === '100%'")
    expected = Image.blend(output, control.resize(output.size), 0.6)
    assert mean_diff(with_layer, expected) < 2.0 and mean_diff(with_layer, output) > 2.0
    snapshot(page.locator("#compare-player"), "review-compare-layer.png")


def check_frame(page, video: str, frame: int, frames: int) -> None:
    """The picture shown is frame `frame` of the file, and its number is the timestamp's."""
    facts = page.evaluate("() => { const r = document.querySelector('#run-video .rp');"
                          " const v = r.querySelector('video');"
                          " return [v.currentTime, parseFloat(r.dataset.fps)]; }")
    assert int(facts[0] * facts[1] + 1e-6) == frame
    shown = video_frame(page, "#run-video video.rp-video")
    same = mean_diff(shown, frame_image(video, frame, max_width=1280))
    others = [mean_diff(shown, frame_image(video, f, max_width=1280))
              for f in (frame - 1, frame + 1) if 0 <= f < frames]
    assert same < 3.0 and all(same < other for other in others), (frame, same, others)


def test_frame_stepping_lands_on_exact_frames(app, ids, page):
    run = ids["A"]
    video, frames = run["output_path"], 121
    page.goto(f"{app.url}?run={run['id']}")
    wait_ready(page, "#run-video video.rp-video")
    page.locator("#run-video .rp-frame").click()  # focus the player (no play toggle)
    page.keyboard.press("Home")
    wait_frame(page, 0)
    check_frame(page, video, 0, frames)
    for key, frame, check in (("ArrowRight", 1, False), ("ArrowRight", 2, False),
                              ("ArrowRight", 3, True), ("Shift+ArrowRight", 13, True),
                              ("ArrowLeft", 12, True)):
        page.keyboard.press(key)
        wait_frame(page, frame)
        if check:
            check_frame(page, video, frame, frames)
    page.locator("#run-video [data-act=fwd10]").click()
    wait_frame(page, 22)
    page.locator("#run-video [data-act=prev]").click()
    wait_frame(page, 21)
    check_frame(page, video, 21, frames)
    page.locator("#run-video .rp-frame").click()
    page.keyboard.press("l")  # shuttle forwards, stop, then one frame on
    page.wait_for_function("() => parseInt(document.querySelector('#run-video .rp')"
                           ".dataset.frame) > 30", timeout=WAIT)
    page.keyboard.press("k")
    page.wait_for_function("() => document.querySelector('#run-video .rp').dataset.paused"
                           " === '1'", timeout=WAIT)
    stopped = int(page.locator("#run-video .rp").get_attribute("data-frame"))
    page.keyboard.press("ArrowRight")
    wait_frame(page, stopped + 1)
    check_frame(page, video, stopped + 1, frames)
    page.keyboard.press("j")  # shuttle backwards, stop, then one frame back
    page.wait_for_function(f"() => parseInt(document.querySelector('#run-video .rp')"
                           f".dataset.frame) < {stopped - 3}", timeout=WAIT)
    page.keyboard.press("k")
    page.wait_for_function("() => document.querySelector('#run-video .rp').dataset.paused"
                           " === '1'", timeout=WAIT)
    back = int(page.locator("#run-video .rp").get_attribute("data-frame")) - 1
    page.keyboard.press("ArrowLeft")
    wait_frame(page, back)
    check_frame(page, video, back, frames)
    page.keyboard.press("End")
    wait_frame(page, frames - 1)
    check_frame(page, video, frames - 1, frames)


def test_a_note_moves_both_players_and_sync_can_be_turned_off(app, ids, page):
    a, b = ids["A"]["id"], ids["B"]["id"]
    drawing = [{"tool": "rect", "color": "#34c759", "width": 0.01,
                "points": [[0.1, 0.1], [0.4, 0.4]]}]
    note = json.loads(app.cli("--json", "note", a, "--frame", "40", "--text", "look here",
                              "--drawing", json.dumps(drawing)).stdout)["note"]
    open_compare(page, app, a, b)
    page.locator(f"#compare-notes-a .rv-note[data-note='{note['id']}'] .rv-text-body").click()
    for key in ("a", "b"):
        wait_frame(page, 40, f"#compare-player .rp[data-key={key}]")
    page.wait_for_function(f"() => document.querySelector('#compare-player .rp[data-key=a]')"
                           f".dataset.drawn === '{note['id']}'", timeout=WAIT)
    drawn = canvas_image(page, "#compare-player .rp[data-key=a] canvas.rp-draw")
    r, g, b_ = drawn.getpixel((round(0.1 * drawn.width), round(0.25 * drawn.height)))
    assert g > 150 and r < 120 and b_ < 150  # A's drawing, green, over A
    assert page.locator("#compare-player .rp[data-key=b]").get_attribute("data-drawn") == ""
    # with sync off, each player steps on its own
    page.locator("#compare-player .cp-sync").uncheck()
    page.locator("#compare-player .rp[data-key=a] [data-act=next]").click()
    wait_frame(page, 41, "#compare-player .rp[data-key=a]")
    page.locator("#compare-player .rp[data-key=b] [data-act=prev]").click()
    wait_frame(page, 39, "#compare-player .rp[data-key=b]")
    assert page.locator("#compare-player .rp[data-key=a]").get_attribute("data-frame") == "41"
    page.locator("#compare-player .cp-sync").check()
    page.locator("#compare-player .rp[data-key=b] [data-act=next]").click()
    wait_frame(page, 40, "#compare-player .rp[data-key=b]")
    wait_frame(page, 42, "#compare-player .rp[data-key=a]")  # both stepped once, together
