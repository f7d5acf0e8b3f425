"""The artist's first hour (issue 14), in a real browser against one app: a typed value is
never replaced behind their back, a launched run shows at once without an empty screen in
between, the table and the details agree, a rejected upload clears the input, progress
never contradicts itself, and a run without a video cannot be rated."""

from __future__ import annotations

import json
import sqlite3

import pytest

from tests.e2e.conftest import AppProcess, snapshot
from tests.e2e.waits import PAGE_READY, RUN_STARTS, goto_ready, wait_js

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def ui_app(tmp_path_factory):
    proc = AppProcess(tmp_path_factory.mktemp("first-hour"), sim_seconds=3)
    yield proc
    proc.stop()


def runs_in_db(app: AppProcess) -> list[dict]:
    db = app.config.parent / "data" / "cosmos.db"
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        rows = conn.execute("SELECT id, status, params FROM run ORDER BY id").fetchall()
    return [{"id": r[0], "status": r[1], "params": json.loads(r[2])} for r in rows]


def ready(page, app: AppProcess) -> None:
    goto_ready(page, app.url)


def type_into(page, selector: str, value) -> None:
    box = page.locator(selector)
    box.fill(str(value))
    box.press("Tab")


#: Records every text the Runs table, the run view and the log panel show, as painted: it
#: reads the page at each animation frame (just before the browser paints it), not at each
#: DOM mutation, so a state the page passes through between two of its own microtasks (a
#: component mounted a moment before its script fills it in) is not counted as one a person
#: saw (a parallel run recorded such a blank log that was never on screen).
RECORDER = """
window.__seen = [];
const look = () => {
  const text = s => { const el = document.querySelector(s); return el ? el.innerText : null; };
  const log = document.querySelector('#run-log textarea');
  const status = document.querySelector('#run-status');
  const now = [text('#history-box'), text('#run-status-box'),
               status ? status.dataset.status + ':' + status.dataset.run : null,
               log ? log.value + '|placeholder:' + log.placeholder : null];
  const last = window.__seen[window.__seen.length - 1];
  if (!last || JSON.stringify(last) !== JSON.stringify(now)) window.__seen.push(now);
};
const frame = () => { look(); requestAnimationFrame(frame); };
frame();
"""


def test_typed_weights_out_of_range_are_marked_and_nothing_is_queued(ui_app, page):
    """Gradio's slider clamps what is typed into its box when it loses focus (5 became 1,
    -1 became 0, and Run queued those); now the typed value stays, the field says what is
    wrong and what is allowed, and Run queues nothing."""
    ready(page, ui_app)
    page.set_viewport_size({"width": 1400, "height": 900})
    # the plan before launch, for the default sample (mandelbrot 640x360, 121 frames, 24 fps)
    plan = page.locator("#launch-plan").inner_text()
    assert "640x360, 121 frames at 24 fps; 1 chunk" in plan and "default" in plan, plan
    page.locator("#prompt textarea").fill("typed weights out of range")
    before = len(runs_in_db(ui_app))
    type_into(page, "#weight-edge input[type=number]", 5)
    type_into(page, "#weight-vis input[type=number]", -1)
    edge, vis = page.locator("#err-weights-edge"), page.locator("#err-weights-vis")
    edge.get_by_text("Weight for edge is 5").wait_for()
    vis.get_by_text("Weight for vis is -1").wait_for()
    wait_js(page, "['edge', 'vis'].every(c => document.querySelector('#err-weights-' + c)"
                  ".innerText.includes('between 0 and 1'))")
    assert page.locator("#weight-edge input[type=number]").input_value() == "5"
    assert page.locator("#weight-vis input[type=number]").input_value() == "-1"
    assert "outside 0 to 1" in page.locator("#weight-note").inner_text()
    snapshot(page.locator("#controls-section"), "first-hour-weights.png")
    page.locator("#run-button").click()
    page.locator("#create-message").get_by_text("Not queued").wait_for()
    assert "weights.edge" in page.locator("#create-message").inner_text()
    assert len(runs_in_db(ui_app)) == before  # nothing queued
    # fixed: the message goes away and Run queues exactly what the field shows
    type_into(page, "#weight-edge input[type=number]", 0.5)
    type_into(page, "#weight-vis input[type=number]", 0)
    wait_js(page, "document.querySelector('#err-weights-edge').innerText.trim() === '' && "
                  "document.querySelector('#err-weights-vis').innerText.trim() === ''")


def test_a_launched_run_shows_queued_at_once_with_no_empty_state(ui_app, page):
    ready(page, ui_app)
    page.locator("#prompt textarea").fill("shows up at once")
    page.evaluate(RECORDER)
    page.locator("#run-button").click()
    wait_js(page, "document.querySelector('#run-status') && "
                  "document.querySelector('#history-box tr.run-row')", RUN_STARTS)
    run_id = runs_in_db(ui_app)[-1]["id"]
    wait_js(page, f"document.querySelector('#run-status').dataset.run === '{run_id}' && "
                  f"document.querySelector('#history-box tr[data-id=\"{run_id}\"]')",
            RUN_STARTS)
    seen = page.evaluate("window.__seen")
    tables = [s[0] for s in seen if s[0] is not None]
    views = [s[1] for s in seen if s[1] is not None]
    assert not [t for t in tables if "No runs match" in t], tables
    assert not [v for v in views if "No run selected" in v], views
    statuses = [s[2] for s in seen if s[2]]
    assert statuses[0].endswith(run_id), statuses  # the first run shown is the new one
    # the log panel is never a blank box: it says the run is queued until lines arrive
    logs = [s[3] for s in seen if s[3] is not None and s[2] and s[2].startswith("queued")]
    assert all(v.split("|placeholder:")[0] or "Queued on sim" in v for v in logs), logs


#: Records every progress line the run view shows, with the status beside it.
PROGRESS_RECORDER = """
window.__progress = [];
const lookProgress = () => {
  const st = document.querySelector('#run-status');
  const bar = document.querySelector('#run-progress');
  if (!st || !bar) return;
  const now = [st.dataset.status, bar.innerText, bar.dataset.fraction];
  const last = window.__progress[window.__progress.length - 1];
  if (!last || JSON.stringify(last) !== JSON.stringify(now)) window.__progress.push(now);
};
new MutationObserver(lookProgress).observe(document.body, {subtree: true, childList: true,
                                                           characterData: true,
                                                           attributes: true});
"""


def test_a_failing_run_table_and_details_agree_and_progress_never_contradicts(ui_app, page):
    """An OOM run: the table's row ends `failed` like the details (it stayed `running` when
    an older render landed after a newer one), and the progress line never says done/100%
    before the run completed nor shows a folder of the box."""
    ready(page, ui_app)
    # held at sampling until the page has shown it running, then it runs out of memory
    page.locator("#prompt textarea").fill("[sim:hold] [sim:oom] runs out of memory")
    page.evaluate(PROGRESS_RECORDER)
    page.locator("#run-button").click()
    wait_js(page, "document.querySelector('#run-status') && "
                  "document.querySelector('#run-status').dataset.status === 'running'",
            RUN_STARTS)
    run_id = page.locator("#run-status").get_attribute("data-run")
    (ui_app.tmp_path / "data" / "sim-box" / "runs" / run_id / "outputs" / "sim-release").touch()
    wait_js(page, "document.querySelector('#run-status').dataset.status === 'failed'",
            RUN_STARTS)
    wait_js(page, f"document.querySelector('#history-box tr[data-id=\"{run_id}\"]')"
                  ".dataset.status === 'failed'")
    assert "failed" in page.locator(f"#history-box tr[data-id='{run_id}']").inner_text()
    seen = page.evaluate("window.__progress")
    assert any(status == "running" for status, _, _ in seen), seen
    for status, text, fraction in seen:
        if status != "completed":
            parts = text.split(" · ")
            assert "done" not in parts[0] and parts[1:2] != ["100%"], seen
            assert float(fraction) < 1.0, seen
            assert "ETA 0 s" not in text, seen
        assert "sim-box" not in text and "/runs/" not in text, seen
    snapshot(page, "first-hour-failed-run.png", full_page=False)


def test_a_rejected_upload_clears_the_input_and_run_is_refused(ui_app, page, tmp_path):
    """A real .txt dropped as the input video: Gradio's file-type check showed only a toast
    and Run launched on the sample still chosen. Now the field says why and what is allowed,
    the input is the refused upload (not the sample), and Run queues nothing."""
    notes = tmp_path / "notes.txt"
    notes.write_text("shot list: a lighthouse, a storm\n")
    ready(page, ui_app)
    page.locator("#prompt textarea").fill("must not run on the sample")
    before = len(runs_in_db(ui_app))
    page.locator("#input-upload input[type=file]").set_input_files(str(notes))
    error = page.locator("#err-input_video")
    error.get_by_text("notes.txt is not a video").wait_for()
    assert "mp4, mov, webm, mkv" in error.inner_text()
    assert page.locator("#input-choice input").input_value() == "(my upload)"
    assert "Sample" not in page.locator("#input-info").inner_text()
    page.locator("#run-button").click()
    page.locator("#create-message").get_by_text("Not queued").wait_for()
    assert "input_video" in page.locator("#create-message").inner_text()
    assert len(runs_in_db(ui_app)) == before


def test_a_run_without_a_video_cannot_be_rated_and_rerun_says_generation(ui_app, page):
    """Item 11: the failed OOM run has no video: its rating is closed and says why; a run
    with a video can be rated. Item 10: the Re-run message uses the UI's word for the type."""
    runs = runs_in_db(ui_app)
    failed = next(r["id"] for r in runs if r["status"] == "failed")
    done = next(r["id"] for r in runs if r["status"] == "completed")
    page.goto(ui_app.url + f"?run={failed}")
    wait_js(page, f"document.querySelector('#run-status').dataset.run === '{failed}'",
            PAGE_READY)
    wait_js(page, "document.querySelector('#review-rating input').disabled")
    assert "no video" in page.locator("#review-rating").inner_text().lower() or \
        "opens when the run has a video" in page.locator("#review-rating").inner_text()
    page.goto(ui_app.url + f"?run={done}")
    wait_js(page, f"document.querySelector('#run-status').dataset.run === '{done}'",
            PAGE_READY)
    wait_js(page, "!document.querySelector('#review-rating input').disabled")
    # the message is cleared as soon as the new run changes status: record what it said
    page.evaluate("""window.__said = [];
        new MutationObserver(() => { const m = document.querySelector('#kill-message');
            if (m && m.innerText.includes('Queued run')) window.__said.push(m.innerText); })
        .observe(document.body, {subtree: true, childList: true, characterData: true});""")
    page.locator("#rerun-button").click()
    wait_js(page, "window.__said.length > 0")
    message = page.evaluate("window.__said[0]")
    assert "(generation)" in message and "inference" not in message, message


def in_view(page, selector: str) -> bool:
    page.locator(selector).wait_for()
    return page.evaluate(f"""(() => {{ const r = document.querySelector({json.dumps(selector)})
        .getBoundingClientRect(); return r.height > 0 && r.top >= 0 &&
        r.bottom <= window.innerHeight; }})()""")


#: Scrolls a field's label under the Run bar; then whether the bar is what shows at points
#: along that label (nothing of the form painted over the bar).
BAR_COVERS_JS = """async (field) => {
  const bar = document.querySelector('#run-bar');
  const label = () => document.querySelector(field).getBoundingClientRect();
  window.scrollBy(0, label().top - (bar.getBoundingClientRect().top + 8));
  await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
  const l = label(), b = bar.getBoundingClientRect();
  const under = b.top < l.top + 6 && l.top + 6 < b.bottom;
  const points = [...Array(9).keys()].map(i => [l.left + 4 + i * (l.width - 8) / 8, l.top + 6]);
  return [under, points.filter(([x, y]) => !bar.contains(document.elementFromPoint(x, y)))
                       .map(([x, y]) => document.elementFromPoint(x, y).outerHTML.slice(0, 80))];
}"""


def test_run_kill_and_seg_prompt_are_where_a_person_needs_them(ui_app, page):
    """At 1400x900: Run is on screen wherever the form is scrolled, over what scrolls under it,
    and Ctrl+Enter in the prompt clicks it; the Presets box is not the top right; the Seg text prompt shows only
    with a seg weight; the Kill confirmation opens beside the Kill button clicked."""
    page.set_viewport_size({"width": 1400, "height": 900})
    ready(page, ui_app)
    assert in_view(page, "#run-button")
    page.get_by_text("Advanced", exact=True).click()
    page.locator("#upscale-weight input").scroll_into_view_if_needed()
    assert in_view(page, "#run-button")  # sticky at the bottom of the window
    # and drawn over the form: a label scrolled under it does not show through its message
    assert page.evaluate(BAR_COVERS_JS, "#weight-vis [data-testid=block-info]") == [True, []]
    spec_top = page.locator("#spec-preview").bounding_box()["y"]
    assert page.locator("#presets").bounding_box()["y"] > spec_top
    assert not page.locator("#seg-prompt").is_visible()
    type_into(page, "#weight-seg input[type=number]", 0.4)
    page.locator("#seg-prompt").wait_for(state="visible")
    type_into(page, "#weight-seg input[type=number]", 0)
    page.locator("#seg-prompt").wait_for(state="hidden")
    snapshot(page, "first-hour-create-1400x900.png", full_page=False)
    page.locator("#prompt textarea").fill("[sim:hang] launched with ctrl+enter")
    page.locator("#prompt textarea").press("Control+Enter")
    wait_js(page, "document.querySelector('#run-status') && "
                  "document.querySelector('#run-status').dataset.status === 'running'",
            RUN_STARTS)
    kill = page.locator("#kill-button")
    kill.evaluate("b => b.scrollIntoView({block: 'end'})")  # at the bottom edge of the window
    kill.click()
    confirm = page.locator("#kill-confirm")
    confirm.wait_for()
    below = kill.bounding_box()
    button = confirm.bounding_box()
    assert in_view(page, "#kill-confirm")
    assert abs(button["y"] - (below["y"] + below["height"])) < 300, (below, button)
    snapshot(page, "first-hour-kill-1400x900.png", full_page=False)
    confirm.click()
    wait_js(page, "document.querySelector('#run-status').dataset.status === 'cancelled'",
            RUN_STARTS)
