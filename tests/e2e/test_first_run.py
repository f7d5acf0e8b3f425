"""A person's first run, in a real browser against the launched app on the simulator box."""

from __future__ import annotations

import pytest

from cosmos_ui.frontend_patch import patched_assets

from tests.e2e.conftest import snapshot, ARTIFACTS
from tests.e2e.waits import (RUN_STARTS, UI_REACTS, wait_status, wait_value_contains,
                             wait_video_playing)

pytestmark = pytest.mark.e2e


def test_fill_prompt_run_watch_log_and_play_video(app, page):
    page.goto(app.url)
    page.locator("#prompt textarea").fill("A rainy neon street at night, reflections, 35mm")
    page.locator("#run-button").click()
    log_box = page.locator("#run-log textarea")
    # log lines arrive while the run is still going
    wait_value_contains(page, "#run-log textarea", "|INFO|", timeout=RUN_STARTS)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    snapshot(page, "first-run-log.png")
    # the finished video plays in the page, the run says completed, the log shows the save
    # (the log panel may catch up a moment after the video: it refetches on any gap)
    wait_video_playing(page, "#run-video video")
    wait_status(page, "completed", timeout=UI_REACTS)
    wait_value_contains(page, "#run-log textarea", "Saved video to")
    assert "Saved video to" in log_box.input_value()
    assert page.locator("#run-status").get_attribute("data-status") == "completed"
    size = page.evaluate("() => { const v = document.querySelector('#run-video video');"
                         " return [v.videoWidth, v.videoHeight]; }")
    assert size == [1280, 704]
    snapshot(page, "first-run-video.png")
    # the page ran on Gradio's core module as we patch it (cosmos_ui/frontend_patch.py)
    path, = [p for p in patched_assets() if p.startswith("/assets/core-")]
    assert page.evaluate("async p => (await (await fetch(p)).text()).includes('__cosmosNodes')",
                         path)
    # and its events with hidden progress send their statuses to no component
    # (cosmos_ui/quiet_progress.py); those that show progress keep their outputs
    deps = page.evaluate("() => window.gradio_config.dependencies.map(d => "
                         "[d.show_progress, d.show_progress_on])")
    hidden = [on for shown, on in deps if shown == "hidden"]
    assert len(hidden) > 50 and all(on == [] for on in hidden)
    assert all(on is None for shown, on in deps if shown != "hidden")


def test_bad_input_shows_a_message_and_queues_nothing(app, page):
    page.goto(app.url)
    page.locator("#run-button").click()  # empty prompt
    message = page.locator("#create-message")
    message.get_by_text("Not queued").wait_for()
    assert "prompt" in message.inner_text().lower()
    page.locator("#tab-runs-button, button[role=tab]:has-text('Runs')").first.click()
    assert page.locator("#run-status").count() == 0


#: Counts the page's requestAnimationFrame calls, installed before any of its scripts run.
COUNT_FRAMES = """
window.__frames = 0;
const __raf = window.requestAnimationFrame.bind(window);
window.requestAnimationFrame = (cb) => { window.__frames++; return __raf(cb); };
"""


def frames_in_quiet_window(page, seconds: float = 3.0, tries: int = 20) -> int:
    """The fewest animation frames the page asked for in a `seconds` window, over up to
    `tries` windows, stopping at the first quiet one (< 60). A page still settling (a
    loaded machine holds its first events pending, and a pending shown status animates)
    gets quiet; a loop that never stops never does."""
    fewest = None
    for _ in range(tries):
        before = page.evaluate("window.__frames")
        page.wait_for_timeout(seconds * 1000)
        asked = page.evaluate("window.__frames") - before
        fewest = asked if fewest is None else min(fewest, asked)
        if fewest < 60:
            break
    return fewest


def test_an_idle_page_does_not_ask_for_every_animation_frame(app, page):
    """An open tab with nothing moving on it asks for no frame loop: Gradio's status trackers
    (one left running by a tracker destroyed while pending, cosmos_ui/frontend_patch.py) and
    review.js's player loop each asked for 60 frames a second forever (~12% of a core per
    open tab). Measured before the fix: ~370 frames in every 3 idle seconds; after: a few."""
    page.add_init_script(COUNT_FRAMES)
    page.goto(app.url)
    page.locator("#run-button").wait_for()
    asked = frames_in_quiet_window(page)
    assert asked < 60, f"{asked} animation frames asked for in the quietest 3 s on Create"
    page.locator("button[role=tab]:has-text('Runs')").first.click()
    asked = frames_in_quiet_window(page)
    assert asked < 60, f"{asked} animation frames asked for in the quietest 3 s on Runs"
