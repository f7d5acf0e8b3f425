"""Review links in Chromium (issue 17): an operator makes a link for one version in the page;
a reviewer who opens it after signing in sees just that version; when the operator revokes it
the reviewer's open page drops it at once; a link past its expiry is refused; a passphrase
link opens only with its passphrase."""

from __future__ import annotations

import json
import re
import time

import pytest

from tests.e2e.conftest import snapshot, ARTIFACTS, AppProcess
from tests.e2e.review_helpers import OPERATOR, REVIEWER, WAIT, open_tab, sign_in
from tests.helpers import SAMPLE

pytestmark = pytest.mark.e2e


def _two_runs(app: AppProcess) -> None:
    for name in ("shared", "private"):
        app.cli("run", f"a {name} shot", "--input", str(SAMPLE), "--name", name, "--wait")


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    proc = AppProcess(tmp_path_factory.mktemp("review-links"), sim_seconds=0.5,
                      extra_args=["--sign-in"], users=[OPERATOR, REVIEWER], before=_two_runs)
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def ids(app):
    return {r["name"]: r["id"] for r in json.loads(app.cli("--json", "list", "runs").stdout)[
        "runs"]}


def total(page, selector: str = "#history-count") -> str | None:
    return page.locator(selector).get_attribute("data-total")


def wait_total(page, value: int, selector: str = "#history-count") -> None:
    page.wait_for_function(f"() => document.querySelector('{selector}')?.dataset.total"
                           f" === '{value}'", timeout=WAIT)


def token_of(url: str) -> str:
    return re.search(r"review=([A-Za-z0-9_-]+)", url).group(1)


def test_a_link_shows_just_its_versions_and_revoking_drops_it_at_once(app, ids, browser):
    operator_ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    reviewer_ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        op, rv = operator_ctx.new_page(), reviewer_ctx.new_page()
        sign_in(op, app.url, OPERATOR)
        open_tab(op, "Runs")
        op.locator("#review-links").get_by_text("Review links").click()
        op.locator("#link-runs input").click()
        op.get_by_role("option", name=re.compile(ids["shared"][-8:])).click()
        op.locator("#link-title input, #link-title textarea").first.fill("Dailies Monday")
        op.locator("#link-make").click()
        url_box = op.locator("#link-url input, #link-url textarea").first
        url_box.wait_for(timeout=WAIT)
        op.wait_for_function("() => { const el = document.querySelector('#link-url input,"
                             " #link-url textarea'); return el && el.value.includes("
                             "'review='); }", timeout=WAIT)
        url = url_box.input_value()
        assert url.startswith(app.url.rstrip("/") + "/?review=")
        op.locator("#links-table tr[data-state=active]").wait_for(timeout=WAIT)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        snapshot(op, "review-link-made.png")

        sign_in(rv, app.url, REVIEWER, f"?review={token_of(url)}")
        rv.locator("#review-link-open").wait_for(timeout=WAIT)
        assert "Dailies Monday" in rv.inner_text("#review-link-open")
        wait_total(rv, 1)
        assert rv.locator("#history-table tr[data-id]").get_attribute("data-id") == \
            ids["shared"]
        rv.wait_for_function(f"() => document.querySelector('#run-video .rp')?.dataset.runId"
                             f" === '{ids['shared']}'", timeout=WAIT)
        open_tab(rv, "Gallery")
        wait_total(rv, 1, "#gallery-count")
        snapshot(rv, "review-link-reviewer.png")
        # asking the linked page for the other version by URL shows the linked one instead
        rv.goto(f"{app.url}?review={token_of(url)}&run={ids['private']}")
        rv.locator("#review-link-open").wait_for(timeout=WAIT)
        rv.wait_for_function(f"() => document.querySelector('#run-video .rp')?.dataset.runId"
                             f" === '{ids['shared']}'", timeout=WAIT)
        wait_total(rv, 1)

        # the operator revokes it: the reviewer's open page drops it without a reload
        op.locator("#links-table .link-revoke").click()
        op.locator("#links-table tr[data-state=revoked]").wait_for(timeout=WAIT)
        rv.locator("#review-link-refused[data-reason=revoked]").wait_for(timeout=WAIT)
        wait_total(rv, 0)
        rv.wait_for_function("() => !document.querySelector('#run-video .rp')", timeout=WAIT)
        snapshot(rv, "review-link-revoked.png")
        rv.reload()
        rv.locator("#review-link-refused[data-reason=revoked]").wait_for(timeout=WAIT)
        wait_total(rv, 0)
    finally:
        operator_ctx.close()
        reviewer_ctx.close()


def test_a_link_after_its_expiry_is_refused(app, ids, page):
    made = json.loads(app.cli("--json", "link", "create", ids["shared"], "--expires", "2s",
                              "--base-url", app.url).stdout)["link"]
    while time.time() <= made["expires_at"]:  # wait for the clock, not for the app
        time.sleep(0.1)
    sign_in(page, app.url, REVIEWER, f"?review={token_of(made['url'])}")
    refused = page.locator("#review-link-refused[data-reason=expired]")
    refused.wait_for(timeout=WAIT)
    assert "expired" in refused.inner_text()
    wait_total(page, 0)
    assert page.locator("#run-video .rp").count() == 0


def test_a_passphrase_link_opens_only_with_its_passphrase(app, ids, page):
    import subprocess
    import sys

    from tests.helpers import ROOT

    done = subprocess.run([sys.executable, "-m", "backend.cli", "--config", str(app.config),
                           "--json", "link", "create", ids["private"], "--expires", "1h",
                           "--passphrase-stdin", "--base-url", app.url], cwd=str(ROOT),
                          input="open sesame\n", capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    link = json.loads(done.stdout)["link"]
    sign_in(page, app.url, REVIEWER, f"?review={token_of(link['url'])}")
    page.locator("#link-passphrase-box").wait_for(timeout=WAIT)
    wait_total(page, 0)  # nothing shows before the passphrase
    page.locator("#link-passphrase input").fill("wrong guess")
    page.locator("#link-unlock").click()
    page.locator("#err-passphrase").get_by_text("not right").wait_for(timeout=WAIT)
    page.locator("#link-passphrase input").fill("open sesame")
    page.locator("#link-unlock").click()
    page.locator("#review-link-open").wait_for(timeout=WAIT)
    wait_total(page, 1)
    page.wait_for_function(f"() => document.querySelector('#run-video .rp')?.dataset.runId"
                           f" === '{ids['private']}'", timeout=WAIT)
