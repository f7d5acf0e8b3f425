"""A person's first run, in a real browser against the launched app on the simulator box."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import ARTIFACTS

pytestmark = pytest.mark.e2e


def test_fill_prompt_run_watch_log_and_play_video(app, page):
    page.goto(app.url)
    page.locator("#prompt textarea").fill("A rainy neon street at night, reflections, 35mm")
    page.locator("#run-button").click()
    log_box = page.locator("#run-log textarea")
    # log lines arrive while the run is still going
    page.wait_for_function(
        "() => { const t = document.querySelector('#run-log textarea');"
        " return t && t.value.includes('|INFO|'); }", timeout=60_000)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "first-run-log.png"), full_page=True)
    # the finished video plays in the page
    page.wait_for_function(
        "() => { const v = document.querySelector('#run-video video');"
        " return v && v.readyState >= 2 && v.currentTime > 0 && !v.paused; }",
        timeout=90_000)
    assert "Saved video to" in log_box.input_value()
    assert page.locator("#run-status").get_attribute("data-status") == "completed"
    size = page.evaluate("() => { const v = document.querySelector('#run-video video');"
                         " return [v.videoWidth, v.videoHeight]; }")
    assert size == [1280, 704]
    page.screenshot(path=str(ARTIFACTS / "first-run-video.png"), full_page=True)


def test_bad_input_shows_a_message_and_queues_nothing(app, page):
    page.goto(app.url)
    page.locator("#run-button").click()  # empty prompt
    message = page.locator("#create-message")
    message.get_by_text("Not queued").wait_for(timeout=20_000)
    assert "prompt" in message.inner_text().lower()
    page.locator("#tab-runs-button, button[role=tab]:has-text('Runs')").first.click()
    assert page.locator("#run-status").count() == 0
