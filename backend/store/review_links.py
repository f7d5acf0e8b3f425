"""Review links as stored: which versions, until when, revoked or not (never the token)."""

from __future__ import annotations

import json
import time
from typing import Sequence

from backend.events.types import ReviewChanged
from backend.ids import new_id
from backend.store.models import ReviewLink


class ReviewLinkStore:
    """A mixin of Store (needs `writing` and `emit`)."""

    def create_review_link(self, *, token_hash: str, title: str, run_ids: Sequence[str],
                           created_by: str, expires_at: float,
                           passphrase_hash: str | None) -> ReviewLink:
        with self.writing():
            link = ReviewLink.create(id=new_id(), token_hash=token_hash, title=title,
                                     run_ids=json.dumps(list(run_ids)), created_by=created_by,
                                     created_at=time.time(), expires_at=expires_at,
                                     passphrase_hash=passphrase_hash)
            self.emit(ReviewChanged("", what="link", ref=link.id))
        return link

    def review_link_by_hash(self, token_hash: str) -> ReviewLink | None:
        return ReviewLink.get_or_none(ReviewLink.token_hash == token_hash)

    def get_review_link(self, link_id: str) -> ReviewLink | None:
        return ReviewLink.get_or_none(ReviewLink.id == link_id)

    def review_links(self, limit: int = 100) -> list[ReviewLink]:
        """The newest links first."""
        return list(ReviewLink.select().order_by(ReviewLink.id.desc()).limit(limit))

    def revoke_review_link(self, link_id: str, username: str) -> ReviewLink | None:
        """Revoke at once; published, so every page showing the link drops it."""
        with self.writing():
            count = (ReviewLink.update(revoked_at=time.time(), revoked_by=username)
                     .where((ReviewLink.id == link_id) & ReviewLink.revoked_at.is_null())
                     .execute())
            if count:
                self.emit(ReviewChanged("", what="link", ref=link_id))
        return self.get_review_link(link_id)
