"""Accounts as stored: usernames, password hashes (never passwords) and roles."""

from __future__ import annotations

import time

from backend.store.models import User


def find(username: str) -> User | None:
    return User.get_or_none(User.username == username) if username else None


def add(username: str, password_hash: str, role: str) -> None:
    User.create(username=username, password_hash=password_hash, role=role,
                created_at=time.time())


def remove(username: str) -> bool:
    return bool(User.delete().where(User.username == username).execute())


def names_and_roles() -> list[tuple[str, str]]:
    return [(u.username, u.role) for u in User.select().order_by(User.username)]


def any_exist() -> bool:
    return User.select().exists()
