"""Review links: an operator hands reviewers a URL that shows just some versions, until it
expires or is revoked, optionally behind a passphrase (as ftrack's client reviews do).

The URL carries a random token; the store keeps only its sha256, so the database alone cannot
be turned back into working links. Every use of a link checks it again (`open_review_link`),
so an expired or revoked link stops working at once, even on a page that already opened it.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any, Sequence

from backend import accounts
from backend.ids import is_valid_id
from backend.models.checks import FieldError
from backend.operations.errors import NotFound, ValidationFailed

TITLE_MAX = 200
PASSPHRASE_MIN, PASSPHRASE_MAX = 4, 200
MAX_RUNS = 100
#: The URL query key that carries a link's token.
QUERY_KEY = "review"


class LinkRefused(PermissionError):
    """The link cannot be used now; `reason` is expired, revoked, unknown, passphrase or
    wrong_passphrase, and the message says it to the person who opened it."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class LinkScope:
    """What an open link shows: these runs only."""

    link_id: str
    title: str
    run_ids: tuple[str, ...]
    expires_at: float

    def allows(self, run_id: str | None) -> bool:
        return bool(run_id) and run_id in self.run_ids


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


def parse_duration(text: str) -> float:
    """'3d', '12h', '90m' or '45s' (or a plain number of hours) as seconds; ValueError."""
    raw = (text or "").strip().lower()
    units = {"d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0}
    unit = units.get(raw[-1:]) if raw else None
    number = raw[:-1] if unit else raw
    try:
        value = float(number)
    except ValueError:
        raise ValueError(f"{text!r} is not a duration; write e.g. 3d, 12h, 90m or 45s") from None
    return value * (unit or 3600.0)


class ReviewLinkOps:
    """A mixin of Operations (settings, store)."""

    def create_review_link(self, run_ids: Sequence[str], *, expires_in: float,
                           created_by: str | None, title: str = "",
                           passphrase: str | None = None) -> dict[str, Any]:
        """Make a link to these runs valid for `expires_in` seconds. Returns the link with its
        `token` (shown this once: only its hash is stored)."""
        errors: list[FieldError] = []
        ids = list(dict.fromkeys(r.strip() for r in run_ids if r and r.strip()))
        if not ids:
            errors.append(FieldError("runs", "Choose at least one version to share."))
        elif len(ids) > MAX_RUNS:
            errors.append(FieldError("runs", f"A link shares at most {MAX_RUNS} versions, not "
                                     f"{len(ids)}."))
        missing = [r for r in ids if not is_valid_id(r) or not self.store.has_run(r)]
        if missing:
            errors.append(FieldError("runs", "No run " + ", ".join(missing[:3]) + "."))
        longest = self.settings.review_link_max_days * 86400.0
        try:
            seconds = float(expires_in)
        except (TypeError, ValueError):
            seconds = -1.0
        if not 0 < seconds <= longest:
            errors.append(FieldError("expires", f"A link lasts from 1 second up to "
                                     f"{self.settings.review_link_max_days} days "
                                     "([review] link_max_days)."))
        title = (title or "").strip()
        if len(title) > TITLE_MAX:
            errors.append(FieldError("title", f"A title is at most {TITLE_MAX} characters."))
        if passphrase and not PASSPHRASE_MIN <= len(passphrase) <= PASSPHRASE_MAX:
            errors.append(FieldError("passphrase", f"A passphrase has {PASSPHRASE_MIN} to "
                                     f"{PASSPHRASE_MAX} characters (or leave it empty)."))
        if errors:
            raise ValidationFailed(errors)
        token = secrets.token_urlsafe(24)
        link = self.store.create_review_link(
            token_hash=token_hash(token), title=title, run_ids=ids,
            created_by=created_by or "local", expires_at=time.time() + seconds,
            passphrase_hash=accounts.hash_password(passphrase) if passphrase else None)
        return dict(self._link_dict(link), token=token)

    def open_review_link(self, token: str | None, passphrase: str | None = None,
                         *, unlocked: bool = False) -> LinkScope:
        """The versions a link shows, or LinkRefused saying why not. `unlocked`: this page
        already gave the right passphrase (the link is still checked for expiry and
        revocation every time)."""
        link = self.store.review_link_by_hash(token_hash(token)) if token else None
        if link is None:
            raise LinkRefused("unknown", "This review link is not valid: check that it was "
                              "copied whole, or ask the operator for a new one.")
        if link.revoked_at is not None:
            raise LinkRefused("revoked", "This review link was revoked by "
                              f"{link.revoked_by or 'an operator'}; ask for a new one.")
        if time.time() >= link.expires_at:
            raise LinkRefused("expired", "This review link has expired ("
                              + time.strftime("%Y-%m-%d %H:%M", time.localtime(link.expires_at))
                              + "); ask the operator for a new one.")
        if link.passphrase_hash and not unlocked:
            if not passphrase:
                raise LinkRefused("passphrase", "This review link needs its passphrase.")
            if not accounts.verify_password(passphrase, link.passphrase_hash):
                raise LinkRefused("wrong_passphrase", "That passphrase is not right.")
        return LinkScope(link.id, link.title, tuple(json.loads(link.run_ids)),
                         link.expires_at)

    def review_links(self) -> list[dict[str, Any]]:
        return [self._link_dict(link) for link in self.store.review_links()]

    def revoke_review_link(self, link_id: str, username: str | None) -> dict[str, Any]:
        link = self.store.get_review_link((link_id or "").strip())
        if link is None:
            raise NotFound(link_id)
        return self._link_dict(self.store.revoke_review_link(link.id, username or "local"))

    @staticmethod
    def _link_dict(link: Any) -> dict[str, Any]:
        now = time.time()
        state = ("revoked" if link.revoked_at is not None else
                 "expired" if now >= link.expires_at else "active")
        return {"id": link.id, "title": link.title, "run_ids": json.loads(link.run_ids),
                "created_by": link.created_by, "created_at": link.created_at,
                "expires_at": link.expires_at, "revoked_at": link.revoked_at,
                "revoked_by": link.revoked_by, "passphrase": bool(link.passphrase_hash),
                "state": state}
