"""Cosmos 3 in the Create form, in a real browser: choosing it shows its mode and checkpoint
and says before launch which hints need their own control video; text2video hides the input
and the controls (the spec has no vision_path); a run of it completes and its video plays;
back to video2video the input and controls return."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import snapshot, AppProcess
from tests.e2e.test_ui_create import runs_in_db, set_number, spec, wait_spec
from tests.e2e.test_ui_models import pick_model
from tests.e2e.waits import wait_video_playing

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def ui_app(tmp_path_factory):
    proc = AppProcess(tmp_path_factory.mktemp("ui-cosmos3"), sim_seconds=3)
    yield proc
    proc.stop()


def pick(page, elem: str, option: str) -> None:
    page.locator(f"#{elem} input").first.click()
    page.get_by_role("option", name=option, exact=True).click()


def test_choose_cosmos3_pick_text2video_run_and_see_the_video(ui_app, page):
    page.goto(ui_app.url)
    wait_spec(page, "s.input_video_path !== undefined", timeout=30_000)  # Transfer1 first
    page.locator("#prompt textarea").fill("A red vintage car drives through autumn hills")
    pick_model(page, "Cosmos 3")
    wait_spec(page, "s.model_mode === 'video2video' && s.vision_path !== undefined")
    page.locator("#mode").wait_for(state="visible")
    assert page.locator("#checkpoint").is_visible()
    assert page.locator("#weight-wsm").is_visible() and page.locator("#input-row").is_visible()
    assert "needs its own control video" in page.locator("#weight-depth").inner_text()
    assert not page.locator("#seg-prompt").is_visible()  # Cosmos 3 does not segment
    s = spec(page)
    assert s["edge"] == {"weight": 1.0, "preset_edge_threshold": "medium"} and "vis" not in s
    snapshot(page, "ui-cosmos3-video2video.png")

    # depth without its own video is refused on its field, before anything is queued
    set_number(page, "#weight-depth input[type=number]", 0.5)
    wait_spec(page, "s.depth && s.depth.weight === 0.5")
    before = len(runs_in_db(ui_app))
    page.locator("#run-button").click()
    page.locator("#create-message").get_by_text("Not queued").wait_for()
    assert "computes only edge and blur (vis) on the fly" in \
        page.locator("#err-control_videos-depth").inner_text()
    assert len(runs_in_db(ui_app)) == before

    pick(page, "mode", "text2video")
    wait_spec(page, "s.model_mode === 'text2video' && s.vision_path === undefined && !s.edge")
    page.locator("#input-row").wait_for(state="hidden")
    assert not page.locator("#controls-section").is_visible()
    page.get_by_text("Advanced", exact=True).click()
    set_number(page, "#num-frames input", 25)
    pick(page, "resolution", "256")
    wait_spec(page, "s.num_frames === 25 && s.resolution === '256'")
    snapshot(page, "ui-cosmos3-text2video.png")
    page.locator("#run-button").click()
    page.locator("#run-status[data-status=completed]").wait_for(timeout=180_000)
    row = runs_in_db(ui_app)[-1]
    assert row["params"]["model"] == "cosmos3" and row["params"]["input_video"] is None
    assert row["params"]["extra"]["mode"] == "text2video" and row["params"]["weights"] == {}
    wait_video_playing(page, "#run-video video")
    snapshot(page, "ui-cosmos3-run-view.png")
