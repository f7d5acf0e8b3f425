"""Sweeps in a real browser: build a 3x2 sweep in Create and see its count before launch
(and a bad value refused, naming the axis), launch it, watch the grid fill with videos that
play and pause on one clock, open a cell's run, and export the grid as one MP4."""

from __future__ import annotations

import pytest

from backend.media import probe_video
from tests.e2e.conftest import AppProcess, snapshot
from tests.e2e.waits import (RENDER_FINISHES, RUN_FINISHES, VIDEO_PLAYS, wait_attr, wait_js,
                             wait_status)

pytestmark = pytest.mark.e2e

VIDEOS = "Array.from(document.querySelectorAll('#sweep-grid video.sw-video'))"


@pytest.fixture(scope="module")
def ui_app(tmp_path_factory):
    proc = AppProcess(tmp_path_factory.mktemp("ui-sweeps"), sim_seconds=2,
                      extra_scheduler="batching = true")
    yield proc
    proc.stop()


def pick(page, elem: str, option: str) -> None:
    page.locator(f"#{elem} input").first.click()
    page.get_by_role("option", name=option, exact=True).click()


def values(page, index: int, text: str) -> None:
    box = page.locator(f"#sweep-values-{index} textarea, #sweep-values-{index} input").first
    box.fill(text)
    box.press("Enter")


def test_build_a_sweep_see_the_count_launch_open_the_grid_and_export(ui_app, page):
    page.goto(ui_app.url)
    page.locator("#prompt textarea").fill("a rainy neon street at night")
    page.locator("#sweep-box").get_by_text("Sweep: a grid of runs").click()
    pick(page, "sweep-axis-0", "edge weight")
    values(page, 0, "0.2,x")  # not a number: said at once
    # the axis alone is already an error ("no values"): wait for the one about the 'x'
    page.locator("#sweep-count.sweep-error").get_by_text("'x' is not a number").wait_for()
    values(page, 0, "0.2,0.5,3")  # a number, but not a weight: refused at launch, by cell
    page.locator("#sweep-count[data-count='3']").wait_for()
    page.locator("#sweep-run").click()
    page.get_by_text("Sweep not queued").wait_for()
    refused = page.locator("#sweep-count").inner_text()
    assert "in the cell edge=3" in refused and "between 0 and 1" in refused

    values(page, 0, "0.2:0.8:0.3")
    page.locator("#sweep-count[data-count='3']").wait_for()
    pick(page, "sweep-axis-1", "seed")
    values(page, 1, "1,2")
    page.locator("#sweep-count[data-count='6']").wait_for()
    assert "makes 6 runs" in page.locator("#sweep-count").inner_text()
    snapshot(page.locator("#sweep-box"), "ui-sweep-create.png")

    page.locator("#sweep-run").click()
    page.locator("#sweep-grid[data-cells='6']").wait_for()
    assert "Queued sweep" in page.locator("#sweep-message").inner_text()
    heads = page.locator("#sweep-grid th.sw-col").all_inner_texts()
    rows = page.locator("#sweep-grid th.sw-row").all_inner_texts()
    assert heads == ["edge=0.2", "edge=0.5", "edge=0.8"] and rows == ["seed=1", "seed=2"]
    assert "x: edge weight" in page.locator("#sweep-grid .sw-title").inner_text()
    wait_js(page, "document.querySelectorAll('#sweep-grid td[data-status=completed]')"
            ".length === 6", RUN_FINISHES)
    wait_js(page, f"{VIDEOS}.length === 6 && {VIDEOS}.every(v => v.readyState >= 2 && "
            "!v.paused && v.currentTime > 0)", VIDEO_PLAYS)
    snapshot(page, "ui-sweep-grid.png")

    # one clock: Pause all stops every video on the first one's frame
    page.locator("#sweep-pause").click()
    wait_js(page, "document.querySelector('#sweep-grid-box [data-state=paused]')")
    state = page.evaluate(f"{VIDEOS}.map(v => [v.paused, v.currentTime])")
    assert all(paused for paused, _ in state) and len({t for _, t in state}) == 1, state
    assert state[0][1] > 0

    # export: one MP4 of the grid, offered for download
    page.locator("#sweep-export").click()
    link = page.locator("#sweep-export-link")
    link.wait_for(timeout=RENDER_FINISHES)
    name = link.inner_text()
    exported = ui_app.tmp_path / "data" / "exports" / name
    info = probe_video(exported)
    assert name.startswith("sweep-") and info.frames > 0 and info.width > info.height

    # a click on a cell opens that run in the run view
    cell = page.locator("#sweep-grid td[data-x='2'][data-y='1']")
    run_id = cell.get_attribute("data-run")
    cell.click()
    wait_attr(page, "#run-status", "data-run", run_id)
    wait_status(page, "completed")
    assert "[edge=0.8, seed=2]" in page.locator("#run-status-box .run-title").inner_text()
    assert "Cell edge=0.8, seed=2 of sweep" in page.locator("#run-sweep").inner_text()
