"""Sign-in accounts: hashing, roles and the checks every handler makes."""

from __future__ import annotations

import pytest

from backend import accounts, store as st


@pytest.fixture
def store(tmp_path):
    s = st.Store(tmp_path / "db.sqlite")
    yield s
    s.close()


def test_passwords_are_salted_slow_hashes_never_plain(store):
    accounts.add_user("ann", "correct horse battery", accounts.OPERATOR)
    row = st.User.get(st.User.username == "ann")
    assert "correct horse" not in row.password_hash and row.password_hash.startswith("scrypt$")
    assert accounts.authenticate("ann", "correct horse battery")
    assert not accounts.authenticate("ann", "wrong password!")
    assert not accounts.authenticate("nobody", "correct horse battery")
    assert accounts.hash_password("same pass") != accounts.hash_password("same pass")


@pytest.mark.parametrize("name, password, role, message", [
    ("bad name!", "longenough", "reviewer", "letters, digits"),
    ("bob", "short", "reviewer", "at least 8"),
    ("bob", "longenough", "admin", "operator or reviewer"),
])
def test_bad_accounts_are_refused(store, name, password, role, message):
    with pytest.raises(accounts.AccountError, match=message):
        accounts.add_user(name, password, role)
    assert not accounts.has_users()


def test_roles(store):
    accounts.add_user("rita", "reviewer-pass", accounts.REVIEWER)
    rita = accounts.identity_of("rita", sign_in_required=True)
    assert rita.may(accounts.WATCH) and rita.may(accounts.REVIEW)
    for action in (accounts.LAUNCH, accounts.KILL, accounts.DELETE, accounts.RERUN,
                   accounts.UPSCALE, accounts.ENHANCE):
        with pytest.raises(accounts.Forbidden):
            accounts.require(rita, action)
    stranger = accounts.identity_of("ghost", sign_in_required=True)
    with pytest.raises(accounts.Forbidden):
        accounts.require(stranger, accounts.WATCH)
    local = accounts.identity_of(None, sign_in_required=False)
    accounts.require(local, accounts.DELETE)
