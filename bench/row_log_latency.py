"""Row 3, log latency: a line written by a container -> visible in the browser's run view.

The app is launched as a person would (`python launch.py --skip-install --config ...`) with the
shipped scheduler timings, one long run is started on the simulator box, and headless Debian
Chromium (Playwright) opens its run view. Then a second simulated container, started through
the box's own engine (`cosmos-sim run -d`), appends timestamped lines to that run's `run.log`
at random 50-200 ms intervals, exactly where Cosmos' own output goes. In the page, a script
polls the run view's log element (`#run-log`: a textarea's value, or the element's text if the
UI changes it) every 5 ms and records when each line first shows up.

Ours: write -> visible in the browser, p50 / p95 over 100 lines (50 with --quick).
Baseline: the same lines' write -> stored (`operations.log_since` polled every 5 ms from
another process): what the follower alone costs. Goal: p95 <= 0.1 s.

The second row does the same with the run driven by a separate `cosmos worker` process (the
worker claims and follows the run; the app only shows it): the line goes box -> worker ->
SQLite -> the app's event relay -> the page's push stream -> the browser.
"""

from __future__ import annotations

import sys
import threading
import time

from bench.common import (SAMPLE, Context, Line, free_port, launch_app, missing,
                          stop_sim_containers, try_import, wait_until, write_config)
from bench.stats import Goal

NAME = "log_latency"
TITLE = "3 log latency"
GOAL = Goal("ours", "<=", 0.1, "s")
ROW = "3 log line -> browser"
ROW_WORKER = "3 log line -> browser, run driven by a separate cosmos worker"
MARK = "BENCHLINE"

WRITER = r"""
import os, random, sys, time
path, count = sys.argv[1], int(sys.argv[2])
rng = random.Random(20261124)
fd = os.open(path, os.O_WRONLY | os.O_APPEND)
for i in range(count):
    time.sleep(rng.uniform(0.05, 0.2))
    os.write(fd, ("BENCHLINE %d %.6f\n" % (i, time.time())).encode())
os.close(fd)
"""

# Polls whatever holds the run view's log every 5 ms and notes when each mark first appears.
WATCH_JS = r"""
() => {
  window.__seen = {};
  const re = /BENCHLINE (\d+) /g;
  const text = () => {
    const el = document.querySelector('#run-log');
    if (!el) return '';
    const area = el.querySelector('textarea');
    return area ? area.value : (el.textContent || '');
  };
  window.__watch = setInterval(() => {
    const t = text();
    const now = Date.now();
    re.lastIndex = 0;
    let m;
    while ((m = re.exec(t)) !== null) {
      if (!(m[1] in window.__seen)) window.__seen[m[1]] = now;
    }
  }, 5);
}
"""

LOG_HAS_TEXT_JS = r"""
() => {
  const el = document.querySelector('#run-log');
  if (!el) return false;
  const area = el.querySelector('textarea');
  const t = area ? area.value : (el.textContent || '');
  return t.trim().length > 0;
}
"""


def _chromium() -> tuple[str, list[str]]:
    """Debian's Chromium and the flags the e2e tests use (tests/e2e/conftest.py)."""
    try:
        from tests.e2e.conftest import CHROMIUM_ARGS, chromium_path

        return chromium_path(), list(CHROMIUM_ARGS)
    except ImportError:
        import shutil
        from pathlib import Path

        for candidate in ("/usr/lib/chromium/chromium", shutil.which("chromium") or ""):
            if candidate and Path(candidate).exists():
                return candidate, ["--no-sandbox", "--headless=new", "--disable-gpu",
                                   "--disable-dev-shm-usage", "--no-first-run"]
        raise RuntimeError("Debian's chromium is not installed (make deps installs it)")


def _open_runs_tab(page) -> None:
    """Show the Runs tab (its timers tick only while it shows); the UI renders tabs late."""
    try:
        page.wait_for_selector("[role=tab]", timeout=30_000)
    except Exception:
        return  # no tabs any more: the run view is on the first page
    for selector in ("#tab-runs-button", "button[role=tab]:has-text('Runs')",
                     "[role=tab]:has-text('Runs')"):
        target = page.locator(selector)
        if target.count():
            target.first.click()
            return


def run(ctx: Context) -> list[Line]:
    ops_mod = try_import("backend.operations")
    run_view = try_import("components.run_view")
    if ops_mod is None or run_view is None or missing(ops_mod.Operations, "log_since", "launch"):
        return [Line.not_built(row, "s", GOAL, "run view or Operations.log_since missing",
                               stat="p95") for row in (ROW, ROW_WORKER)]
    try:
        from playwright.sync_api import sync_playwright  # noqa: F401
    except ImportError:
        return [Line.failed(row, "s", GOAL, "playwright is not installed (make deps)",
                            stat="p95") for row in (ROW, ROW_WORKER)]
    lines = []
    for row, via_worker in ((ROW, False), (ROW_WORKER, True)):
        try:
            lines.append(_measure(ctx, ops_mod, run_view, row, via_worker))
        except Exception as exc:  # one row failing must not hide the other
            lines.append(Line.failed(row, "s", GOAL, f"{type(exc).__name__}: {exc}",
                                     stat="p95"))
    return lines


def _start_worker(config, folder):
    import subprocess

    log = open(folder / "worker.log", "wb")
    return subprocess.Popen([sys.executable, "-m", "backend.cli", "--config", str(config),
                             "worker"], stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)


def _measure(ctx: Context, ops_mod, run_view, row: str, via_worker: bool) -> Line:
    from playwright.sync_api import sync_playwright
    from backend import store as st
    from backend.config import load_config
    from backend.remote.shell import LocalShell
    chromium_path, chromium_args = _chromium()

    count = 50 if ctx.quick else 100
    folder = ctx.scratch("log-latency-worker" if via_worker else "log-latency")
    port = free_port()
    config = write_config(folder, port=port, sim_seconds=900)
    settings = load_config(config)
    host = settings.hosts["sim"]
    worker = _start_worker(config, folder) if via_worker else None
    app = None if via_worker else launch_app(config, port, folder)
    store = None
    writes: dict[int, float] = {}
    stored: dict[int, float] = {}
    seen: dict[int, float] = {}
    try:
        if app is not None:
            ctx.log(f"log latency: app up in {app.wait_http():.1f} s on port {port}")
        store = st.Store(settings.db_path)
        ops = ops_mod.Operations(settings, store)
        params = ops.default_params()
        params.prompt = "benchmark: a long run whose log we watch"
        params.input_video = str(SAMPLE)
        summary = ops.launch(params, name="log latency")
        run_id = summary.id
        wait_until(lambda: store.get_run(run_id).status == st.RUNNING, 120, 0.05,
                   "the run to start")
        wait_until(lambda: store.get_run(run_id).log_lines > 0, 60, 0.05,
                   "the run's first log lines")
        if via_worker:  # the worker drives the run; the app only shows it
            driver = store.get_run(run_id).worker_id
            app = launch_app(config, port, folder)
            ctx.log(f"log latency (worker): app up in {app.wait_http():.1f} s on port {port}")
        log_path = f"{host.remote_root}/runs/{run_id}/run.log"

        stop = threading.Event()

        def poll_store() -> None:  # the baseline: when each line is in the store
            after = store.get_run(run_id).log_lines - 1
            while not stop.is_set():
                for seq, text in ops.log_since(run_id, after):
                    after = max(after, seq)
                    if text.startswith(MARK):
                        stored.setdefault(int(text.split()[1]), time.time())
                time.sleep(0.005)

        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium_path, headless=True,
                                        args=chromium_args)
            try:
                page = browser.new_context(viewport={"width": 1280, "height": 1000}).new_page()
                page.goto(app.url)
                _open_runs_tab(page)
                page.wait_for_function(LOG_HAS_TEXT_JS, timeout=60_000)
                page.evaluate(WATCH_JS)
                poller = threading.Thread(target=poll_store, daemon=True)
                poller.start()
                started = LocalShell("bench").run(
                    list(host.docker) + ["run", "-d", "--name", "bench-log-writer", host.image,
                                         sys.executable, "-c", WRITER, log_path, str(count)])
                if not started.ok:
                    raise RuntimeError(f"cannot start the writer container: {started.err}")
                deadline = time.monotonic() + count * 0.2 + 30
                while time.monotonic() < deadline:
                    done = page.evaluate("() => Object.keys(window.__seen).length")
                    if done >= count and len(stored) >= count:
                        break
                    page.wait_for_timeout(200)
                seen = {int(k): v / 1000.0 for k, v in
                        page.evaluate("() => window.__seen").items()}
                stop.set()
                poller.join(5)
            finally:
                browser.close()
        text = open(log_path, encoding="utf-8", errors="replace").read()
        for line in text.splitlines():
            if line.startswith(MARK):
                _, seq, at = line.split()
                writes[int(seq)] = float(at)
        if via_worker and store.get_run(run_id).worker_id != driver:
            raise RuntimeError("the app took the run over from the worker: not what this row "
                               "measures")
    finally:
        if store is not None:
            store.close()
        if app is not None:
            app.stop()
        if worker is not None:
            worker.terminate()
            worker.wait(30)
        stop_sim_containers(host)
    browser_lat = [seen[i] - writes[i] for i in sorted(writes) if i in seen]
    store_lat = [stored[i] - writes[i] for i in sorted(writes) if i in stored]
    if not browser_lat:
        return Line.failed(row, "s", GOAL, f"no line reached the page's #run-log element "
                           f"({len(store_lat)} of {count} reached the store)", stat="p95")
    note = f"{len(browser_lat)}/{count} lines seen in the page, {len(store_lat)} in the store"
    return Line.measured(
        row, "s", GOAL, browser_lat, store_lat, stat="p95",
        ours_label="write -> visible in #run-log (Chromium)",
        baseline_label="write -> in the store (operations.log_since)", note=note,
        details={"lines": count, "poll_interval": settings.poll_interval,
                 "pushed": True, "via_worker": via_worker})
