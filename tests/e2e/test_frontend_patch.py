"""The patched Gradio page code (cosmos_ui/frontend_patch.py) answers as the shipped code does.

Both lookups run in Chromium on the same trees, the shipped walk and our map, and must give
the same node for every id (present, missing, duplicated), including after the tree changed
between two turns of the event loop. The middleware serves the patched module and passes every other request on (the
real app's copy is checked in test_first_run.py).
"""

from __future__ import annotations

import asyncio
import concurrent.futures

from cosmos_ui.frontend_patch import (CHANGED_STATI, NODE_LOOKUP, STATUS_ONLY, STATUS_TIMER,
                                      VALIDATION_RESET, FrontendPatch, patched_assets)

TREES_JS = """
() => {
  const make = (id, kids) => ({id, children: kids});
  let next = 0;
  const grow = (depth) => make(next++, depth ? [0, 1, 2].slice(0, 1 + (next % 3))
                                                    .map(() => grow(depth - 1)) : undefined);
  const root = grow(5);
  root.children.push(make(3, [make(999, [])]));   // a duplicated id: the first in pre-order wins
  const ids = [...Array(next + 3).keys(), 999, -1, "3"];
  const shipped = ids.map(id => { const n = SHIPPED(root, id); return n && n.children; });
  const ours = ids.map(id => { const n = OURS(root, id); return n && n.children; });
  const same = ids.every((id, i) => shipped[i] === ours[i]);
  return new Promise(resolve => setTimeout(() => {
    // the tree changed since the last turn: the map is rebuilt
    const fresh = make(4242, []);
    root.children[0].children = [fresh];
    resolve({same, n: ids.length, after: OURS(root, 4242) === fresh,
             gone: OURS(root, 1) === null || OURS(root, 1) === SHIPPED(root, 1)});
  }, 0));
}
"""


def test_the_node_lookup_gives_the_shipped_answer_for_every_id(page):
    shipped = NODE_LOOKUP.original.replace("function Z(", "function SHIPPED(").replace(
        "Z(n,t)", "SHIPPED(n,t)")
    ours = NODE_LOOKUP.replacement.replace("function Z(", "function OURS(")
    page.set_content("<html><body></body></html>")
    page.add_script_tag(content=shipped + ";" + ours)
    result = page.evaluate(TREES_JS)
    assert result == {"same": True, "n": result["n"], "after": True, "gone": True}
    assert result["n"] > 50


#: The patched Blocks methods on a stand-in of Gradio's Blocks: `update_state_cb` records
#: what each component was sent; `reset(inputs)` is the submission's first-message reset.
STATI_JS = """
() => {
  const sent = [];
  const blocks = {
    loading_stati: {current: {}},
    update_state_cb: (id, t) => { sent.push([id, JSON.stringify(t.loading_status)]); },
    UPDATE,
    reset(inputs) { const r = {inputs}; RESET; },
  };
  const cur = blocks.loading_stati.current;
  const round = async (what) => { sent.length = 0; what(); await blocks.UPDATE_NAME();
                                  return sent.map(s => s[0]).sort(); };
  return (async () => {
    const out = {};
    out.first = await round(() => { cur[1] = {status: 'pending', fn_index: 7};
                                    cur[2] = {status: 'complete', fn_index: 3}; });
    // the other fn's entry comes back as a fresh object with the same fields: not re-sent
    out.same = await round(() => { cur[2] = {...cur[2]}; });
    out.changed = await round(() => { cur[1] = {...cur[1], status: 'complete'}; });
    out.mutated = await round(() => { cur[2].status = 'pending'; });
    // another path set component 2's status: the next one goes out though it is unchanged
    blocks.update_state_cb(2, {loading_status: {validation_error: 'too big'}});
    out.after_other_path = await round(() => {});
    // a status sent replaces the error; one set again is what the next reset clears
    blocks.update_state_cb(2, {loading_status: {validation_error: 'too big'}});
    sent.length = 0; blocks.reset([1, 2]); out.reset = sent.map(s => s[0]);
    sent.length = 0; blocks.reset([1, 2]); out.reset_again = sent.map(s => s[0]);
    // the reset replaced 2's status too: it goes out again with 1's cleared one
    out.cleared = await round(() => { cur[1] = {}; });
    return out;
  })();
}
"""


def test_loading_statuses_go_out_only_when_they_changed(page):
    """CHANGED_STATI and VALIDATION_RESET, run in Chromium on a stand-in of Gradio's Blocks."""
    update = CHANGED_STATI.replacement.replace("async update_loading_stati_state(){",
                                               "async UPDATE_NAME(){", 1)
    reset = VALIDATION_RESET.replacement
    page.set_content("<html><body></body></html>")
    result = page.evaluate(STATI_JS.replace("UPDATE,", update + ",").replace("RESET;", reset))
    assert result == {"first": [1, 2], "same": [], "changed": [1], "mutated": [2],
                      "after_other_path": [2], "reset": [2], "reset_again": [], "cleared": [1, 2]}


def test_the_shipped_reset_runs_before_any_status_was_sent(page):
    """Without the wrapper (no status sent yet) the reset reaches every input, as shipped."""
    page.set_content("<html><body></body></html>")
    sent = page.evaluate("""() => { const sent = []; const blocks = {update_state_cb:
        (id) => sent.push(id), reset(inputs) { const r = {inputs}; RESET; }};
        blocks.reset([4, 5]); return sent; }""".replace("RESET;", VALIDATION_RESET.replacement))
    assert sent == [4, 5]


def run(coroutine):
    """asyncio.run in a thread of its own (Playwright's sync API holds this thread's loop)."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def test_the_core_module_is_served_patched_and_everything_else_as_it_was():
    assets = patched_assets()
    assert sorted(p.split("-")[0] for p in assets) == \
        ["/assets/Blocks", "/assets/core", "/assets/statustracker"], \
        "exactly one Blocks-, core- and statustracker-*.js of the pinned Gradio hold the functions"
    blocks, = [body.decode() for p, body in assets.items() if p.startswith("/assets/Blocks-")]
    for patch in (CHANGED_STATI, VALIDATION_RESET):
        assert patch.replacement in blocks and patch.original not in blocks
    path, = [p for p in assets if p.startswith("/assets/core-")]
    body = assets[path]
    text = body.decode()
    assert NODE_LOOKUP.replacement in text and NODE_LOOKUP.original not in text
    assert STATUS_ONLY.replacement in text and STATUS_ONLY.original not in text
    tracker, = [body.decode() for p, body in assets.items() if "statustracker" in p]
    assert STATUS_TIMER.replacement in tracker and STATUS_TIMER.original not in tracker
    passed: list[str] = []

    async def inner(scope, receive, send):
        passed.append(scope["path"])

    async def call(path: str, method: str = "GET") -> list[dict]:
        sent: list[dict] = []

        async def send(message):
            sent.append(message)

        await FrontendPatch(inner, assets=assets)(
            {"type": "http", "path": path, "method": method}, None, send)
        return sent

    sent = run(call(path))
    assert sent[0]["status"] == 200 and sent[1]["body"] == body
    assert dict(sent[0]["headers"])[b"content-type"].startswith(b"text/javascript")
    assert run(call(path, "POST")) == [] and run(call("/assets/other.js")) == []
    assert passed == [path, "/assets/other.js"]
