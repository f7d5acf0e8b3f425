"""Sign-in rules on their own: the throttle's waits and lockout (a clock we move), sessions
that expire and end with their user or password, the config of people, the CLI's identity,
and the event guard keeping each handler's kind."""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
import time

import pytest

from backend import accounts
from backend import store as st
from backend.config.reader import ConfigError
from backend.throttle import Throttle
from tests.helpers import make_settings


def run_apart(coroutine):
    """asyncio.run on a thread of its own: an xdist worker that ran a browser test first has
    Playwright's event loop running on its main thread, where asyncio.run refuses to start."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result(timeout=60)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_waits_grow_then_lock_then_start_again():
    clock = Clock()
    t = Throttle(free=2, lockout_after=5, lockout_seconds=60, clock=clock)
    assert t.failed("ann").allowed and t.failed("ann").wait == 1
    assert not t.check("ann").allowed  # must wait a second
    clock.now += 1
    assert t.check("ann").allowed and t.failed("ann").wait == 2
    clock.now += 2
    assert t.failed("ann").wait == 4
    clock.now += 4
    locked = t.failed("ann")
    assert locked.locked and locked.wait == 60
    clock.now += 59
    assert not t.check("ann").allowed and t.check("ann").locked
    assert t.check("bob").allowed  # another key is not affected
    clock.now += 2
    assert t.check("ann").allowed and t.failed("ann").wait == 0  # a fresh start


def test_success_clears_the_count():
    t = Throttle(free=2, lockout_after=3, lockout_seconds=60, clock=Clock())
    t.failed("ann")
    t.succeeded("ann")
    assert t.check("ann").allowed and t.failed("ann").wait == 0


@pytest.fixture
def store(tmp_path):
    s = st.Store(tmp_path / "db.sqlite")
    yield s
    s.close()


def test_sessions_expire_and_end_with_their_user_or_password(store):
    accounts.add_user("ann", "ann-password", "operator")
    accounts.add_user("rita", "rita-password", "reviewer")
    short = accounts.start_session("ann", hours=0.5 / 3600)
    keep = accounts.start_session("ann", hours=1)
    other = accounts.start_session("rita", hours=1)
    assert accounts.session_identity(keep) == accounts.Identity("ann", "operator")
    time.sleep(0.7)
    assert accounts.session_identity(short) is None  # expired
    assert st.Session.select().where(st.Session.token_hash == keep).count() == 0  # only hashes
    assert accounts.change_password("ann", "new-password") == 1  # the live one ended
    assert accounts.session_identity(keep) is None
    accounts.remove_user("rita")
    assert accounts.session_identity(other) is None
    assert accounts.session_identity("forged") is None and accounts.session_identity("") is None
    with pytest.raises(accounts.AccountError):
        accounts.change_password("nobody", "whatever-pw")
    with pytest.raises(accounts.AccountError):
        accounts.change_password("ann", "short")


def test_the_cli_acts_as_its_user_with_that_accounts_role(store, monkeypatch):
    from backend.config.people import cli_user

    accounts.add_user("rita", "rita-password", "reviewer")
    monkeypatch.setenv("COSMOS_USER", "rita")
    assert cli_user("configured") == "rita"
    assert not accounts.cli_identity("rita").may(accounts.LAUNCH)
    assert accounts.cli_identity("someone").may(accounts.LAUNCH)  # not an account: local
    monkeypatch.setenv("COSMOS_USER", "bad name!")
    with pytest.raises(ValueError):
        cli_user(None)
    monkeypatch.delenv("COSMOS_USER")
    assert cli_user("configured") == "configured"


def test_fair_share_config_is_checked(tmp_path):
    settings = make_settings(tmp_path, extra_top="[fair_share]\nshare = 1\nmax_gpus = 8\n"
                             "[fair_share.users.ann]\nshare = 3\n[cli]\nuser = \"ann\"\n")
    assert settings.fair_share.of("ann").share == 3
    assert settings.fair_share.of("ann").max_gpus == 8  # the defaults fill the rest
    assert settings.cli_user == "ann"
    for bad, words in (("[fair_share]\nshare = 0\n", "share"),
                       ("[fair_share.users.ann]\nmax_gpus = -1\n", "max_gpus"),
                       ("[fair_share.users.ann]\nlimit = 3\n", "unknown key"),
                       ("[fair_share.users.\"bad name\"]\nshare = 1\n", "user name")):
        with pytest.raises(ConfigError, match=words):
            make_settings(tmp_path, extra_top=bad)
    with pytest.raises(ConfigError, match="sign_in_lockout_after"):
        make_settings(tmp_path, extra_ui="sign_in_free_attempts = 5\nsign_in_lockout_after = 4")


def test_the_guard_keeps_each_handlers_kind_and_signature():
    pytest.importorskip("gradio")
    from cosmos_ui.guard import guarded

    class Ops:
        sign_in_required = False

    def plain(a, b=1):
        return a + b

    async def coro(a):
        return a

    def gen(n):
        yield from range(n)

    async def agen(n):
        for i in range(n):
            yield i

    ops = Ops()
    assert guarded(plain, ops)(1) == 2
    assert inspect.signature(guarded(plain, ops)) == inspect.signature(plain)
    assert inspect.iscoroutinefunction(guarded(coro, ops))
    assert run_apart(guarded(coro, ops)(5)) == 5
    assert inspect.isgeneratorfunction(guarded(gen, ops)) and list(guarded(gen, ops)(3)) == [
        0, 1, 2]
    assert inspect.isasyncgenfunction(guarded(agen, ops))

    async def collect():
        return [i async for i in guarded(agen, ops)(2)]
    assert run_apart(collect()) == [0, 1]
