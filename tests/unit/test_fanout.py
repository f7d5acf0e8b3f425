"""One event for many views (components/fanout.py), and answers that write only what changes
(the Create form's Load settings and launch)."""

from __future__ import annotations

from types import SimpleNamespace

import gradio as gr

from components.create_fill import same_value
from components.create_launch import slot_updates
from components.fanout import Fanout

SKIP = {"__type__": "update"}


def test_every_handler_runs_as_one_event_with_its_own_inputs():
    seen = []
    with gr.Blocks() as demo:
        trigger = gr.State(None)
        a, b, shared = gr.Textbox(), gr.Textbox(), gr.HTML()
        extra = gr.Number(4)
        fan = Fanout()
        fan.add(lambda run: seen.append(("plain", run)) or f"a:{run}", [trigger], [a])
        fan.add(lambda request, run, n: (seen.append(("first", request.session_hash, run, n))
                                         or (f"b:{n}", "one")), [trigger, extra], [b, shared])
        fan.add(lambda run, request: seen.append(("keyword", request.session_hash)) or "two",
                [trigger], [shared])
        fan.add(lambda request: seen.append(("none-out",)), [], [])
        fan.wire(trigger.change, queue=False)
    events = [fn for fn in demo.fns.values() if fn.fn is not None and fn.name == "run_all"]
    assert len(events) == 1  # one event, not four
    event = events[0]
    assert [c._id for c in event.outputs] == [a._id, b._id, shared._id]
    request = SimpleNamespace(session_hash="page-1")
    out = event.fn(request, "run-7", "run-7", 4, "run-7")
    assert out == ["a:run-7", "b:4", "two"]  # the later handler's value of a shared output
    assert seen == [("plain", "run-7"), ("first", "page-1", "run-7", 4),
                    ("keyword", "page-1"), ("none-out",)]


def test_an_empty_fanout_wires_nothing():
    with gr.Blocks() as demo:
        trigger = gr.State(None)
        before = len(demo.fns)
        Fanout().wire(trigger.change)
    assert len(demo.fns) == before


def test_same_value_is_what_a_field_shows():
    assert same_value(35.0, 35) and same_value(0.5, 0.5)
    assert same_value([0.5, "a"], (0.5, "a")) and not same_value([1], [1, 2])
    assert not same_value(True, 1) and not same_value(1, True)  # a checkbox is not a number
    assert not same_value("", None) and not same_value("35", 35)
    assert same_value(None, None) and same_value("boat", "boat")


def test_only_slots_whose_message_changes_are_written():
    shown = ["", None, "<div>old</div>", "<div>same</div>"]
    wanted = ["", "", "", "<div>same</div>"]
    assert slot_updates(wanted, shown) == [SKIP, SKIP, "", SKIP]
    assert slot_updates(["<b>new</b>", "", "", ""], shown) == ["<b>new</b>", SKIP, "", ""]
