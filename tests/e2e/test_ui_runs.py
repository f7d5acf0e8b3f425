"""Runs in a real browser: a run's log and progress move live, the log follows the tail until
the reader scrolls up, a reload resumes the live log, a second browser sees the same run, the
video plays, the launcher is notified, and a killed run ends `cancelled` with its partial log."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import snapshot, ARTIFACTS, AppProcess, new_context
from tests.e2e.waits import (PAGE_READY, RUN_STARTS, UI_REACTS, wait_js, wait_status,
                             wait_value_contains, wait_video_playing)

pytestmark = pytest.mark.e2e

# The Notification API stand-in: permission granted, every notification recorded.
NOTIFICATION_STUB = """
window.__notes = [];
class FakeNotification {
  constructor(title, options) { window.__notes.push([title, (options || {}).body]); }
  static requestPermission() { return Promise.resolve('granted'); }
}
FakeNotification.permission = 'granted';
window.Notification = FakeNotification;
"""

LOG = "#run-log textarea"


@pytest.fixture(scope="module")
def ui_app(tmp_path_factory):
    # The live test acts on a run while it runs (reload mid-run, a second browser, scrolling
    # up): its prompt holds the simulated run at diffusion sampling ([sim:hold], logging a
    # line a second) until the test releases it, so the run outlasts those steps however
    # slow the machine is. The kill test needs a run that is still going when Kill lands.
    proc = AppProcess(tmp_path_factory.mktemp("ui-runs"), sim_seconds=20, sim_load_share=0.1)
    yield proc
    proc.stop()


def release(app: AppProcess, run_id: str) -> None:
    """Let a run held by [sim:hold] go on (backend/simulator/fake_transfer.py)."""
    (app.tmp_path / "data" / "sim-box" / "runs" / run_id / "outputs" / "sim-release").touch()


def log_lines(page) -> list[str]:
    text = page.locator(LOG).input_value()
    return text.split("\n") if text else []


def status(page) -> str | None:
    return page.locator("#run-status").get_attribute("data-status")


def fraction(page) -> float:
    return float(page.locator("#run-progress").get_attribute("data-fraction") or 0)


def open_runs(page) -> None:
    page.locator("#tab-runs-button, button[role=tab]:has-text('Runs')").first.click()


def wait_lines(page, more_than: int, timeout: float = UI_REACTS) -> None:
    """Wait until the log panel shows more than `more_than` lines."""
    wait_js(page, f"(t => t.value && t.value.split('\\n').length > {more_than})"
                  f"(document.querySelector('{LOG}'))", timeout)


def wait_running_with_log(page) -> None:
    """The run view shows the run running, with Cosmos' log lines in the panel."""
    wait_js(page, f"document.querySelector('{LOG}').value.includes('|INFO|')"
                  " && document.querySelector('#run-status').dataset.status === 'running'",
            RUN_STARTS)


def test_live_log_progress_reload_second_browser_and_video(ui_app, page, browser):
    page.add_init_script(NOTIFICATION_STUB)
    page.goto(ui_app.url)
    page.locator("#notify-enable").click()
    page.locator("#prompt textarea").fill("A rainy neon street at night, watched live [sim:hold]")
    page.locator("#run-button").click()

    # the Runs tab opens on the new run; log lines and progress arrive while it runs (held in
    # its first clip's diffusion sampling until released below, logging a line a second)
    wait_running_with_log(page)
    run_id = page.locator("#run-status").get_attribute("data-run")
    wait_value_contains(page, LOG, "[sim:hold] held", timeout=RUN_STARTS)
    page.locator("#run-progress").get_by_text("clip 1/1").wait_for()
    held = fraction(page)
    assert 0 < held < 1
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    snapshot(page, "ui-runs-live.png")

    # reload mid-run: the whole log so far comes back, then new lines keep arriving
    before = log_lines(page)
    assert status(page) == "running"
    page.reload()
    open_runs(page)
    wait_value_contains(page, LOG, before[-1], timeout=PAGE_READY)
    assert log_lines(page)[:len(before)] == before
    wait_lines(page, len(before))
    # new lines follow on the run's own channel (cosmos_ui/log_channel.py), and so does the
    # GPU chart, redrawn on the host's telemetry
    wait_js(page, "document.querySelector('#run-log[data-channel=open], "
                  "#run-log [data-channel=open]')", PAGE_READY)
    wait_lines(page, len(log_lines(page)))
    wait_js(page, "(() => { const c = document.querySelector('#gpu-plot .gpu-chart');"
                  f" return c && c.dataset.run === '{run_id}' && Number(c.dataset.points) > 0"
                  " && c.querySelector('polyline'); })()", UI_REACTS)

    # a second browser sees the same run, live
    other = new_context(browser, viewport={"width": 1280, "height": 900})
    try:
        second = other.new_page()
        second.goto(ui_app.url)
        open_runs(second)
        second.locator(f"#run-status[data-run='{run_id}']").wait_for(timeout=PAGE_READY)
        second.locator(f"#history-table tr[data-id='{run_id}']").wait_for()

        # the log follows the tail until the reader scrolls up, then stays put
        wait_js(second, f"document.querySelector('{LOG}').value.length > 0")
        if status(second) == "running":
            second.evaluate(f"() => {{ document.querySelector('{LOG}').scrollTop = 0; }}")
            second.locator("#run-log .log-follow").wait_for(state="visible")
            count = len(log_lines(second))
            wait_lines(second, count)
            assert second.evaluate(f"() => document.querySelector('{LOG}').scrollTop") == 0
            second.locator("#run-log .log-follow").click()
            assert second.evaluate(
                f"() => {{ const t = document.querySelector('{LOG}');"
                " return t.scrollHeight - t.scrollTop - t.clientHeight < 30; }")

        # both pages end with the finished run and its video playing (the status, progress
        # and log a moment later at worst: the log panel refetches on any gap)
        assert status(page) == "running"  # still held
        release(ui_app, run_id)
        for p in (page, second):
            wait_video_playing(p, "#run-video video")
            wait_status(p, "completed", timeout=UI_REACTS)
            wait_js(p, "parseFloat(document.querySelector('#run-progress').dataset.fraction)"
                       " === 1")  # moved on from where it was held
            wait_value_contains(p, LOG, "Saved video to")
            assert status(p) == "completed"
            assert fraction(p) == 1.0
            assert "Saved video to" in p.locator(LOG).input_value()
        snapshot(second, "ui-runs-second-browser.png")
    finally:
        other.close()

    # the page that launched it was told (browser notification + toast)
    wait_js(page, "window.__notes.length > 0")
    title, body = page.evaluate("() => window.__notes[0]")
    assert title == "Cosmos run completed" and "watched live" in body
    snapshot(page, "ui-runs-completed.png")


def test_kill_a_run_ends_cancelled_with_its_partial_log(ui_app, page):
    page.goto(ui_app.url)
    page.locator("#prompt textarea").fill("A run that hangs until killed [sim:hang]")
    page.locator("#run-button").click()
    wait_running_with_log(page)
    wait_js(page, "document.querySelector('#run-status').textContent.length > 0")
    page.locator("#kill-button").click()
    confirm = page.locator("#kill-confirm-box")
    confirm.get_by_text("Graceful").wait_for()
    snapshot(page, "ui-runs-kill-confirm.png", full_page=False)
    page.locator("#kill-force input").check()
    page.locator("#kill-confirm").click()
    wait_status(page, "cancelled")
    wait_lines(page, 5)  # the partial log (the panel may refetch it after the status)
    lines = log_lines(page)
    assert len(lines) > 5 and any("|INFO|" in line for line in lines)
    assert "Saved video to" not in "\n".join(lines)
    cause = page.locator("#run-cause").inner_text().lower()
    assert "cancel" in cause or "kill" in cause
    assert page.locator("#kill-button").is_disabled()
    snapshot(page, "ui-runs-killed.png")
