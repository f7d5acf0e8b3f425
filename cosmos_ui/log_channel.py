"""The run log's own channel: new lines (and GPU chart) of the run a page shows, as
server-sent events.

Why outside Gradio: every message Gradio sends a page costs its renderer a walk of every
component an event ever wrote (about 100 ms of CPU for this app, see components/live.py), so
the page's push stream gathers what changes into one message per `MIN_GAP`. A log line then
reached the page a quarter second late at best, and later on a busy page. This channel sends
only log lines, as plain `text/event-stream`, which the log panel's own script appends
(components/log_panel.py): a line is on screen a few milliseconds after it is stored.

What it may show, and to whom. One route, `GET /cosmos/log-stream?page=TOKEN&run=ID&after=N`:
  * TOKEN is the random channel token of one open page (components/live.py), handed to that
    page only, in its log panel's payload. Unknown tokens get 404;
  * it serves only the run the page's run view shows right now (the server's own record, so a
    review link's scope and every other check of the run view hold here too) and only while
    the page's Gradio stream runs (it is checked per request: an ended session ends it). A
    different run gets 409 and the stream ends as soon as the page shows another run;
  * with sign-in on, the session cookie is checked against the database when the stream
    starts and again every `RECHECK` seconds, exactly as the gate checks other requests;
  * it sends the lines after N, then each new batch as it is stored (woken by the run's log
    events from any process); `event: chart`, the run's GPU chart redrawn, on its host's
    telemetry and its status changes (components/gpu_chart.py); a comment every `HEARTBEAT`
    seconds so a closed tab is noticed; and `event: end` when the run has ended and every
    line was sent.

The Gradio stream still carries the log's first tail and any catch-up (a reset, a gap), and
stops sending new lines while this channel is open (components/run_view.py); the panel
appends a line once whichever way it came (lines are numbered).
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import PlainTextResponse, StreamingResponse

from backend import accounts
from components.gpu_chart import gpu_chart_html
from cosmos_ui import auth

log = logging.getLogger(__name__)

PATH = "/cosmos/log-stream"
#: A comment line at least this often: a write to a closed tab ends the stream.
HEARTBEAT = 5.0
#: With sign-in on, the session is checked against the database at least this often.
RECHECK = 2.0
#: Lines per message at most (a long catch-up goes out in several).
BATCH = 2000
TERMINAL = ("completed", "failed", "cancelled", "blocked")


class LogChannel:
    """ASGI middleware that answers `PATH` itself and hands every other request on."""

    def __init__(self, app: Any, *, ops: Any, live: Any) -> None:
        self.app = app
        self.ops = ops
        self.live = live

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"] != PATH:
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        response = await self._respond(request, scope)
        await response(scope, receive, send)

    async def _respond(self, request: Request, scope: dict) -> Any:
        if request.method != "GET":
            return PlainTextResponse("GET only", status_code=405)
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        token, run_id = _one(query, "page"), _one(query, "run")
        try:
            after = int(_one(query, "after") or "-1")
        except ValueError:
            return PlainTextResponse("after must be a line number", status_code=400)
        if not self._signed_in(request):
            return PlainTextResponse(auth.SESSION_ENDED, status_code=401)
        page = self.live.page_of_channel(token)
        if page is None:
            return PlainTextResponse("no such page", status_code=404)
        if not run_id or _shown_run(page) != run_id:
            return PlainTextResponse("the page does not show that run", status_code=409)
        return StreamingResponse(self._lines(request, page, run_id, max(-1, after)),
                                 media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store",
                                          "X-Accel-Buffering": "no"})

    def _signed_in(self, request: Request) -> bool:
        return auth.identity(self.ops, request).may(accounts.WATCH)  # type: ignore[arg-type]

    async def _lines(self, request: Request, page: Any, run_id: str, after: int):
        loop = asyncio.get_running_loop()
        listener = self.ops.bus.listen_async(loop, ("log", "status", "telemetry"))
        holder = page.data.setdefault("log_channel", {})
        claim = object()
        holder.update(run=run_id, claim=claim)
        checked = sent = loop.time()
        chart_due = False
        log.debug("log channel open for %s", run_id)
        try:
            yield "retry: 1000\n\n"
            while True:
                if _shown_run(page) != run_id or not page.streaming or \
                        holder.get("claim") is not claim:
                    return  # the page shows another run, closed, or opened a newer channel
                if loop.time() - checked >= RECHECK:
                    checked = loop.time()
                    if not await asyncio.to_thread(self._signed_in, request):
                        yield "event: end\ndata: signed-out\n\n"
                        return
                lines, run = await asyncio.to_thread(self._read, run_id, after)
                status = run.status if run is not None else None
                if lines:
                    after = lines[-1][0]
                    holder["seq"] = after
                    yield "data: " + json.dumps({"run": run_id, "lines": lines},
                                                ensure_ascii=False) + "\n\n"
                    sent = loop.time()
                    if len(lines) == BATCH:
                        continue  # more waiting: no need to wait for an event
                if chart_due and run is not None:
                    chart_due = False
                    html = await asyncio.to_thread(self._chart, run_id)
                    yield "event: chart\ndata: " + json.dumps({"run": run_id, "html": html}) \
                        + "\n\n"
                    sent = loop.time()
                if not lines and (status in TERMINAL or status is None):
                    yield "event: end\ndata: " + (status or "gone") + "\n\n"
                    return
                if loop.time() - sent >= HEARTBEAT:
                    yield ": alive\n\n"
                    sent = loop.time()
                events = await _events_of(listener, page, run_id,
                                          run.host if run is not None else None,
                                          loop.time() + min(HEARTBEAT, RECHECK))
                chart_due = chart_due or any(e.kind != "log" for e in events)
        finally:
            listener.close()
            if holder.get("claim") is claim:
                holder.pop("claim", None)
                holder.pop("run", None)
            log.debug("log channel closed for %s", run_id)

    def _chart(self, run_id: str) -> str:
        try:
            samples = self.ops.gpu_metrics(run_id)
        except Exception:  # telemetry is a nice-to-have: never end the channel over it
            samples = []
        return gpu_chart_html(run_id, samples)

    def _read(self, run_id: str, after: int) -> tuple[list[list[Any]], Any]:
        """The lines after `after` and the run (None: it is gone). The run is read first,
        so a run seen ended has all its lines stored already."""
        try:
            run = self.ops.get_run(run_id)
        except Exception:  # deleted while shown
            return [], None
        return [[seq, text] for seq, text in self.ops.log_since(run_id, after, limit=BATCH)], \
            run


async def _events_of(listener: Any, page: Any, run_id: str, host: str | None,
                     until: float) -> list[Any]:
    """The events that concern this channel (its run's log and status, its host's
    telemetry), waiting until one comes or `until` (loop time).

    Every run's log events reach this listener (a bus subscription takes one run id or
    none, and the chart wants its host's telemetry too); without this filter each line of
    every other run on the server cost this channel two database reads."""
    loop = asyncio.get_running_loop()
    while True:
        events = await listener.wait(max(0.0, until - loop.time()))
        mine = [e for e in events
                if (e.kind == "telemetry" and getattr(e, "host", None) == host)
                or (e.kind in ("log", "status") and e.run_id == run_id)]
        if mine or loop.time() >= until or _shown_run(page) != run_id or not page.streaming:
            return mine


def _shown_run(page: Any) -> str | None:
    return (page.data.get("run_view") or {}).get("cursor", {}).get("run")


def _one(query: dict[str, list[str]], key: str) -> str:
    values = query.get(key) or [""]
    return values[0][:200]


__all__ = ["LogChannel", "PATH"]
