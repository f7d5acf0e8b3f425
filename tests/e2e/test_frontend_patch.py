"""The patched Gradio page code (cosmos_ui/frontend_patch.py) answers as the shipped code does.

Both lookups run in Chromium on the same trees, the shipped walk and our map, and must give
the same node for every id (present, missing, duplicated), including after the tree changed
between two turns of the event loop. The middleware serves the patched module and passes every other request on (the
real app's copy is checked in test_first_run.py).
"""

from __future__ import annotations

import asyncio
import concurrent.futures

from cosmos_ui.frontend_patch import (NODE_LOOKUP, STATUS_ONLY, STATUS_TIMER, FrontendPatch,
                                      patched_assets)

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


def run(coroutine):
    """asyncio.run in a thread of its own (Playwright's sync API holds this thread's loop)."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def test_the_core_module_is_served_patched_and_everything_else_as_it_was():
    assets = patched_assets()
    assert sorted(p.split("-")[0] for p in assets) == ["/assets/core", "/assets/statustracker"], \
        "exactly one core-*.js and one statustracker-*.js of the pinned Gradio hold the functions"
    path, = [p for p in assets if p.startswith("/assets/core-")]
    body = assets[path]
    text = body.decode()
    assert NODE_LOOKUP.replacement in text and NODE_LOOKUP.original not in text
    assert STATUS_ONLY.replacement in text and STATUS_ONLY.original not in text
    tracker, = [body.decode() for p, body in assets.items() if p != path]
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
