"""Browsing finished work in a real browser: the gallery pages and plays, two runs compare side
by side on one timeline with their changed weights (from the gallery, and from a URL on a
phone-width screen), the history filters, searches, pages and deletes, and the Hosts tab shows
the simulator box.

The runs are written into the app's data folder before the app starts (finished runs with small
videos), so nothing here waits for a generation.
"""

from __future__ import annotations

import sqlite3

import pytest

from backend import media
from tests.e2e.conftest import snapshot, ARTIFACTS, AppProcess, new_context
from tests.e2e.seed import seed_runs
from tests.e2e.waits import (PAGE_READY, RENDER_FINISHES, VIDEO_PLAYS, wait_attr, wait_js,
                             wait_video_playing)
from tests.helpers import write_config

pytestmark = pytest.mark.e2e

N_RUNS = 14


@pytest.fixture(scope="module")
def seeded(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ui-browse")
    ids = seed_runs(write_config(folder), N_RUNS)
    proc = AppProcess(folder, sim_seconds=2)
    proc.ids = ids  # oldest first
    yield proc
    proc.stop()


def open_tab(page, name: str) -> None:
    page.locator(f"button[role=tab]:has-text('{name}')").first.click()


def run_count(app: AppProcess) -> int:
    db = app.config.parent / "data" / "cosmos.db"
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        return conn.execute("SELECT count(*) FROM run").fetchone()[0]


def videos_playing(page, selector: str) -> None:
    wait_js(page, f"(vs => vs.length >= 2 && vs.every(v => v.readyState >= 2"
                  f" && v.currentTime > 0.3 && !v.paused))"
                  f"(Array.from(document.querySelectorAll({selector!r})))", VIDEO_PLAYS)


def test_gallery_pages_filters_and_plays(seeded, page):
    page.goto(seeded.url)
    open_tab(page, "Gallery")
    wait_attr(page, "#gallery-count", "data-total", str(N_RUNS))
    cards = page.locator("#gallery-grid .g-card")
    assert cards.count() == 12
    assert cards.first.get_attribute("data-id") == seeded.ids[-1]  # newest first
    page.locator("#gallery-next").click()
    wait_attr(page, "#gallery-count", "data-page", "2")
    page.wait_for_function("() => document.querySelectorAll('#gallery-grid .g-card').length"
                           " === 2")
    assert cards.last.get_attribute("data-id") == seeded.ids[0]
    page.locator("#gallery-prev").click()
    wait_attr(page, "#gallery-count", "data-page", "1")
    page.locator("#gallery-search textarea, #gallery-search input").first.fill("boat")
    wait_attr(page, "#gallery-count", "data-total", "5")
    page.locator("#gallery-search textarea, #gallery-search input").first.fill("")
    wait_attr(page, "#gallery-count", "data-total", str(N_RUNS))
    cards.nth(2).locator("img").click()
    wait_video_playing(page, "#gallery-player video", timeout=VIDEO_PLAYS)
    assert seeded.ids[-3] in page.locator("#gallery-player-info").inner_text()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    snapshot(page, "ui-gallery.png")


def test_compare_two_gallery_picks_on_one_timeline(seeded, page):
    a, b = seeded.ids[-1], seeded.ids[-2]  # run 13: edge 0.5 + depth 0.5; run 12: edge 1
    page.goto(seeded.url)
    open_tab(page, "Gallery")
    for run_id in (a, b):
        page.locator(f"#gallery-grid [data-pick='{run_id}']").click()
        page.locator(f"#gallery-grid [data-pick='{run_id}'].on").wait_for()
    page.locator("#gallery-compare:not([disabled])").wait_for()
    page.locator("#gallery-compare").click()
    page.locator(f"#compare-player [data-run='{a}'] video").wait_for()
    page.locator(f"#compare-player [data-run='{b}'] video").wait_for()
    wait_js(page, "Array.from(document.querySelectorAll('video.cmp-video'))"
                  ".every(v => v.readyState >= 2)", timeout=VIDEO_PLAYS)
    # the changed weights and seed, and the prompt change word by word
    edge = page.locator("#compare-diff-table tr[data-key='weights.edge'] td")
    assert [edge.nth(i).inner_text() for i in range(3)] == ["Weight edge", "0.5", "1"]
    assert page.locator("#compare-diff-table tr[data-key='weights.depth']").count() == 1
    assert page.locator("#compare-diff-table tr[data-key='seed']").count() == 1
    assert page.locator("#prompt-diff .diff-ins, #prompt-diff .diff-del").count() >= 1
    # one timeline: play starts both, seek moves both
    page.locator("#compare-player .cmp-play").click()
    videos_playing(page, "video.cmp-video")
    times = page.evaluate("() => Array.from(document.querySelectorAll('video.cmp-video'))"
                          ".map(v => v.currentTime)")
    assert abs(times[0] - times[1]) < 0.3
    page.locator("#compare-player .cmp-play").click()  # pause both
    page.wait_for_function("() => Array.from(document.querySelectorAll('video.cmp-video'))"
                           ".every(v => v.paused)")
    page.locator("#compare-player .cmp-seek").evaluate(
        "el => { el.value = 500; el.dispatchEvent(new Event('input', {bubbles: true}));"
        " el.dispatchEvent(new Event('change', {bubbles: true})); }")
    wait_js(page, "Array.from(document.querySelectorAll('video.cmp-video'))"
                  ".every(v => Math.abs(v.currentTime - v.duration / 2) < 0.15)")
    # inputs on demand
    page.locator("#compare-inputs input").check()
    page.locator("#compare-player video[data-role='in-a']").wait_for()
    snapshot(page, "ui-compare.png")
    # one labelled side-by-side mp4
    page.locator("#compare-export").click()
    page.locator("#compare-export-message").get_by_text("Rendered").wait_for(
        timeout=RENDER_FINISHES)
    exports = list((seeded.config.parent / "data" / "exports").glob("compare-*.mp4"))
    assert len(exports) == 1
    info = media.probe_video(exports[0])
    assert (info.width, info.height) == (640, 176)


def test_compare_from_a_url_on_a_phone_width_screen(seeded, browser):
    context = new_context(browser, viewport={"width": 390, "height": 844}, is_mobile=True)
    try:
        page = context.new_page()
        a, b = seeded.ids[0], seeded.ids[3]
        page.goto(f"{seeded.url}?a={a}&b={b}")
        page.locator(f"#compare-player [data-run='{a}'] video").wait_for(timeout=PAGE_READY)
        page.locator(f"#compare-player [data-run='{b}'] video").wait_for()
        boxes = [page.locator(f"#compare-player [data-run='{x}'] video").bounding_box()
                 for x in (a, b)]
        assert boxes[1]["y"] > boxes[0]["y"]  # stacked, not squeezed side by side
        assert all(box["width"] <= 390 for box in boxes)
        assert page.evaluate("() => document.documentElement.scrollWidth") <= 390
        snapshot(page, "ui-compare-phone.png")
        # every tab is in the bar, none behind the "..." menu; the header is a short band
        tabs = page.locator("#main-tabs [role=tablist] [role=tab]").all_inner_texts()
        assert [t.strip() for t in tabs] == ["Create", "Runs", "Gallery", "Sweeps", "Compare",
                                             "Hosts", "Usage"]
        assert page.locator(".app-header").bounding_box()["height"] < 160  # was 182 of 844
        # the runs table shows pick, status and name without being cut
        page.locator("#tab-runs-button").click()
        table = page.locator("#history-table")
        table.locator("tr.run-row").first.wait_for()
        assert page.evaluate("() => { const t = document.querySelector('#history-table');"
                             " return t.scrollWidth <= t.parentElement.clientWidth; }")
        assert table.locator("th").filter(has_text="Name / prompt").is_visible()
        snapshot(page, "ui-runs-phone.png")
    finally:
        context.close()


def test_history_search_filters_paging_and_delete(seeded, page):
    page.goto(seeded.url)
    open_tab(page, "Runs")
    wait_attr(page, "#history-count", "data-total", str(run_count(seeded)))
    total = run_count(seeded)
    assert page.locator("#history-table tr[data-id]").count() == 10
    page.locator("#history-next").click()
    wait_attr(page, "#history-count", "data-page", "2")
    assert page.locator("#history-table tr[data-id]").count() == total - 10
    page.locator("#history-search textarea, #history-search input").first.fill("boat")
    wait_attr(page, "#history-count", "data-total", "5")
    assert page.locator("#history-count").get_attribute("data-page") == "1"
    page.locator("#filter-status input").click()
    page.locator("#filter-status [role=option][aria-label='failed']").click()
    wait_attr(page, "#history-count", "data-total", "0")
    page.locator("#filter-status input").press("Backspace")
    wait_attr(page, "#history-count", "data-total", "5")
    # pick a run and delete it: the confirmation says what goes
    victim = page.locator("#history-table tr[data-id]").first.get_attribute("data-id")
    page.locator(f"#history-table tr[data-id='{victim}'] td.title").click()
    wait_attr(page, "#run-status", "data-run", victim)
    page.locator("#delete-button").click()
    items = page.locator("#delete-items li")
    items.first.wait_for()
    text = page.locator("#delete-preview").inner_text()
    assert "4 log lines" in text and f"runs/{victim} on sim" in text
    snapshot(page, "ui-history-delete.png")
    page.locator("#delete-confirm").click()
    page.locator("#kill-message").get_by_text("Deleted:").wait_for()
    wait_attr(page, "#history-count", "data-total", "4")
    assert run_count(seeded) == total - 1
    assert not (seeded.config.parent / "data" / "runs" / victim).exists()


def test_hosts_tab_shows_the_simulator_box(seeded, page):
    page.goto(seeded.url)
    open_tab(page, "Hosts")
    card = page.locator(".host-card[data-host='sim']")
    card.wait_for()
    card.get_by_text("reachable").first.wait_for()
    card.get_by_text("Simulated").first.wait_for()
    assert "Queue is empty" in card.inner_text()
    snapshot(page, "ui-hosts.png")
