"""Review-link checks: which versions the page in front of a request may show.

A page opened with `?review=<token>` shows only that link's versions, and only while the link
holds: every check asks the store again (backend/operations/review_links.py), so an expired
link is refused from its expiry on and a revoked one at once, even on a page that already
opened it. The token (and whether this page gave the right passphrase) is kept on the server,
in the page's state (components/live.py), never trusted from the browser.

Kept apart from auth.py (who may do what) on purpose: this is about what a page shows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr

from backend.operations.review_links import LinkRefused, LinkScope

KEY = "review_link"


@dataclass(frozen=True)
class PageScope:
    """What a page may show: everything (no link), a link's runs, or nothing (a refused link)."""

    link: LinkScope | None = None
    refused: LinkRefused | None = None
    has_link: bool = False

    @property
    def everything(self) -> bool:
        return not self.has_link

    def allows(self, run_id: str | None) -> bool:
        if not run_id:
            return False
        if not self.has_link:
            return True
        return self.link is not None and run_id in self.link.run_ids

    def filter_ids(self) -> tuple[str, ...] | None:
        """For RunFilter.ids: () any run, a tuple only those, None none at all."""
        if not self.has_link:
            return ()
        return tuple(self.link.run_ids) if self.link else None


class LinkGate:
    """Asks, per page, which runs it may show (one per app; `live` holds the pages)."""

    def __init__(self, ops: Any, live: Any) -> None:
        self.ops = ops
        self.live = live

    def _data(self, page: Any) -> dict:
        return page.data.setdefault(KEY, {})

    def open(self, request: gr.Request | None, token: str | None) -> PageScope:
        """The page was opened with a link (or with none: `token` empty)."""
        page = self.live.page(request)
        data = self._data(page)
        data.clear()
        if token:
            data["token"] = token.strip()
        return self.scope_of_page(page)

    def unlock(self, request: gr.Request | None, passphrase: str | None) -> PageScope:
        """The person gave the link's passphrase; right once is enough for this page."""
        page = self.live.page(request)
        data = self._data(page)
        token = data.get("token")
        if not token:
            return PageScope()
        try:
            self.ops.open_review_link(token, passphrase or "")
        except LinkRefused as refused:
            return PageScope(refused=refused, has_link=True)
        data["unlocked"] = True
        return self.scope_of_page(page)

    def scope_of_page(self, page: Any) -> PageScope:
        data = self._data(page)
        token = data.get("token")
        if not token:
            return PageScope()
        try:
            return PageScope(link=self.ops.open_review_link(
                token, unlocked=bool(data.get("unlocked"))), has_link=True)
        except LinkRefused as refused:
            return PageScope(refused=refused, has_link=True)

    def scope(self, request: gr.Request | None) -> PageScope:
        return self.scope_of_page(self.live.page(request))

    def has_link(self, page: Any) -> bool:
        return bool(self._data(page).get("token"))

    def check(self, request: gr.Request | None, run_id: str | None) -> None:
        """Raise a gr.Error (nothing done) unless this page may show `run_id`."""
        scope = self.scope(request)
        if not scope.allows(run_id):
            if scope.refused is not None:
                raise gr.Error(str(scope.refused))
            raise gr.Error("That version is not part of the review link this page shows.")
