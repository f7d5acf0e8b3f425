"""The run view's buttons: Re-run, Upscale, and Kill and Delete with their confirmations.

A mixin of RunView (it uses the view's `ops` and `nav`). Each refuses what the person may
not do on the server (cosmos_ui/auth.py), whatever the page shows.
"""

from __future__ import annotations


import gradio as gr

from backend import accounts
from backend.operations import NotFound, Refused, ValidationFailed
from components.common import RUN_TYPE_LABELS, e
from cosmos_ui import auth


class RunActions:
    def _launched(self, make, request: gr.Request | None = None) -> tuple:
        try:
            run = make()
        except (Refused, NotFound, ValidationFailed) as exc:
            return f"Not done: {exc}", gr.skip(), gr.skip()
        self.nav.launched_now(run.id, request)
        return (f"Queued run `{run.id}` ({RUN_TYPE_LABELS.get(run.run_type, run.run_type)}).",
                run.id, run.id)

    def _rerun(self, selected: str | None, request: gr.Request) -> tuple:
        auth.check(self.ops, request, accounts.RERUN)
        owner = auth.owner_of(self.ops, request)
        return self._launched(lambda: self.ops.rerun(selected or "", owner=owner), request)

    def _upscale(self, selected: str | None, request: gr.Request) -> tuple:
        auth.check(self.ops, request, accounts.UPSCALE)
        owner = auth.owner_of(self.ops, request)
        return self._launched(lambda: self.ops.upscale(selected or "", owner=owner), request)

    def _ask_kill(self, selected: str | None, request: gr.Request):
        auth.check(self.ops, request, accounts.KILL)
        try:
            run = self.ops.get_run(selected or "")
        except NotFound:
            return gr.skip(), "That run no longer exists."
        if run.status == "queued":
            text = f"Remove **{e(run.id)}** from the queue? It has not started; nothing to stop."
        else:
            text = (f"Stop **{e(run.id)}**? Graceful: SIGTERM, then SIGKILL after the grace "
                    "period; the partial log is kept and the run ends `cancelled`.")
        return gr.Group(visible=True), text

    def _do_kill(self, selected: str | None, force: bool, request: gr.Request):
        auth.check(self.ops, request, accounts.KILL)
        try:
            run = self.ops.get_run(selected or "")
            if run.status == "queued":
                self.ops.dequeue(run.id)
                return gr.Group(visible=False), "Removed from the queue (cancelled)."
            self.ops.kill(run.id, force=bool(force))
        except (NotFound, Refused, ValidationFailed) as exc:
            return gr.Group(visible=False), f"Not done: {exc}"
        return gr.Group(visible=False), ("Force-killing the container..." if force else
                                         "Stopping the container (graceful)...")

    def _ask_delete(self, selected: str | None, request: gr.Request):
        auth.check(self.ops, request, accounts.DELETE)
        try:
            items = self.ops.delete_preview(selected or "")
        except (NotFound, Refused) as exc:
            return gr.skip(), gr.skip(), f"Not done: {exc}"
        listing = "".join(f"<li>{e(item)}</li>" for item in items)
        return (gr.Group(visible=True),
                f"<b>Delete this run?</b> This removes:<ul id='delete-items'>{listing}</ul>"
                "Other runs' files and the shared input cache on the box are never touched.",
                "")

    def _do_delete(self, selected: str | None, request: gr.Request):
        auth.check(self.ops, request, accounts.DELETE)
        try:
            removed = self.ops.delete_run(selected or "")
        except (NotFound, Refused) as exc:
            return gr.Group(visible=False), f"Not done: {exc}", gr.skip()
        return (gr.Group(visible=False), "Deleted: " + "; ".join(removed) + ".", None)
