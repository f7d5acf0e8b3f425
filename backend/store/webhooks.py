"""The webhook delivery log: one row per attempt, and the claim that makes one process the
sender of a notice when several hear the same event."""

from __future__ import annotations

import time

from peewee import IntegrityError

from backend.store.models import (APPROVED, GAVE_UP, RETRYING, SENDING, DELIVERED, Run,
                                  RunTransition, StatusChange, WebhookDelivery)


class WebhookStore:
    """A mixin of Store (needs `writing`). Writes publish nothing: the log is read when a
    run's details are shown, and a delivery must never wake the scheduler or the pages."""

    def notice_key(self, hook: str, run_id: str, event: str, status: str) -> str | None:
        """The name of the notice an event stands for: the webhook, the run, the event and
        the newest transition (or review change) into `status`. The same on every process
        that hears the event; None if the run or that change is gone (deleted since)."""
        if event == "approved":
            row = (StatusChange.select(StatusChange.id)
                   .where((StatusChange.run == run_id) & (StatusChange.status == APPROVED))
                   .order_by(StatusChange.id.desc()).first())
            tag = f"r{row.id}" if row else None
        else:
            row = (RunTransition.select(RunTransition.id)
                   .where((RunTransition.run == run_id) & (RunTransition.status == status))
                   .order_by(RunTransition.id.desc()).first())
            tag = f"t{row.id}" if row else None
        return f"{hook}:{run_id}:{event}:{tag}" if tag else None

    def claim_delivery_attempt(self, *, key: str, run_id: str, hook: str, event: str,
                               attempt: int) -> int | None:
        """Write attempt `attempt` of a notice as being sent; None when another process
        already wrote it (that process delivers) or the run is gone."""
        try:
            with self.writing():
                if not Run.select().where(Run.id == run_id).exists():
                    return None
                row = WebhookDelivery.create(run=run_id, hook=hook, event=event, key=key,
                                             attempt=attempt, at=time.time(), outcome=SENDING)
        except IntegrityError:
            return None
        return row.id

    def finish_delivery_attempt(self, delivery_id: int, *, status_code: int | None,
                                error: str | None, delivered: bool, retrying: bool) -> None:
        outcome = DELIVERED if delivered else RETRYING if retrying else GAVE_UP
        with self.writing():
            (WebhookDelivery.update(status_code=status_code, error=error, outcome=outcome,
                                    answered_at=time.time())
             .where(WebhookDelivery.id == delivery_id).execute())

    def webhook_deliveries(self, run_id: str) -> list[WebhookDelivery]:
        """Every attempt for a run, oldest first."""
        return list(WebhookDelivery.select().where(WebhookDelivery.run == run_id)
                    .order_by(WebhookDelivery.id))
