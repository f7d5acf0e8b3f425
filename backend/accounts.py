"""Who may sign in, and what each role may do.

Passwords are stored only as salted scrypt hashes (standard library, memory-hard, so a stolen
database does not give the passwords away cheaply); they are never logged. Roles are checked
on the server for every action, not only by hiding buttons: `require(user, ACTION)` is what
every event handler that changes something calls first.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import logging
import re
import secrets
import time
from dataclasses import dataclass

from backend.store import users

log = logging.getLogger(__name__)

OPERATOR = "operator"
REVIEWER = "reviewer"
ROLES = (OPERATOR, REVIEWER)

# What a reviewer may do; everything else is an operator's.
WATCH, REVIEW = "watch", "review"
LAUNCH, KILL, DELETE, RERUN, UPSCALE, ENHANCE, PRESETS, HOSTS = (
    "launch", "kill", "delete", "rerun", "upscale", "enhance", "presets", "hosts")
#: Review room (issue 17): notes, replies, drawings, review status and reports are REVIEW
#: (approving by a reviewer also needs the config's [review] reviewers_may_approve); making
#: and revoking review links is SHARE, an operator's.
SHARE = "share"
REVIEWER_ACTIONS = frozenset({WATCH, REVIEW})
ALL_ACTIONS = frozenset({WATCH, REVIEW, LAUNCH, KILL, DELETE, RERUN, UPSCALE, ENHANCE, PRESETS,
                         HOSTS, SHARE})

_USERNAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_SCRYPT = {"n": 2 ** 14, "r": 8, "p": 1}
MIN_PASSWORD = 8


class AccountError(ValueError):
    """A user-management request is invalid; the message says what is allowed."""


class Forbidden(PermissionError):
    """The signed-in user's role may not do this."""


@dataclass(frozen=True)
class Identity:
    """The person behind a request. `username` None means local use without sign-in."""

    username: str | None
    role: str

    def may(self, action: str) -> bool:
        allowed = {OPERATOR: ALL_ACTIONS, REVIEWER: REVIEWER_ACTIONS}.get(self.role, frozenset())
        return action in allowed


LOCAL_OPERATOR = Identity(None, OPERATOR)


def require(identity: Identity, action: str) -> None:
    """Refuse unless the identity's role allows `action` (call it before doing anything)."""
    if not identity.may(action):
        who = identity.username or "this user"
        log.warning("refused %s for %s (%s)", action, who, identity.role)
        raise Forbidden(f"{who} is a {identity.role} and may not {action}; ask an operator.")


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, dklen=32, **_SCRYPT)
    return "scrypt$%d$%d$%d$%s$%s" % (
        _SCRYPT["n"], _SCRYPT["r"], _SCRYPT["p"], base64.b64encode(salt).decode(),
        base64.b64encode(digest).decode())


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        actual = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt),
                                dklen=len(expected), n=int(n), r=int(r), p=int(p))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


@functools.cache
def _dummy_hash() -> str:
    """A fixed hash to compare against when the user does not exist, so a wrong username
    costs the same time as a wrong password (no username probing by timing). Made at the
    first sign-in, not at import: a scrypt is ~40 ms of every CLI start otherwise."""
    return hash_password(secrets.token_hex(16))


def add_user(username: str, password: str, role: str) -> None:
    if not _USERNAME_RE.match(username or ""):
        raise AccountError("A username is 1-64 letters, digits, '.', '_' or '-', starting with "
                           "a letter or digit.")
    if role not in ROLES:
        raise AccountError(f"Role {role!r} is not valid; use operator or reviewer.")
    if len(password or "") < MIN_PASSWORD:
        raise AccountError(f"A password needs at least {MIN_PASSWORD} characters.")
    if users.find(username) is not None:
        raise AccountError(f"User {username} already exists; remove it first to change it.")
    users.add(username, hash_password(password), role)
    log.info("added user %s (%s)", username, role)


def remove_user(username: str) -> None:
    """Remove a user; every browser they are signed in on is signed out at once."""
    if not users.remove(username):
        raise AccountError(f"No user named {username}.")
    log.info("removed user %s (their sessions ended)", username)


def change_password(username: str, password: str) -> int:
    """Set a new password and end every session signed in with the old one (how many)."""
    if len(password or "") < MIN_PASSWORD:
        raise AccountError(f"A password needs at least {MIN_PASSWORD} characters.")
    ended = users.set_password_hash(username, hash_password(password))
    if ended < 0:
        raise AccountError(f"No user named {username}.")
    log.info("changed the password of %s; %d session(s) ended", username, ended)
    return ended


# -- sessions (a signed-in browser) -----------------------------------------------------------
def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start_session(username: str, hours: float) -> str:
    """A new session for `username`: the cookie value (only its hash is stored)."""
    token = secrets.token_urlsafe(32)
    users.add_session(_token_hash(token), username, time.time() + hours * 3600)
    return token


def session_identity(token: str | None) -> Identity | None:
    """Who a session cookie signs in, checked against the database now: None once it has
    expired, been signed out, or its user was removed or changed password."""
    if not token or len(token) > 200:
        return None
    user = users.session_user(_token_hash(token), time.time())
    return Identity(user.username, user.role) if user else None


def end_session(token: str | None) -> None:
    if token:
        users.end_session(_token_hash(token))


def cli_identity(name: str) -> Identity:
    """Who the `cosmos` command acts as: the account of that name when there is one (its role
    applies: a reviewer's CLI may not launch either), else an operator of this machine
    (whoever runs `cosmos` here can already read and write its database)."""
    user = users.find(name)
    return Identity(name, user.role) if user else Identity(name, OPERATOR)


def list_users() -> list[tuple[str, str]]:
    return users.names_and_roles()


def has_users() -> bool:
    return users.any_exist()


def authenticate(username: str, password: str) -> bool:
    """True when the password is right (the Gradio login page calls this)."""
    user = users.find(username or "")
    ok = verify_password(password or "", user.password_hash if user else _dummy_hash())
    if not (ok and user):
        log.warning("failed sign-in for %r", username)
    return bool(ok and user)


def identity_of(username: str | None, sign_in_required: bool) -> Identity:
    """The identity behind a request's signed-in username (from Gradio's request)."""
    if not sign_in_required:
        return LOCAL_OPERATOR
    user = users.find(username or "")
    if user is None:
        return Identity(username, "nobody")
    return Identity(user.username, user.role)
