"""Accounts as stored: usernames, password hashes (never passwords), roles and sessions.

A session row holds only the SHA-256 of its cookie: a copied database signs nobody in.
"""

from __future__ import annotations

import time

from backend.store.models import Session, User, db


def find(username: str) -> User | None:
    return User.get_or_none(User.username == username) if username else None


def add(username: str, password_hash: str, role: str) -> None:
    User.create(username=username, password_hash=password_hash, role=role,
                created_at=time.time())


def remove(username: str) -> bool:
    """Remove a user and end every session of theirs, in one transaction."""
    with db.atomic("IMMEDIATE"):
        Session.delete().where(Session.username == username).execute()
        return bool(User.delete().where(User.username == username).execute())


def set_password_hash(username: str, password_hash: str) -> int:
    """A new password; every session of the user ends with the old one. Returns how many
    sessions ended (-1: no such user)."""
    with db.atomic("IMMEDIATE"):
        if not User.update(password_hash=password_hash).where(
                User.username == username).execute():
            return -1
        live = Session.select().where((Session.username == username)
                                      & (Session.expires_at > time.time())).count()
        Session.delete().where(Session.username == username).execute()
        return live


def names_and_roles() -> list[tuple[str, str]]:
    return [(u.username, u.role) for u in User.select().order_by(User.username)]


def any_exist() -> bool:
    return User.select().exists()


# -- sessions ---------------------------------------------------------------------------------
def add_session(token_hash: str, username: str, expires_at: float) -> None:
    now = time.time()
    with db.atomic("IMMEDIATE"):
        Session.delete().where(Session.expires_at < now).execute()  # tidy as we go
        Session.create(token_hash=token_hash, username=username, created_at=now,
                       expires_at=expires_at)


def session_user(token_hash: str, now: float) -> User | None:
    """The user of a live session (not expired, user still there), or None."""
    row = (User.select(User, Session.expires_at)
           .join(Session, on=(Session.username == User.username))
           .where((Session.token_hash == token_hash) & (Session.expires_at > now))
           .first())
    return row


def end_session(token_hash: str) -> None:
    Session.delete().where(Session.token_hash == token_hash).execute()


def end_sessions_of(username: str) -> int:
    return Session.delete().where(Session.username == username).execute()


def count_sessions(username: str) -> int:
    return Session.select().where((Session.username == username)
                                  & (Session.expires_at > time.time())).count()
