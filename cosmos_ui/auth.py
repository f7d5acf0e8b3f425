"""Who is behind a Gradio request, and whether their role may do something.

Every event handler that changes something calls `check(ops, request, ACTION)` first: the
signed-in username comes from Gradio's request (its login cookie), never from the page, so a
hidden button is not the only guard (issue 6).
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


def identity(ops: Any, request: gr.Request | None) -> accounts.Identity:
    """The identity behind `request` (local operator when sign-in is off)."""
    required = ops.sign_in_required
    username = getattr(request, "username", None) if request is not None else None
    return accounts.identity_of(username, required)


def allowed(ops: Any, request: gr.Request | None, action: str) -> bool:
    return identity(ops, request).may(action)


def check(ops: Any, request: gr.Request | None, action: str) -> accounts.Identity:
    """Raise a gr.Error (shown to the user, nothing done) unless the role allows `action`."""
    who = identity(ops, request)
    try:
        accounts.require(who, action)
    except accounts.Forbidden:
        name = who.username or "this user"
        raise gr.Error(f"{name} is a {who.role} and may not "
                       f"{ACTION_WORDS.get(action, action)}.") from None
    return who
