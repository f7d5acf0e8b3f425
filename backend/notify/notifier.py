"""Delivering webhooks from the process that runs the scheduler, beside it, never in its way.

Why a thread and a queue per webhook: the bus calls subscribers in the publisher's thread
(the scheduler's, inside its status changes), so the subscriber only puts the event in a
queue and returns; each webhook's own thread then reads the run, sends, waits out its backoff
and retries. A slow or dead endpoint therefore delays nothing but its own later notices:
not a status change, not another webhook.

Several processes may run schedulers on one database (the app, `cosmos worker`), and every
one hears every event through the relay. Each attempt is claimed in the store first
(`claim_delivery_attempt`, unique per notice and attempt), so exactly one of them sends.
Deliveries still waiting for a retry when the process stops are not sent by anyone; the log
shows the last attempt's answer.
"""

from __future__ import annotations

import dataclasses
import heapq
import itertools
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

from backend.config.notify import NotifySettings, WebhookConfig
from backend.events.types import Event, ReviewChanged, StatusChanged
from backend.notify import payload
from backend.notify.send import Answer, NotReady, post, resolve
from backend.store.models import APPROVED

log = logging.getLogger(__name__)

#: Run statuses a webhook can hear, by the event name it subscribes with.
STATUS_EVENTS = {"queued": "queued", "running": "started", "completed": "completed",
                 "failed": "failed", "cancelled": "cancelled", "blocked": "blocked"}


def event_name(event: Event) -> tuple[str, str] | None:
    """(webhook event, run status it is about) for a bus event, or None if no webhook
    hears of it."""
    if isinstance(event, StatusChanged) and event.status in STATUS_EVENTS:
        return STATUS_EVENTS[event.status], event.status
    if isinstance(event, ReviewChanged) and event.what == "status" and event.ref == APPROVED:
        return "approved", APPROVED
    return None


def run_facts(run: Any, review_status: str | None = None) -> payload.RunFacts:
    """What a notice says about a store Run row."""
    try:
        prompt = str(run.params_dict().get("prompt") or "")
    except ValueError:
        prompt = ""
    return payload.RunFacts(id=run.id, status=run.status, owner=run.owner or "",
                            model=run.model, host=run.host, name=run.name or "",
                            prompt=prompt, output_path=run.output_path,
                            failure_cause=run.failure_cause, review_status=review_status)


def render(hook: WebhookConfig, event: str, facts: payload.RunFacts, *, delivery: str,
           public_url: str | None, test: bool = False) -> bytes:
    body = (payload.slack_body(event, facts, public_url=public_url, test=test)
            if hook.format == "slack" else
            payload.json_body(event, facts, delivery=delivery, public_url=public_url,
                              test=test))
    return payload.encode(body)


@dataclass
class _Job:
    run_id: str
    event: str
    status: str
    attempt: int = 0
    key: str | None = None
    raw: bytes | None = None


class _HookWorker:
    """One webhook's queue (jobs due now or after a backoff) and the thread that sends."""

    def __init__(self, hook: WebhookConfig, notifier: "Notifier") -> None:
        self.hook = hook
        self.notifier = notifier
        self._due: list[tuple[float, int, _Job]] = []
        self._seq = itertools.count()
        self._cond = threading.Condition()
        self._stopping = False
        self._busy = False
        self.thread = threading.Thread(target=self._loop, name=f"webhook-{hook.name}",
                                       daemon=True)

    def put(self, job: _Job, at: float = 0.0) -> None:
        with self._cond:
            heapq.heappush(self._due, (at, next(self._seq), job))
            self._cond.notify()

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()

    def idle(self) -> bool:
        """Nothing queued, nothing being sent (retries waiting count as queued)."""
        with self._cond:
            return not self._due and not self._busy

    def _next(self) -> _Job | None:
        clock = self.notifier.clock
        with self._cond:
            while not self._stopping:
                if self._due and self._due[0][0] <= clock():
                    self._busy = True
                    return heapq.heappop(self._due)[2]
                wait = self._due[0][0] - clock() if self._due else None
                self._cond.wait(wait)
            return None

    def _loop(self) -> None:
        while True:
            job = self._next()
            if job is None:
                return
            try:
                self._handle(job)
            except Exception:  # a bug must not end this webhook's deliveries
                log.exception("webhook %s: delivering %s of run %s failed", self.hook.name,
                              job.event, job.run_id)
            finally:
                with self._cond:
                    self._busy = False

    def _handle(self, job: _Job) -> None:
        n = self.notifier
        if job.key is None:
            job.key = n.store.notice_key(self.hook.name, job.run_id, job.event, job.status)
            run = n.store.get_run(job.run_id) if job.key else None
            if run is None:
                log.info("webhook %s: run %s is gone; %s not sent", self.hook.name,
                         job.run_id, job.event)
                return
            facts = run_facts(run, APPROVED if job.event == "approved" else None)
            if job.event != "approved":  # the status the event is about, not a later one
                facts = dataclasses.replace(facts, status=job.status)
            job.raw = render(self.hook, job.event, facts,
                             delivery=job.key, public_url=n.settings.public_url)
        job.attempt += 1
        claimed = n.store.claim_delivery_attempt(key=job.key, run_id=job.run_id,
                                                 hook=self.hook.name, event=job.event,
                                                 attempt=job.attempt)
        if claimed is None:
            log.debug("webhook %s: %s attempt %d is another process's", self.hook.name,
                      job.key, job.attempt)
            return
        answer = n.send(self.hook, job.raw or b"", event=job.event, delivery=job.key)
        retry = answer.retry and not answer.ok and job.attempt < n.settings.max_attempts
        n.store.finish_delivery_attempt(claimed, status_code=answer.status_code,
                                        error=None if answer.ok else answer.describe(),
                                        delivered=answer.ok, retrying=retry)
        if answer.ok:
            log.info("webhook %s: %s of run %s delivered (HTTP %s, attempt %d)",
                     self.hook.name, job.event, job.run_id, answer.status_code, job.attempt)
            return
        if retry:
            wait = n.settings.backoff_seconds * 2 ** (job.attempt - 1)
            log.warning("webhook %s: %s of run %s attempt %d: %s; again in %.1f s",
                        self.hook.name, job.event, job.run_id, job.attempt,
                        answer.describe(), wait)
            self.put(job, n.clock() + wait)
        else:
            log.warning("webhook %s: %s of run %s not delivered after %d attempt(s): %s",
                        self.hook.name, job.event, job.run_id, job.attempt,
                        answer.describe())


class Notifier:
    """Hears the bus, and has each webhook's thread deliver what it subscribes to."""

    def __init__(self, settings: NotifySettings, store: Any, *,
                 send: Callable[..., Answer] = post, clock: Callable[[], float] = time.monotonic
                 ) -> None:
        self.settings = settings
        self.store = store
        self.send = send
        self.clock = clock
        self._workers = [_HookWorker(h, self) for h in settings.webhooks]
        self._unsubscribe: Callable[[], None] | None = None

    def start(self) -> "Notifier":
        if not self._workers or self._unsubscribe is not None:
            return self
        for worker in self._workers:
            worker.thread.start()
        self._unsubscribe = self.store.bus.subscribe(self._hear, kinds=("status", "review"))
        log.info("webhooks: delivering to %s", ", ".join(w.hook.name for w in self._workers))
        for worker in self._workers:  # say it now, not only at the first notice
            try:
                resolve(worker.hook)
            except NotReady as exc:
                log.warning("webhook %s: %s", worker.hook.name, exc)
        return self

    def _hear(self, event: Event) -> None:
        """The bus's callback: in the publisher's thread, so only a queue put."""
        named = event_name(event)
        if named is None:
            return
        for worker in self._workers:
            if worker.hook.wants(named[0]):
                worker.put(_Job(event.run_id, named[0], named[1]))

    def idle(self) -> bool:
        return all(w.idle() for w in self._workers)

    def stop(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        for worker in self._workers:
            worker.stop()
