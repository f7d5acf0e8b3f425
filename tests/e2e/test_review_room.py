"""The review room in Chromium with two signed-in browsers, an operator and a reviewer (issue 17):
the reviewer notes frame 40 with a drawing; the operator sees the mark appear on the timeline,
clicks it, lands on frame 40 and sees the drawing; the reviewer asks for changes; the operator
turns the note into a draft v+1 whose mask video is the drawing (read pixel by pixel), runs it,
and it is v2 of the shot; the reviewer approves v2 and exports the notes report. Plus: a
reviewer's crafted calls to launch, kill, delete, re-generate or share are refused, and notes,
runs and comparisons have URLs that reload and back/forward return to."""

from __future__ import annotations

import json

import pytest

from backend.review.drawing import fill_regions, parse_drawing
from backend.review.mask import read_gray_frames
from tests.e2e.conftest import snapshot, ARTIFACTS, AppProcess
from tests.e2e.waits import RUN_FINISHES, UI_REACTS
from tests.e2e.review_helpers import (OPERATOR, REVIEWER, WAIT, call_event, canvas_image,
                                      open_tab, sign_in, signed_in, wait_frame, wait_ready)
from tests.helpers import SAMPLE, wait_for

pytestmark = pytest.mark.e2e


def _first_run(app: AppProcess) -> None:
    app.cli("run", "a red car on a wet street", "--input", str(SAMPLE), "--name", "hero",
            "--wait")


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    proc = AppProcess(tmp_path_factory.mktemp("review-room"), sim_seconds=1,
                      extra_args=["--sign-in"], users=[OPERATOR, REVIEWER], before=_first_run)
    yield proc
    proc.stop()


def runs(app: AppProcess) -> list[dict]:
    return json.loads(app.cli("--json", "list", "runs").stdout)["runs"]


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    snapshot(page, f"review-{name}.png")


def drag(page, canvas: str, start: tuple[float, float], end: tuple[float, float]) -> None:
    page.locator(canvas).wait_for(state="visible")  # shown once a drawing tool is picked
    box = page.locator(canvas).bounding_box()
    page.mouse.move(box["x"] + start[0] * box["width"], box["y"] + start[1] * box["height"])
    page.mouse.down()
    page.mouse.move(box["x"] + end[0] * box["width"], box["y"] + end[1] * box["height"],
                    steps=8)
    page.mouse.up()


def test_two_browsers_note_draw_ask_for_changes_regenerate_and_approve(app, browser):
    v1 = runs(app)[0]["id"]
    operator_ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    reviewer_ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        op, rv = operator_ctx.new_page(), reviewer_ctx.new_page()
        sign_in(op, app.url, OPERATOR)
        open_tab(op, "Runs")
        wait_ready(op, "#run-video video.rp-video")
        sign_in(rv, app.url, REVIEWER)
        wait_ready(rv, "#run-video video.rp-video")
        assert rv.locator("#run-video .rp").get_attribute("data-run-id") == v1

        # the reviewer steps to frame 40, draws a rectangle and writes the note
        rv.locator("#run-video .rp-frame").click()  # focus the player, no play toggle
        rv.locator("#run-video [data-act=first]").click()
        for _ in range(4):
            rv.locator("#run-video [data-act=fwd10]").click()
        wait_frame(rv, 40)
        rv.locator("#note-composer [data-tool=rect]").click()
        drag(rv, "#run-video canvas.rp-draw", (0.25, 0.25), (0.5, 0.75))
        rv.locator("#note-composer .rv-shape-count").get_by_text("1 shape").wait_for()
        rv.locator("#note-composer textarea").fill("The car should be blue here")
        rv.locator("#note-composer [data-do=add]").click()
        rv.locator("#run-notes .rv-note").wait_for(timeout=WAIT)
        assert "frame 40 (00:00:01:16)" in rv.inner_text("#run-notes")
        note = json.loads(app.cli("--json", "notes", v1).stdout)["notes"][0]
        assert (note["frame"], note["author"], note["drawing"][0]["tool"]) == (40, "rita",
                                                                               "rect")
        x0, y0 = note["drawing"][0]["points"][0]
        x1, y1 = note["drawing"][0]["points"][1]
        assert abs(x0 - 0.25) < 0.02 and abs(y0 - 0.25) < 0.02
        assert abs(x1 - 0.5) < 0.02 and abs(y1 - 0.75) < 0.02
        shot(rv, "reviewer-note")

        # the operator's page shows the new mark live; clicking it lands on frame 40
        mark = op.locator(f"#run-video .rp-mark[data-note='{note['id']}']")
        mark.wait_for(timeout=WAIT)
        mark.click()
        wait_frame(op, 40)
        op.wait_for_function(f"() => document.querySelector('#run-video .rp').dataset.drawn"
                             f" === '{note['id']}'", timeout=WAIT)
        drawing = canvas_image(op, "#run-video canvas.rp-draw")
        edge = (round(x0 * drawing.width), round((y0 + y1) / 2 * drawing.height))
        r, g, b = drawing.getpixel(edge)
        assert r > 200 and g < 120 and b < 120, (edge, (r, g, b))  # the red outline
        assert drawing.getpixel((round(0.9 * drawing.width), round(0.1 * drawing.height))) \
            == (0, 0, 0)  # nothing drawn elsewhere
        assert f"note={note['id']}" in op.url and f"run={v1}" in op.url
        shot(op, "operator-lands-on-40")

        # the reviewer asks for changes; the operator's version bar says so at once
        rv.locator("#status-needs_changes").click()
        op.locator("#version-bar [data-review-status=needs_changes]").wait_for(timeout=WAIT)
        assert "rita" in op.inner_text("#version-bar")

        # the operator turns the note into the draft v2; its mask is the drawing
        op.locator(f"#run-notes [data-action=regenerate][data-note='{note['id']}']").click()
        op.locator("#draft-info").wait_for(timeout=WAIT)
        assert "Draft v2" in op.inner_text("#draft-info")
        mask = op.locator("#draft-info").get_attribute("data-mask")
        frames = read_gray_frames(mask, 1280, 704)
        assert len(frames) == 121
        inside = fill_regions(parse_drawing(note["drawing"]), (1280, 704)).tobytes()
        assert frames[40] == inside and inside.count(255) > 0.1 * 1280 * 704
        assert all(f == bytes(1280 * 704) for i, f in enumerate(frames) if i != 40)
        op.wait_for_function("() => document.querySelector('#spec-preview').innerText"
                             ".includes('regional_prompts')", timeout=WAIT)
        op.locator("#draft-region-prompt textarea").fill("a blue car")
        shot(op, "draft-in-create")
        op.locator("#run-button").click()
        v2 = wait_for(lambda: next((r["id"] for r in runs(app) if r["id"] != v1), None),
                      timeout=UI_REACTS / 1000, interval=0.5, what="the draft to be queued")
        op.wait_for_function(f"() => {{ const s = document.querySelector('#run-status');"
                             f" return s && s.dataset.run === '{v2}'"
                             " && s.dataset.status === 'completed'; }", timeout=RUN_FINISHES)
        op.locator("#version-label").get_by_text("v2").wait_for(timeout=WAIT)
        assert "asked for by note" in op.inner_text("#version-bar")
        versions = json.loads(app.cli("--json", "versions", v2).stdout)
        assert [v["label"] for v in versions["versions"]] == ["v1", "v2"]
        assert versions["versions"][1]["source_note"] == note["id"]
        spec = json.loads(app.cli("--json", "show", v2).stdout)["run"]["spec"]
        assert spec["regional_prompts"][0]["prompt"] == "a blue car"

        # the reviewer goes to v2 (latest, one click away) and approves it
        latest = rv.locator(f"#version-bar [data-version-run='{v2}']").first
        latest.wait_for(timeout=WAIT)
        latest.click()
        rv.wait_for_function(f"() => document.querySelector('#run-video .rp')?.dataset.runId"
                             f" === '{v2}'", timeout=WAIT)
        rv.locator("#status-approved:not([disabled])").wait_for(timeout=WAIT)
        rv.locator("#status-approved").click()
        rv.locator("#version-bar [data-review-status=approved]").wait_for(timeout=WAIT)
        approved = json.loads(app.cli("--json", "versions", v2).stdout)["versions"][1]
        assert (approved["review_status"], approved["status_by"]) == ("approved", "rita")
        shot(rv, "reviewer-approved-v2")

        # the reviewer exports v1's notes for the dailies: every note with its frame image
        rv.locator(f"#version-bar [data-version-run='{v1}']").first.click()
        rv.wait_for_function(f"() => document.querySelector('#run-video .rp')?.dataset.runId"
                             f" === '{v1}'", timeout=WAIT)
        rv.locator("#report-shot:not([disabled])").wait_for(timeout=WAIT)
        rv.locator("#report-shot").click()
        link = rv.locator("#report-file a").first
        link.wait_for(timeout=WAIT)
        href = link.get_attribute("href")
        with signed_in(app.url, REVIEWER) as client:
            report = client.get(href if href.startswith("http") else "/" + href.lstrip("/"))
        assert report.status_code == 200
        text = report.text
        assert text.count("data:image/jpeg;base64,") == 1  # one note, one frame image
        assert "The car should be blue here" in text and "rita" in text
        assert "Approved" in text and "Needs changes" in text
    finally:
        operator_ctx.close()
        reviewer_ctx.close()


def test_a_reviewers_crafted_calls_to_launch_kill_delete_or_share_are_refused(app):
    before = runs(app)
    victim = before[-1]["id"]
    note = json.loads(app.cli("--json", "note", victim, "--frame", "3", "--text", "x",
                              "--drawing", json.dumps([{"tool": "rect", "color": "#ff3b30",
                                                        "points": [[0, 0], [0.5, 0.5]]}])
                              ).stdout)["note"]
    with signed_in(app.url, REVIEWER) as reviewer:
        for elem_id, event, overrides, data in (
                ("run-button", "click", {0: "sneaky", 2: "a launch"}, None),
                ("kill-confirm", "click", {0: victim, 1: True}, None),
                ("delete-confirm", "click", {0: victim}, None),
                ("rerun-button", "click", {0: victim}, None),
                ("run-notes", "select", {0: victim}, {"action": "regenerate",
                                                       "note": note["id"]}),
                ("link-make", "click", {0: [], 1: "1d"}, None)):  # choices fill on open
            ok, detail = call_event(reviewer, elem_id, event, overrides=overrides,
                                    event_data=data)
            assert not ok and "may not" in detail, (elem_id, detail)
        # what a reviewer may do still works through the same door
        ok, detail = call_event(reviewer, "note-composer", "select", overrides={0: victim},
                                event_data={"action": "add", "run": victim, "frame": 7,
                                            "text": "from a script", "drawing": []})
        assert ok, detail
    after = runs(app)
    assert [r["id"] for r in after] == [r["id"] for r in before]  # nothing launched or gone
    assert json.loads(app.cli("--json", "link", "list").stdout)["links"] == []
    texts = [n["text"] for n in json.loads(app.cli("--json", "notes", victim).stdout)["notes"]]
    assert "from a script" in texts


def test_runs_notes_and_comparisons_have_urls_that_reload_and_go_back(app, page):
    ids = [r["id"] for r in runs(app)]
    v1, v2 = ids[-1], ids[0]
    note = json.loads(app.cli("--json", "notes", v1).stdout)["notes"][0]
    sign_in(page, app.url, OPERATOR, f"?run={v1}&note={note['id']}")
    wait_frame(page, note["frame"])  # a note's URL lands on its frame, after sign-in too
    assert page.locator("#run-video .rp").get_attribute("data-run-id") == v1
    page.reload()
    wait_frame(page, note["frame"])
    assert f"note={note['id']}" in page.url
    # within the page: a tab change is a new history entry; back and forward return
    open_tab(page, "Gallery")
    page.wait_for_function("() => location.search === '?tab=gallery'", timeout=WAIT)
    page.go_back()
    page.wait_for_function(f"() => location.search.includes('note={note['id']}')",
                           timeout=WAIT)
    page.get_by_role("tab", name="Runs", selected=True).wait_for(timeout=WAIT)
    wait_frame(page, note["frame"])
    page.go_forward()
    page.get_by_role("tab", name="Gallery", selected=True).wait_for(timeout=WAIT)
    # a comparison's URL, reloaded, is that comparison
    page.goto(f"{app.url}?a={v1}&b={v2}")
    page.locator(f"#compare-player [data-run='{v2}'] video").wait_for(timeout=WAIT)
    page.reload()
    page.locator(f"#compare-player [data-run='{v1}'] video").wait_for(timeout=WAIT)
    assert f"a={v1}" in page.url and f"b={v2}" in page.url
    page.get_by_role("tab", name="Compare", selected=True).wait_for(timeout=WAIT)
