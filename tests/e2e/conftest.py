"""End-to-end fixtures: the app launched as a person would (python launch.py), and Chromium.

Debian's Chromium is driven through Playwright with `executable_path` (browsers cannot be
downloaded here). Screenshots land in tests/artifacts/ for a person to look at. Every browser
context gets the generous default timeouts of tests/e2e/waits.py (make them with new_context).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import urllib.request
import warnings
from pathlib import Path

import pytest
from playwright.sync_api import Error as PlaywrightError

from tests.e2e.waits import set_default_timeouts
from tests.helpers import APP_STARTS, ROOT, RUN_FINISHES, free_port, wait_for, write_config

ARTIFACTS = ROOT / "tests" / "artifacts"
CHROMIUM_ARGS = ["--no-sandbox", "--headless=new", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic",
                 "--autoplay-policy=no-user-gesture-required"]


def chromium_path() -> str:
    for candidate in ("/usr/lib/chromium/chromium", shutil.which("chromium") or ""):
        if candidate and Path(candidate).exists():
            return candidate
    raise RuntimeError("Debian's chromium is not installed: run `make test`, which installs it")


class AppProcess:
    def __init__(self, tmp_path: Path, sim_seconds: float, *, extra_args: list[str] = (),
                 users: list[tuple[str, str, str]] = (), before=None, **config) -> None:
        """`users`: (name, role, password) made with the CLI before launch; `before(self)`
        runs after that, also before launch (e.g. to make a run with the CLI). `config`:
        more arguments of tests.helpers.write_config (sim_load_share, extra_ui, ...)."""
        self.tmp_path = tmp_path
        self.log_path = tmp_path / "app.log"
        self._config = config
        self._use_port(free_port(), sim_seconds)
        env = dict(os.environ, PYTHONUNBUFFERED="1", GRADIO_ANALYTICS_ENABLED="False")
        self.env = env
        for name, role, password in users:
            self.cli("user", "add", name, "--role", role, "--password-stdin", input=password)
        if before is not None:
            before(self)
        for attempt in range(3):
            with open(self.log_path, "wb") as log:
                self.proc = subprocess.Popen(
                    [sys.executable, str(ROOT / "launch.py"), "--skip-install", "--config",
                     str(self.config), *extra_args], cwd=str(tmp_path), env=env,
                    stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
            try:
                wait_for(self._answers, timeout=APP_STARTS, interval=0.2,
                         what="the app to serve HTTP")
                return
            except AssertionError:
                # the free port was taken between probing and binding (parallel test
                # processes): try another; anything else is a real failure
                text = self.log_path.read_text(errors="replace").lower()
                if attempt == 2 or self.proc.poll() is None or not (
                        "empty port" in text or "address already in use" in text):
                    raise
                self._use_port(free_port(), sim_seconds)

    def _use_port(self, port: int, sim_seconds: float) -> None:
        self.port = port
        self.config = write_config(self.tmp_path, sim_seconds=sim_seconds, port=port,
                                   **self._config)
        self.url = f"http://127.0.0.1:{port}/"

    def cli(self, *args: str, input: str | None = None, timeout: float = RUN_FINISHES
            ) -> subprocess.CompletedProcess:
        """`cosmos --config CFG ARGS...` against this app's data; fails loudly."""
        done = subprocess.run([sys.executable, "-m", "backend.cli", "--config", str(self.config),
                               *args], cwd=str(ROOT), env=self.env, input=input, text=True,
                              capture_output=True, timeout=timeout)
        assert done.returncode == 0, f"cosmos {' '.join(args)} failed:\n{done.stderr[-2000:]}"
        return done

    def _answers(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError("app exited early:\n" + self.log_path.read_text()[-3000:])
        try:
            with urllib.request.urlopen(self.url, timeout=2) as response:
                return response.status == 200
        except OSError:
            return False

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


@pytest.fixture
def app(tmp_path):
    proc = AppProcess(tmp_path, sim_seconds=3)
    yield proc
    proc.stop()


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium_path(), headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


def new_context(browser, **options):
    """A browser context (a separate browser profile) with the suite's default timeouts."""
    context = browser.new_context(**options)
    set_default_timeouts(context)
    return context


def snapshot(page, name: str, full_page: bool = True) -> None:
    """Save a picture of `page` (a page or a locator) in tests/artifacts/ for a person to look at. A diagnostic, not
    an assertion: a page too busy to be pictured in time is no test failure (a full-page
    capture waits for the renderer, which a loaded 2-core machine may hold for long)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    try:
        # a locator (one element) is pictured as it is; a page whole, or its window
        extra = {"full_page": full_page} if hasattr(page, "goto") else {}
        page.screenshot(path=str(ARTIFACTS / name), timeout=20_000, **extra)
    except PlaywrightError as exc:
        warnings.warn(f"no screenshot {name}: {exc}")


@pytest.fixture
def page(browser, request):
    context = new_context(browser, viewport={"width": 1280, "height": 1000})
    pg = context.new_page()
    yield pg
    try:
        snapshot(pg, f"{request.node.name}-final.png")
    finally:
        context.close()
