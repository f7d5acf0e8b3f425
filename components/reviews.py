"""Reviews of one run (issue 6): a 1-5 rating and a comment, and the list of what people said.

Operators see who said what and when; a reviewer sees "you" for their own reviews and
"a reviewer" for everyone else's. Submitting is the REVIEW action, checked on the server.
"""

from __future__ import annotations

import time
from typing import Any

import gradio as gr

from backend import accounts
from backend.operations import NotFound, Operations, ValidationFailed
from components.common import e
from components.nav import Nav
from cosmos_ui import auth

RATINGS = [1, 2, 3, 4, 5]


def who_said(review: dict, viewer: accounts.Identity) -> str:
    if viewer.role == accounts.OPERATOR:
        return review["username"]
    if viewer.username and review["username"] == viewer.username:
        return "you"
    return "a reviewer"


def reviews_html(reviews: list[dict], viewer: accounts.Identity) -> str:
    if not reviews:
        return "<div class='muted' id='reviews-empty'>No reviews yet.</div>"
    rated = [r["rating"] for r in reviews if r["rating"] is not None]
    head = (f"<div id='reviews-average'>Average rating <b>{sum(rated) / len(rated):.1f}</b> / 5 "
            f"({len(rated)} rating{'s' if len(rated) != 1 else ''})</div>" if rated else "")
    items = []
    for r in reviews:
        stars = ("★" * r["rating"] + "☆" * (5 - r["rating"])) if r["rating"] else ""
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(r["created_at"]))
        items.append(f"<li class='review'><b class='review-who'>{e(who_said(r, viewer))}</b> "
                     f"<span class='muted'>{e(when)}</span> "
                     f"<span class='review-stars'>{stars}</span>"
                     f"<div class='review-comment'>{e(r['comment'])}</div></li>")
    return head + "<ul id='reviews-list'>" + "".join(items) + "</ul>"


class Reviews:
    def __init__(self, ops: Operations, nav: Nav) -> None:
        self.ops = ops
        self.nav = nav
        with gr.Accordion("Reviews", open=True, elem_id="reviews"):
            self.list = gr.HTML(reviews_html([], accounts.LOCAL_OPERATOR), elem_id="reviews-box",
                                js_on_load=None)
            with gr.Row():
                self.rating = gr.Radio(RATINGS, label="Rating (1-5)", value=None,
                                       elem_id="review-rating", interactive=False,
                                       info="Rating opens when the run has a video.")
            self.comment = gr.Textbox(label="Comment", lines=2, max_length=2000,
                                      elem_id="review-comment")
            self.submit = gr.Button("Submit review", size="sm", elem_id="review-submit")
            self.message = gr.Markdown(elem_id="review-message")
        self._wire()

    def render(self, run_id: str | None, request: gr.Request | None = None) -> str:
        viewer = auth.identity(self.ops, request)
        if not run_id or not viewer.may(accounts.WATCH):
            return reviews_html([], viewer)
        return reviews_html(self.ops.reviews(run_id), viewer)

    def rating_look(self, run_id: str | None) -> Any:
        """The rating can be given only for a run with a video (the server checks it too)."""
        try:
            has_video = bool(run_id) and bool(self.ops.get_run(run_id).output_path)
        except NotFound:
            has_video = False
        if has_video:
            return gr.update(interactive=True, info=None)
        return gr.update(interactive=False, value=None,
                         info="Rating opens when the run has a video.")

    def show(self, run_id: str | None, request: gr.Request):
        return self.render(run_id, request), self.rating_look(run_id)

    def _submit(self, run_id: str | None, rating: Any, comment: str | None,
                request: gr.Request):
        who = auth.check(self.ops, request, accounts.REVIEW)
        try:
            self.ops.add_review(run_id or "", who.username, rating, comment)
        except NotFound:
            return "Pick a run first.", gr.skip(), gr.skip(), gr.skip()
        except ValidationFailed as failed:
            return ("Not saved: " + "; ".join(err.message for err in failed.errors),
                    gr.skip(), gr.skip(), gr.skip())
        return "Thanks, review saved.", None, "", self.render(run_id, request)

    def _shown_status(self, run_id: str | None, _shown: str | None):
        return self.rating_look(run_id)

    def _wire(self) -> None:
        private = dict(api_visibility="private")
        selected = self.nav.selected_run
        self.nav.on_selected(self.show, [selected], [self.list, self.rating])
        # the run got (or lost) its video while shown: the rating follows
        self.nav.on_shown_status(self._shown_status, [selected, self.nav.shown_status],
                                 [self.rating])
        self.submit.click(self._submit, [selected, self.rating, self.comment],
                          [self.message, self.rating, self.comment, self.list], **private)
