"""The Hosts tab in a real browser: doctor's failures with their fixes, and a Set up that runs
as a tracked setup run with a live log, after which the box passes.

The simulator box is made to miss a guardrail checkpoint before the app starts (the stand-in
checkout is installed by `cosmos doctor`, then one of its files removed), as a box whose
download half failed would.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.conftest import snapshot, AppProcess
from tests.e2e.waits import RUN_FINISHES, wait_js

pytestmark = pytest.mark.e2e

GUARD = "nvidia/Cosmos-Guardrail1/video_content_safety_filter/safety_filter.pt"


def _break_box(app: AppProcess) -> None:
    app.cli("doctor")  # installs the stand-in checkout
    checkout = app.tmp_path / "data" / "sim-box" / "cosmos-transfer1"
    (checkout / "checkpoints" / GUARD).unlink()


@pytest.fixture
def broken(tmp_path):
    proc = AppProcess(tmp_path, sim_seconds=2, before=_break_box)
    yield proc
    proc.stop()


def test_hosts_tab_shows_doctor_failures_and_sets_the_box_up(broken, page):
    page.goto(broken.url)
    page.locator("button[role=tab]:has-text('Hosts')").first.click()
    card = page.locator(".host-card[data-host='sim']")
    card.locator(".doctor-checks li.doctor-fail").first.wait_for()
    card.get_by_text("reachable, doctor fails").wait_for()
    failing = card.locator("li.doctor-fail").first.inner_text()
    assert "checkpoints" in failing and GUARD in failing
    assert "fix: cosmos setup sim" in failing
    snapshot(page, "ui-hosts-doctor-fails.png")

    card.locator("[data-host-action='setup']").click()
    wait_js(page, "document.querySelector('#run-log textarea').value.includes('fetching "
            f"{GUARD}')", timeout=RUN_FINISHES)
    wait_js(page, "document.querySelector('#run-status').dataset.status === 'completed'",
            timeout=RUN_FINISHES)
    log = page.locator("#run-log textarea").input_value()
    assert "15 of 16 present, reusing them; fetching 1" in log and "ready: " in log
    assert page.locator("#run-params").get_by_text("transfer1 manifest").is_visible()
    snapshot(page, "ui-setup-run.png")
    assert Path(broken.tmp_path / "data" / "sim-box" / "cosmos-transfer1" / "checkpoints"
                / GUARD).is_file()

    page.locator("button[role=tab]:has-text('Hosts')").first.click()
    wait_js(page, "document.querySelector(\".host-card[data-host='sim'] .doctor\")"
            ".innerText.includes('checks pass')", timeout=RUN_FINISHES)
    assert card.locator("li.doctor-fail").count() == 0
    card.get_by_text("reachable", exact=True).wait_for()
    snapshot(page, "ui-hosts-after-setup.png")
