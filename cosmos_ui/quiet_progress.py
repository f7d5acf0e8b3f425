"""An event whose progress is hidden sends no loading status to its outputs.

Why: Gradio's page gives every output of an event a loading status at each of its status
messages (pending, then complete), one props update and status-tracker render per output,
even when the event's `show_progress="hidden"` makes the tracker draw nothing. Almost every
event here is hidden (the UI shows its own progress), and some write many outputs (Load
settings: the ~70 fields of the form; the page's stream: ~30). Measured with a CDP CPU profile
of Load settings in Chromium: the page's event handling (Blocks `dispatch`, inclusive) went
from 72 to 53 ms of CPU a click, `update_loading_stati_state` from 25 to 10 ms. That is CPU
the page no longer spends, on every event; the click's wall time did not measurably change
(its critical path is the round trip and the Create tab's render).

Gradio's own switch for where a status goes is an event's `show_progress_on` (default: its
outputs). For a hidden event with none given, this sets it to no component, so its statuses
go nowhere. The page still hears the event's messages: errors still make their toast (the
page raises those from the message, not from a component's status), `.then` steps and
trigger modes are unaffected. An event that shows its progress keeps it as is.
"""

from __future__ import annotations

import gradio as gr


def silence_hidden_progress(demo: gr.Blocks) -> int:
    """Point each hidden-progress event's statuses at no component; returns how many."""
    silenced = 0
    for fn in demo.fns.values():
        if fn.show_progress == "hidden" and fn.show_progress_on is None:
            fn.show_progress_on = []
            silenced += 1
    return silenced


__all__ = ["silence_hidden_progress"]
