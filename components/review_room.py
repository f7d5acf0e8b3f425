"""The run view's review room: the version stack and its review status, the frame-accurate
player with note marks and drawings, the note composer, and the notes with their threads.

The player is pushed by the run view's live stream (its value changes only when the run or its
video does, so playback is never interrupted); the notes and the version bar re-render when
the page's stream says a note or a status of the shown run changed, in any browser. Every
action checks the caller's role on the server (cosmos_ui/auth.py) and whether the page may
show the run (cosmos_ui/review_links.py) before it does anything.
"""

from __future__ import annotations

import time
from typing import Any

import gradio as gr

from backend import accounts
from backend.operations import NotFound, Operations, Refused, ValidationFailed
from components.common import TAB_CREATE, e, event_data
from components.nav import Nav
from components.review_html import composer_html, notes_html, player_html, versions_html
from cosmos_ui import auth

PLAYER_JS = ("const m = () => window.CosmosReview && CosmosReview.mountPlayer(element);"
             " m(); watch('value', m);")
COMPOSER_JS = ("CosmosReview.mountComposer(element, trigger);"
               " watch('value', () => CosmosReview.composerSaved(element));")
NOTES_JS = ("CosmosReview.mountNotes(element, trigger);"
            " watch('value', () => CosmosReview.readNotes(element));")
VERSIONS_JS = """
element.addEventListener('click', (ev) => {
  const b = ev.target.closest('[data-version-run]');
  if (b) trigger('select', {run: b.dataset.versionRun});
});
"""
STATUS_BUTTONS = (("in_review", "In review"), ("needs_changes", "Needs changes"),
                  ("approved", "Approve"))


def wants_review_of_shown(page, events) -> bool:
    """A live-signal rule: a note or status of the run this page shows changed, or a run
    finished (it may be a new version of the shown run's shot)."""
    return any((ev.kind == "review" and ev.run_id and ev.run_id == page.selected)
               or (ev.kind == "status" and ev.data.get("status") in ("completed", "deleted"))
               for ev in events)


class ReviewRoom:
    def __init__(self, ops: Operations, nav: Nav, live: Any, create: Any) -> None:
        self.ops = ops
        self.nav = nav
        self.create = create
        with gr.Column(elem_id="review-room"):
            self.versions = gr.HTML(versions_html(None, run_id=None), js_on_load=VERSIONS_JS,
                                    elem_id="version-bar")
            with gr.Row(elem_id="review-status-row", equal_height=True):
                self.status_buttons = [gr.Button(label, size="sm", elem_id=f"status-{value}",
                                                 interactive=False, min_width=90)
                                       for value, label in STATUS_BUTTONS]
                self.report = gr.Button("Notes report", size="sm", elem_id="report-version",
                                        interactive=False, min_width=110)
                self.report_shot = gr.Button("Report of all versions", size="sm",
                                             elem_id="report-shot", interactive=False,
                                             min_width=150)
            self.report_file = gr.File(label="Notes report (self-contained HTML)",
                                       visible=False, interactive=False, elem_id="report-file")
            with gr.Row(elem_classes="stack-narrow"):
                with gr.Column(scale=3, min_width=320):
                    self.player = gr.HTML("", js_on_load=PLAYER_JS, elem_id="run-video")
                    self.composer = gr.HTML(composer_html(enabled=False),
                                            js_on_load=COMPOSER_JS, elem_id="note-composer")
                    self.message = gr.Markdown(elem_id="note-message")
                with gr.Column(scale=2, min_width=280):
                    self.notes = gr.HTML(notes_html(None, [], accounts.LOCAL_OPERATOR),
                                         js_on_load=NOTES_JS, elem_id="run-notes")
        self.changed = live.signal("review", wants_review_of_shown)
        self._wire()

    # -- what the run view's stream pushes -------------------------------------------------------
    @staticmethod
    def player_value(run: Any) -> str:
        return player_html(run, key="run", autoplay=True)

    # -- rendering ------------------------------------------------------------------------------
    def render(self, run_id: str | None, request: gr.Request | None = None):
        """Outputs: versions, notes, composer, 3 status buttons, 2 report buttons."""
        viewer = auth.identity(self.ops, request)
        shown = bool(run_id) and self.nav.scope(request).allows(run_id) \
            and viewer.may(accounts.WATCH)
        if not shown:
            off = [gr.update(interactive=False)] * 5
            return (versions_html(None, run_id=None), notes_html(None, [], viewer),
                    composer_html(enabled=False), *off)
        try:
            run = self.ops.get_run(run_id)
        except NotFound:
            off = [gr.update(interactive=False)] * 5
            return (versions_html(None, run_id=None), notes_html(None, [], viewer),
                    composer_html(enabled=False), *off)
        stack = self._stack(run.id, request)
        may_review = viewer.may(accounts.REVIEW)
        notes = notes_html(run.id, self.ops.notes(run.id), viewer, may_write=may_review,
                           can_regenerate=viewer.may(accounts.LAUNCH)
                           and run.run_type == "inference")
        versioned = stack is not None
        status = [gr.update(interactive=versioned and may_review and (
            value != "approved" or self.ops.may_approve(viewer.role)))
            for value, _ in STATUS_BUTTONS]
        reports = [gr.update(interactive=versioned)] * 2
        return (versions_html(stack, run_id=run.id), notes,
                composer_html(enabled=bool(run.output_path) and may_review), *status,
                *reports)

    def _stack(self, run_id: str, request: gr.Request | None) -> dict | None:
        try:
            stack = self.ops.versions(run_id)
        except (NotFound, Refused):
            return None
        scope = self.nav.scope(request)
        if not scope.everything:  # a review link shows only its own versions
            stack = dict(stack, versions=[v for v in stack["versions"]
                                          if scope.allows(v["run_id"])])
            if not scope.allows(stack["shot"].get("latest_run_id")):
                stack["shot"] = dict(stack["shot"], latest_run_id=None)
        return stack

    # -- actions ----------------------------------------------------------------------------------
    def _gate(self, request: gr.Request, run_id: str | None) -> None:
        if self.nav.gate is not None:
            self.nav.gate.check(request, run_id)

    def _composer(self, run_id: str | None, evt: gr.EventData, request: gr.Request):
        """Add note. Outputs: composer, message, notes."""
        who = auth.check(self.ops, request, accounts.REVIEW)
        data = event_data(evt)
        run_id = str(data.get("run") or run_id or "")
        self._gate(request, run_id)
        try:
            note = self.ops.add_note(run_id, author=who.username, text=data.get("text"),
                                     frame=data.get("frame"), end_frame=data.get("end_frame"),
                                     drawing=data.get("drawing"))
        except ValidationFailed as failed:
            errors = {err.field: err.message for err in failed.errors}
            return (composer_html(errors=errors), "Not saved: " + "; ".join(
                err.message for err in failed.errors), gr.skip())
        except (NotFound, Refused) as exc:
            return gr.skip(), f"Not saved: {exc}", gr.skip()
        return (composer_html(saved=int(time.time() * 1000)),
                f"Note #{note['id']} saved on {note['where']}.",
                self._notes_now(run_id, request))

    def _notes_now(self, run_id: str, request: gr.Request) -> str:
        viewer = auth.identity(self.ops, request)
        run = self.ops.get_run(run_id)
        return notes_html(run_id, self.ops.notes(run_id), viewer,
                          may_write=viewer.may(accounts.REVIEW),
                          can_regenerate=viewer.may(accounts.LAUNCH)
                          and run.run_type == "inference")

    def _note_action(self, run_id: str | None, evt: gr.EventData, request: gr.Request):
        """Reply, resolve, reopen, re-generate. Outputs: message, notes, then the Create
        form's components, its message, the tabs and the draft's outputs."""
        data = event_data(evt)
        action = str(data.get("action") or "")
        create_skip = [gr.skip()] * (len(self.create.components) + 2
                                     + len(self.create.review.outputs))
        try:
            note = self.ops.note(data.get("note"))
        except NotFound:
            return ("That note no longer exists.", gr.skip(), *create_skip)
        self._gate(request, note["run_id"])
        if action == "regenerate":
            auth.check(self.ops, request, accounts.LAUNCH)
            return self._regenerate(note)
        who = auth.check(self.ops, request, accounts.REVIEW)
        try:
            if action == "reply":
                self.ops.reply(note["id"], author=who.username, text=data.get("text"))
                message = f"Replied to note #{note['id']}."
            elif action in ("resolve", "reopen"):
                self.ops.resolve_note(note["id"], action == "resolve")
                message = f"Note #{note['id']} {'resolved' if action == 'resolve' else 'reopened'}."
            else:
                return (f"Unknown action {e(action)}.", gr.skip(), *create_skip)
        except ValidationFailed as failed:
            return ("Not saved: " + "; ".join(err.message for err in failed.errors),
                    gr.skip(), *create_skip)
        return (message, self._notes_now(note["run_id"], request), *create_skip)

    def _regenerate(self, note: dict) -> tuple:
        from components.form_values import values_from_params

        try:
            draft = self.ops.draft_from_note(note["id"])
        except (NotFound, Refused) as exc:
            skip = [gr.skip()] * (len(self.create.components) + 2
                                  + len(self.create.review.outputs))
            return (f"Cannot re-generate from note #{note['id']}: {exc}", gr.skip(), *skip)
        fill = self.create.fill(values_from_params(draft.params))
        message = (f"Draft **v{draft.next_number}** from note #{draft.note_id} is open in "
                   "Create: adjust it, then Run.")
        return (message, gr.skip(), *fill, message, self.nav.goto(TAB_CREATE),
                *self.create.review.opened(draft))

    def _set_status(self, status: str, run_id: str | None, request: gr.Request):
        who = auth.check(self.ops, request, accounts.REVIEW)
        self._gate(request, run_id)
        try:
            version = self.ops.set_review_status(run_id or "", status, username=who.username,
                                                 role=who.role)
        except (NotFound, Refused, ValidationFailed) as exc:
            return f"Not set: {exc}", gr.skip()
        return (f"{version['label']} is now **{status.replace('_', ' ')}**.",
                versions_html(self._stack(run_id, request), run_id=run_id))

    def _report(self, whole: bool, run_id: str | None, request: gr.Request):
        who = auth.check(self.ops, request, accounts.WATCH)
        self._gate(request, run_id)
        scope = self.nav.scope(request)
        only = None if scope.everything else set(scope.link.run_ids if scope.link else ())
        try:
            out = self.ops.write_report(run_id or "", whole_shot=whole, made_by=who.username,
                                        only=only)
        except (NotFound, Refused) as exc:
            return f"No report: {exc}", gr.update(visible=False)
        return (f"Report written: **{e(out.name)}** (open it in a browser; it needs nothing "
                "else).", gr.update(value=str(out), visible=True))

    def _status_handler(self, status: str):
        def set_status(run_id: str | None, request: gr.Request):
            return self._set_status(status, run_id, request)
        return set_status

    def _report_handler(self, whole: bool):
        def report(run_id: str | None, request: gr.Request):
            return self._report(whole, run_id, request)
        return report

    def _pick_version(self, evt: gr.EventData, request: gr.Request):
        run_id = str(event_data(evt).get("run") or "")
        if not run_id or not self.nav.scope(request).allows(run_id):
            return gr.skip()
        return run_id

    def _wire(self) -> None:
        quiet = dict(api_visibility="private", show_progress="hidden")
        selected = self.nav.selected_run
        outputs = [self.versions, self.notes, self.composer, *self.status_buttons,
                   self.report, self.report_shot]
        self.nav.on_selected(self.render, [selected], outputs)
        self.nav.on_shown_status(self.render, [selected], outputs)
        self.changed.change(self.render, selected, outputs, **quiet)
        self.composer.select(self._composer, selected, [self.composer, self.message,
                                                        self.notes], **quiet)
        create = self.create
        self.notes.select(self._note_action, selected,
                          [self.message, self.notes, *create.components, create.message,
                           self.nav.switch, *create.review.outputs], **quiet)
        for (value, _), button in zip(STATUS_BUTTONS, self.status_buttons):
            button.click(self._status_handler(value), selected, [self.message, self.versions],
                         api_visibility="private")
        for button, whole in ((self.report, False), (self.report_shot, True)):
            button.click(self._report_handler(whole), selected,
                         [self.message, self.report_file], api_visibility="private")
        self.versions.select(self._pick_version, None, selected, **quiet)
        self.nav.on_selected(lambda: gr.update(visible=False), [], [self.report_file])
