"""The studio in the browser (issue 16): sign in, "Only mine" one click away in Runs and
Gallery, the owner in the run view, the Usage tab."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import snapshot, AppProcess
from tests.e2e.waits import UI_REACTS
from tests.helpers import SAMPLE

ANN = ("ann", "operator", "ann-password-1")
BOB = ("bob", "operator", "bob-password-1")


def _runs(app: AppProcess) -> None:
    for owner, prompt in (("ann", "ann's neon street"), ("bob", "bob's harbour"),
                          ("ann", "ann's rainy alley")):
        app.env["COSMOS_USER"] = owner
        app.cli("run", prompt, "--input", str(SAMPLE), "--wait")
    app.env.pop("COSMOS_USER")


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    proc = AppProcess(tmp_path_factory.mktemp("studio"), sim_seconds=0.5,
                      extra_args=["--sign-in"], users=[ANN, BOB], before=_runs)
    yield proc
    proc.stop()


def wait_attr(page, selector: str, attr: str, value: str, timeout: float = UI_REACTS) -> None:
    page.wait_for_function(
        f"() => document.querySelector({selector!r})?.getAttribute({attr!r}) === {value!r}",
        timeout=timeout)


def sign_in(page, app, user) -> None:
    page.goto(app.url)
    page.get_by_label("username").fill(user[0])
    page.get_by_label("password").fill(user[2])
    page.get_by_role("button", name="Login").click()
    page.wait_for_selector("#signed-in-as", timeout=60_000)


def test_only_mine_is_one_click_in_runs_and_gallery(app, page):
    sign_in(page, app, ANN)
    page.locator("button[role=tab]:has-text('Runs')").first.click()
    wait_attr(page, "#history-count", "data-total", "3")
    page.locator("#filter-mine input").check()
    wait_attr(page, "#history-count", "data-total", "2")
    owners = page.locator("#history-table td.owner").all_inner_texts()
    assert owners == ["ann", "ann"], owners
    snapshot(page, "ui-runs-only-mine.png")
    assert "by ann" in page.inner_text("#run-status-box")
    page.locator("button[role=tab]:has-text('Gallery')").first.click()
    wait_attr(page, "#gallery-count", "data-total", "3")
    page.locator("#gallery-mine input").check()
    wait_attr(page, "#gallery-count", "data-total", "2")


def test_usage_tab_shows_each_persons_gpu_hours(app, page):
    sign_in(page, app, BOB)
    page.locator("button[role=tab]:has-text('Usage')").first.click()
    page.wait_for_selector("#usage-table tr[data-key='ann']", timeout=30_000)
    text = page.inner_text("#usage-table")
    assert "ann" in text and "bob" in text and "GPU-hours" in text
    runs = page.locator("#usage-table tr[data-key='ann'] td").nth(2).inner_text()
    assert runs == "2"
    snapshot(page, "ui-usage.png")
