"""Row 9, UI actions: what a click costs in the app, against a bare Gradio event round trip.

The app is launched as a person would (`python launch.py --skip-install --config ...`) over a
data folder with 14 finished runs written in before it starts (tests/e2e/seed.py: videos,
thumbnails, logs). Headless Debian Chromium (Playwright) then does what an artist does, each
timed in the page from just before the action to the first frame that shows its result
(a `wait_for_function` polled every 5 ms records `performance.now()` when it comes true):

  * search: type "boat" into the Runs search -> the count says 5 (and clear it -> all);
  * open a run: click a row of the Runs table -> the run view shows that run;
  * load settings: "Load settings into Create" -> the Create prompt is the run's prompt
    (from the moment the button is still: the open's scroll to the run view has ended);
  * gallery pick: click a card in the Gallery -> the player says that run.

Baseline: `bench/bare_gradio.py --echo` (a Textbox, a Button, an HTML output), in the same
browser: set the text, click -> the output shows it. One event's round trip with nothing of
ours; rounds alternate ours / bare so load hits both alike. Goal: ours / bare <= 1.5x (medians).

Second row, "Run -> queued": the Create form's Run -> the run view shows the new run (queued, or
already further), clicked once the spec preview shows the prompt just typed; goal p95 <= 0.3 s,
with the bare round trip beside it.
"""

from __future__ import annotations

import sys

from bench.common import (ROOT, Context, Line, ServerProcess, free_port, launch_app,
                          stop_sim_containers, write_config)
from bench.stats import Goal

NAME = "ui_actions"
TITLE = "9 UI actions"
GOAL = Goal("ratio", "<=", 1.5)
GOAL_QUEUED = Goal("ours", "<=", 0.3, "s")
ACTIONS = ("search", "open a run", "gallery pick", "load settings")
ROW = "9 UI action: {}"
ROW_QUEUED = "9 Run -> queued"
N_RUNS = 14

#: Starts the clock in the page; the condition passed to `_until` stops it.
START = "() => { window.__t0 = performance.now(); }"


def _until(page, condition: str, timeout: float = 60_000) -> float:
    """Seconds from START to the first 5 ms poll at which `condition` (a JS expression) holds."""
    page.wait_for_function(
        "() => { try { if (" + condition + ") { window.__t1 = performance.now(); return true; }"
        " } catch (e) {} return false; }", polling=5, timeout=timeout)
    return page.evaluate("() => (window.__t1 - window.__t0) / 1000")


def _q(selector: str) -> str:
    return f"document.querySelector({selector!r})"


def _tab(page, name: str) -> None:
    page.locator(f"button[role=tab]:has-text('{name}')").first.click()


def _bare_round_trip(page, i: int) -> float:
    page.locator("#bare-text textarea, #bare-text input").first.fill(f"echo {i}")
    page.evaluate(START)
    page.locator("#bare-button").click()
    return _until(page, f"{_q('#bare-out')}.innerText.trim() === 'echo {i}'")


def _search(page, word: str, total: int) -> float:
    box = page.locator("#history-search textarea, #history-search input").first
    page.evaluate(START)
    box.fill(word)
    return _until(page, f"{_q('#history-count')}.dataset.total === '{total}'")


def _open_run(page, ids: list[str], i: int) -> float:
    run_id = ids[i % len(ids)]
    page.evaluate(START)
    page.locator(f"#history-table tr[data-id='{run_id}'] td.title").click()
    return _until(page, f"{_q('#run-status')}.dataset.run === '{run_id}'")


def _gallery_pick(page, ids: list[str], i: int) -> float:
    run_id = ids[-1 - (i % 6)]  # the first page of cards, newest first
    page.evaluate(START)
    page.locator(f"#gallery-grid .g-card[data-id='{run_id}'] img").click()
    return _until(page, f"{_q('#gallery-player-info')}.innerText.includes('{run_id}')")


#: Resolves once the element has kept its place for three animation frames.
STILL = """s => new Promise(done => {
  let last = null, same = 0;
  const step = () => {
    const r = document.querySelector(s).getBoundingClientRect();
    const at = r.x + ',' + r.y;
    same = at === last ? same + 1 : 0;
    last = at;
    if (same >= 3) done(true); else requestAnimationFrame(step);
  };
  requestAnimationFrame(step);
})"""


def _load_settings(page, run_id: str, prompt: str) -> float:
    """From the run view of `run_id` (open), to Create with its settings. The clock starts
    once the button is still: opening a run from a row low on the page scrolls the run view
    up smoothly (runs_table.ROW_JS), and a person clicks the button where it comes to rest
    (Playwright's click waits for a still target too, so ~0.4 s of that scroll was counted
    as the load's)."""
    page.wait_for_function(f"() => {_q('#run-status')}?.dataset.run === '{run_id}'"
                           f" && !{_q('#load-settings-button')}.disabled", timeout=60_000)
    page.evaluate(STILL, "#load-settings-button")
    page.evaluate(START)
    page.locator("#load-settings-button").click()
    return _until(page, f"{_q('#prompt textarea')}.value === {prompt!r}")


def _run_queued(page, known: set[str], i: int) -> float:
    """Type a prompt, then Run -> the run view shows the new run. The clock starts once the
    spec preview shows the typed prompt: the typing's own event (the preview's round trip and
    render) has landed, as it has by the time a person's hand reaches Run; before, the
    click was made within a millisecond of the fill and that event was counted as the
    launch's (a probe of the page's fetches and stream: the launch's answer waited behind
    it, 60-250 ms in some rounds)."""
    _tab(page, "Create")
    # held at sampling ([sim:hold]) so the launches never finish: the Gallery and the Runs
    # table the other actions use keep their pages (the app's stop ends them)
    prompt = f"benchmark launch {i}: a quiet harbour [sim:hold]"
    page.locator("#prompt textarea").fill(prompt)
    page.wait_for_function("p => document.querySelector('#spec-preview .cm-content')"
                           "?.innerText.includes(p)", arg=prompt, timeout=60_000)
    page.evaluate(START)
    page.locator("#run-button").click()
    seen = ", ".join(repr(k) for k in known)
    seconds = _until(page, f"(s => s && s.dataset.run && ![{seen}].includes(s.dataset.run))"
                           f"({_q('#run-status')})")
    known.add(page.locator("#run-status").get_attribute("data-run"))
    return seconds


def run(ctx: Context) -> list[Line]:
    rows = [ROW.format(a) for a in ACTIONS]
    try:
        from playwright.sync_api import sync_playwright

        from bench.row_log_latency import _chromium
        from tests.e2e.seed import seed_runs
    except ImportError as exc:
        return [Line.failed(r, "s", GOAL, f"cannot import: {exc}") for r in rows] + \
            [Line.failed(ROW_QUEUED, "s", GOAL_QUEUED, f"cannot import: {exc}", stat="p95")]
    rounds = 4 if ctx.quick else 10
    folder = ctx.scratch("ui-actions")
    port, bare_port = free_port(), free_port()
    config = write_config(folder, port=port, sim_seconds=30, max_concurrent=4)
    ids = seed_runs(config, N_RUNS)
    from backend import store as st
    from backend.config import load_config

    store = st.Store(load_config(config).db_path)
    try:
        prompts = {r: store.get_run(r).params_dict()["prompt"] for r in ids}
    finally:
        store.close()
    app = launch_app(config, port, folder)
    bare = ServerProcess([sys.executable, str(ROOT / "bench" / "bare_gradio.py"), "--echo",
                          "--port", str(bare_port)], bare_port, folder / "bare.log", folder)
    ours: dict[str, list[float]] = {a: [] for a in ACTIONS + ("queued",)}
    base: dict[str, list[float]] = {a: [] for a in ACTIONS + ("queued",)}
    chromium_path, chromium_args = _chromium()
    try:
        ctx.log(f"ui actions: app up in {app.wait_http():.1f} s, bare in {bare.wait_http():.1f} s")
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium_path, headless=True,
                                        args=chromium_args)
            try:
                viewport = {"width": 1400, "height": 900}
                page = browser.new_context(viewport=viewport).new_page()
                page.set_default_timeout(60_000)
                bare_page = browser.new_context(viewport=viewport).new_page()
                bare_page.set_default_timeout(60_000)
                bare_page.goto(bare.url)
                bare_page.locator("#bare-button").wait_for()
                page.goto(app.url)
                page.wait_for_function("() => document.querySelector('#spec-preview "
                                       ".cm-content')?.innerText.includes('prompt')",
                                       timeout=90_000)
                _bare_round_trip(bare_page, -1)  # warm both
                known: set[str] = set(ids)
                boats = [r for r in ids if "boat" in prompts[r]]
                for i in range(rounds + 1):
                    total = len(known)  # the seeded runs and the launches so far
                    _tab(page, "Runs")
                    page.locator("#history-table tr[data-id]").first.wait_for()
                    ours_s = _search(page, "boat", len(boats))
                    _record(i, "search", ours_s, _bare_round_trip(bare_page, i), ours, base)
                    run_id = boats[i % len(boats)]
                    _record(i, "open a run", _open_run(page, [run_id], 0),
                            _bare_round_trip(bare_page, i), ours, base)
                    _record(i, "load settings", _load_settings(page, run_id, prompts[run_id]),
                            _bare_round_trip(bare_page, i), ours, base)
                    _record(i, "queued", _run_queued(page, known, i),
                            _bare_round_trip(bare_page, i), ours, base)
                    _tab(page, "Runs")
                    _record(i, "search", _search(page, "", total + 1),
                            _bare_round_trip(bare_page, i), ours, base)
                    _tab(page, "Gallery")
                    page.locator(f"#gallery-grid .g-card[data-id='{ids[-1]}']").wait_for()
                    _record(i, "gallery pick", _gallery_pick(page, ids, i),
                            _bare_round_trip(bare_page, i), ours, base)
                    ctx.log(f"ui actions round {i or 'warm-up'}: " + ", ".join(
                        f"{a} {ours[a][-1] * 1000:.0f} ms" for a in ours if ours[a] and i))
            finally:
                browser.close()
    finally:
        app.stop()
        bare.stop()
        stop_sim_containers(load_config(config).hosts["sim"])
    bare_label = "bench/bare_gradio.py --echo: set a Textbox, click a Button -> its HTML output"
    lines = [Line.measured(ROW.format(a), "s", GOAL, ours[a], base[a], paired=True,
                           ours_label=f"{a} in Chromium against launch.py ({N_RUNS} runs)",
                           baseline_label=bare_label,
                           note=f"{rounds} alternating rounds after a warm-up")
             for a in ACTIONS]
    lines.append(Line.measured(ROW_QUEUED, "s", GOAL_QUEUED, ours["queued"], base["queued"],
                               stat="p95", ours_label="Run in Create -> the run view shows "
                               "the new run", baseline_label=bare_label,
                               note=f"{rounds} launches; the runs queue on the simulator box"))
    return lines


def _record(i: int, action: str, ours_s: float, bare_s: float,
            ours: dict[str, list[float]], base: dict[str, list[float]]) -> None:
    if i:  # round 0 warms the page, the server and the caches
        ours[action].append(ours_s)
        base[action].append(bare_s)
