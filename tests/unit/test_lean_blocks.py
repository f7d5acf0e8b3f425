"""LeanBlocks answers exactly what gr.Blocks answers, without building a component per skip."""

from __future__ import annotations

import asyncio
import concurrent.futures
import copy

import gradio as gr
import pytest

from cosmos_ui.lean_blocks import LeanBlocks


def _run(coro):
    """Run `coro` on a loop of its own thread (a test before may have left this thread's
    loop running: Playwright's sync API does)."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


def _build(cls):
    with cls() as demo:
        text = gr.Textbox("old", label="Text")
        number = gr.Number(3, minimum=0, maximum=10)
        html = gr.HTML("<b>old</b>")
        choice = gr.Dropdown(["a", "b"], value="a")
        state = gr.State("kept")
        button = gr.Button()
        button.click(lambda: None, None, [text, number, html, choice, state])
    return demo, demo.fns[max(demo.fns)]


ANSWERS = [
    [gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip()],
    ["new", gr.skip(), gr.skip(), gr.skip(), gr.skip()],
    [gr.skip(), 7, gr.skip(), gr.update(choices=["a", "c"], value="c"), "state value"],
    [gr.skip(), gr.update(maximum=20, value=15), "<i>new</i>", gr.skip(), gr.skip()],
    ["all", 1, "<p>all</p>", "b", "s"],
]


@pytest.mark.parametrize("answer", ANSWERS, ids=range(len(ANSWERS)))
def test_the_answer_is_gradios_own(answer):
    plain, plain_fn = _build(gr.Blocks)
    lean, lean_fn = _build(LeanBlocks)
    from gradio.state_holder import SessionState

    plain_state, lean_state = SessionState(plain), SessionState(lean)
    want = _run(plain.postprocess_data(plain_fn, copy.deepcopy(answer), plain_state))
    got = _run(lean.postprocess_data(lean_fn, copy.deepcopy(answer), lean_state))
    assert got == [_plain_skip(v) for v in want]
    # what the session remembers of each component is alike (a later update builds on its
    # constructor arguments, and sets `value` and `render` itself)
    for a, b in zip(plain_fn.outputs, lean_fn.outputs):
        if a.stateful:
            assert plain_state[a._id] == lean_state[b._id]
        else:
            assert _args(plain_state.get(a._id, a)) == _args(lean_state.get(b._id, b))


def _plain_skip(value):
    """Gradio answers a skipped HTML with its extra props holding only the marker, which the
    page merges as nothing; LeanBlocks answers the skip itself."""
    if value == {"props": {"__type__": "update"}, "__type__": "update"}:
        return {"__type__": "update"}
    return value


def _args(block):
    return {k: v for k, v in block.constructor_args.items() if k not in ("value", "render")}


def test_a_skip_builds_no_component(monkeypatch):
    """The point of it: a skipped Textbox is not constructed again (Gradio builds one per
    skip, ~1.3 ms each)."""
    lean, fn = _build(LeanBlocks)
    from gradio.state_holder import SessionState

    built = []
    original = gr.Textbox.__init__

    def counting(self, *args, **kwargs):
        built.append(kwargs)
        original(self, *args, **kwargs)

    monkeypatch.setattr(gr.Textbox, "__init__", counting)
    out = _run(lean.postprocess_data(fn, [gr.skip(), 5, gr.skip(), gr.skip(), gr.skip()],
                                            SessionState(lean)))
    assert out[0] == {"__type__": "update"} and out[1] == 5
    assert built == []
