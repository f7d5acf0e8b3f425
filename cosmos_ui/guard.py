"""Every event handler of the app checks the caller per request, not only the mutating ones.

A hidden tab is no guard: anyone holding a cookie can call any event through Gradio's queue
(the runs table, the run view, the gallery read the whole history). So once the Blocks are
built, each handler is wrapped: before it runs, the caller's session is looked up in the
database (cosmos_ui/auth.py) and must still allow `watch`; handlers that change something
also check their own action first. A session that ended (signed out, expired, the user
removed, the password changed) gets a message instead of data. The page's live stream is a
generator: it is checked again before every update it pushes, so an open page stops showing
anything the moment its session ends.

Wrapping keeps each handler's kind (function, coroutine, generator, async generator) and
signature (functools.wraps), which is what Gradio inspects to call it and to pass gr.Request;
the request is read from Gradio's own per-event context (gradio.context.LocalContext).
"""

from __future__ import annotations

import functools
import inspect
import logging
from typing import Any, Callable

import gradio as gr
from gradio.context import LocalContext

from backend import accounts
from cosmos_ui import auth

log = logging.getLogger(__name__)


def _allowed(ops: Any) -> None:
    request = LocalContext.request.get(None)
    who = auth.identity(ops, request)
    if not who.may(accounts.WATCH):
        log.warning("refused an event for an ended or unknown session (%s)",
                    getattr(getattr(request, "client", None), "host", "?"))
        raise gr.Error(auth.SESSION_ENDED)


def guarded(fn: Callable, ops: Any) -> Callable:
    """`fn` with the per-request check in front (and, for generators, before every yield)."""
    if inspect.isasyncgenfunction(fn):
        @functools.wraps(fn)
        async def agen(*args, **kwargs):
            _allowed(ops)
            async for item in fn(*args, **kwargs):
                _allowed(ops)
                yield item
        return agen
    if inspect.isgeneratorfunction(fn):
        @functools.wraps(fn)
        def gen(*args, **kwargs):
            _allowed(ops)
            for item in fn(*args, **kwargs):
                _allowed(ops)
                yield item
        return gen
    if inspect.iscoroutinefunction(fn):
        @functools.wraps(fn)
        async def coro(*args, **kwargs):
            _allowed(ops)
            return await fn(*args, **kwargs)
        return coro

    @functools.wraps(fn)
    def plain(*args, **kwargs):
        _allowed(ops)
        return fn(*args, **kwargs)
    return plain


def guard_every_event(demo: gr.Blocks, ops: Any) -> int:
    """Wrap every Python handler of the app; how many were wrapped."""
    if not ops.sign_in_required:
        return 0
    count = 0
    for block_fn in demo.fns.values():
        if block_fn.fn is not None and not getattr(block_fn.fn, "__cosmos_guarded__", False):
            block_fn.fn = guarded(block_fn.fn, ops)
            block_fn.fn.__cosmos_guarded__ = True
            count += 1
    return count
