"""Who is behind a Gradio request, and whether their role may do something.

The identity comes from the request's session cookie, checked against the database on every
call (cosmos_ui/gate.py starts and ends sessions): never from the page, and never from a
name Gradio remembered, so a removed user or a changed password ends what an old cookie may
do at once. Every event handler is wrapped to require at least `watch` (cosmos_ui/guard.py);
handlers that change something call `check(ops, request, ACTION)` first.
"""

from __future__ import annotations

from typing import Any

import gradio as gr

from backend import accounts

ACTION_WORDS = {
    accounts.LAUNCH: "launch runs", accounts.KILL: "kill runs", accounts.DELETE: "delete runs",
    accounts.RERUN: "re-run runs", accounts.UPSCALE: "upscale runs",
    accounts.ENHANCE: "enhance prompts", accounts.PRESETS: "change presets",
    accounts.HOSTS: "manage hosts", accounts.WATCH: "watch runs",
    accounts.REVIEW: "review runs", accounts.SHARE: "make or revoke review links",
}
NOBODY = accounts.Identity(None, "nobody")
SESSION_ENDED = ("Your sign-in has ended (signed out, expired, or the account was removed or "
                 "its password changed): reload the page and sign in again.")


def session_token(request: gr.Request | None) -> str | None:
    """The session cookie of a request (Gradio names it access-token-<app cookie id>)."""
    if request is None:
        return None
    try:
        cookies = request.cookies
    except (AttributeError, KeyError):
        return None
    for name, value in (cookies or {}).items():
        if name.startswith("access-token-") and not name.startswith("access-token-unsecure-"):
            return value
    return None


def identity(ops: Any, request: gr.Request | None) -> accounts.Identity:
    """The identity behind `request` now (the local operator when sign-in is off)."""
    if not ops.sign_in_required:
        return accounts.LOCAL_OPERATOR
    return accounts.session_identity(session_token(request)) or NOBODY


def current_request() -> gr.Request | None:
    """The request of the event being handled (Gradio's per-event context), for code that is
    not handed one (a handler called through another)."""
    from gradio.context import LocalContext

    return LocalContext.request.get(None)


def owner_of(ops: Any, request: gr.Request | None) -> str:
    """Who owns what this request launches: the signed-in user, else the local user."""
    return identity(ops, request).username or ops.local_user


def allowed(ops: Any, request: gr.Request | None, action: str) -> bool:
    return identity(ops, request).may(action)


def check(ops: Any, request: gr.Request | None, action: str) -> accounts.Identity:
    """Raise a gr.Error (shown to the user, nothing done) unless the role allows `action`."""
    who = identity(ops, request)
    try:
        accounts.require(who, action)
    except accounts.Forbidden:
        if who.role == NOBODY.role:
            raise gr.Error(SESSION_ENDED) from None
        name = who.username or "this user"
        raise gr.Error(f"{name} is a {who.role} and may not "
                       f"{ACTION_WORDS.get(action, action)}.") from None
    return who
