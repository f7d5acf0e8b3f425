"""Five small fixes to Gradio's shipped page code, served in place of its assets.

The first and biggest: Gradio's page finds a component by walking its whole layout tree;
serve it a lookup table.

Why: Gradio 6's page code (`assets/core-<hash>.js`) looks a component node up with
`Z(root, id)`, a depth-first walk of the layout tree through Svelte's reactive proxies. After
each status message of any event (pending, process_starts, completed, ...) it updates the
loading status of *every component that was ever an event's output* (`update_loading_stati_
state`), one walk each: hundreds of walks of a tree of hundreds of nodes per message. Measured
in Chromium with a CPU profile of opening a run in the Runs table (`/tmp/diag/open_probe.py`
in the closing note of this change): the page's main thread was busy for 2-5 s, three
quarters of it in `Z` and the proxies' `get`. That is most of what a click costs in this app.

The fix: the same function answers from a map of id -> node, built with one walk the first
time it is asked in a turn of the event loop and dropped at the next microtask checkpoint.
The page asks for hundreds of nodes inside one synchronous loop, so the walks drop from
hundreds to one per message. The tree is rebuilt only on a config reload or a `gr.render`
(this app uses neither while a page is open), and even then a stale answer could last at
most until that microtask checkpoint; the function's first-match-in-pre-order answer is kept.

The others (below) skip work a status update does not need (STATUS_ONLY), stop status trackers
asking for every animation frame while nothing on the page moves (STATUS_TIMER), and send a
component a loading status only when it changed (CHANGED_STATI, VALIDATION_RESET).

Each patch is a text replacement of one function in a shipped asset, checked exactly: if a
Gradio release changes that function, the asset is served as shipped (a warning is logged)
and tests/e2e/test_frontend_patch.py fails, so the pin is revisited rather than broken.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

@dataclass(frozen=True)
class Patch:
    """One function of a shipped asset, replaced by text, byte for byte (gradio 6.31).
    `asset`: the file name pattern of the asset it belongs to (the name carries a hash)."""

    why: str
    original: str
    replacement: str
    asset: str = "core-*.js"


#: The node lookup: the same contract from a per-turn map (first node in pre-order wins, as
#: in the walk).
NODE_LOOKUP = Patch(
    "find a component node by id from a map, not by walking the whole tree",
    "function Z(e,t){if(e.id===t)return e;if(e.children)for(let n of e.children)"
    "{let e=Z(n,t);if(e)return e}return null}",
    "var __cosmosNodes=null;function Z(e,t){let c=__cosmosNodes;if(c===null||c.root!==e)"
    "{let m=new Map,w=n=>{m.has(n.id)||m.set(n.id,n);if(n.children)for(let k of "
    "n.children)w(k)};w(e);c=__cosmosNodes={root:e,map:m};queueMicrotask(()=>"
    "{__cosmosNodes=null})}let r=c.map.get(t);return r===void 0?null:r}")
#: Before any update that sets no value, the page copies each component's live value, open
#: and selected state back into its node (so a re-mount, e.g. on a visibility change, keeps
#: what the user typed), taking a deep snapshot of *every* prop of the component and of all
#: its descendants to do it. A loading-status update re-mounts nothing, so it skips that copy:
#: with big values (the runs table, the gallery, the log) it was the other half of a click.
STATUS_ONLY = Patch(
    "skip the value sync on an update that only sets the loading status",
    "r&&!(`value`in t)&&(await this.#m(e,r),await this.#h(r))",
    "r&&!(`value`in t)&&!(`loading_status`in t&&Object.keys(t).length===1)&&"
    "(await this.#m(e,r),await this.#h(r))")
#: A status tracker counts the seconds its event has waited on every animation frame (a
#: requestAnimationFrame loop, 60 a second), and the loop stops only when the tracker is told
#: the event ended. A tracker destroyed while its event was pending is never told, so its loop
#: runs for as long as the page is open; and a tracker whose progress is hidden counts for
#: nobody. Measured on the Create tab, idle: 180 frames a second from such loops (plus
#: review.js's), ~1 CPU-second of Chromium every 8 s, ~12% of a core per open tab; 0.11 s
#: with the loops stopped. The loop now goes on only while the status is pending and shown,
#: and otherwise marks the timer stopped, so the next pending status starts it again.
STATUS_TIMER = Patch(
    "stop a status tracker's per-frame elapsed-time loop once its event is over or hidden",
    "function ze(){me(()=>{F(Pe,(performance.now()-w(de))/1e3),W&&ze()})}",
    "function ze(){me(()=>{F(Pe,(performance.now()-w(de))/1e3),W&&o.status===`pending`&&"
    "y()!==`hidden`?ze():W=!1})}",
    asset="statustracker-*.js")
#: After each status message of any event the page re-sends the loading status of every
#: component that was ever an event's output (~260 here), although at most the ones of that
#: event changed: each send is an update of the component's props and its status tracker's
#: render (65-120 ms of the page's main thread per click on Run, most of a click's render).
#: The patch sends a status only when it differs, field by field, from the last one this
#: function sent to that component. A status set on a component by any other path (the
#: submission's `validation_error` reset, a validation error) forgets what was sent there,
#: so the next status always goes out; a status mutated in place compares against a copy.
CHANGED_STATI = Patch(
    "re-send only the loading statuses that changed after each status message",
    "async update_loading_stati_state(){await Promise.all(Object.entries(this.loading_stati."
    "current).map(([e,t])=>this.update_state_cb(Number(e),{loading_status:t},!1)))}",
    "async update_loading_stati_state(){let s=this.__sent;if(!s||this.__sentCb!==this."
    "update_state_cb){s=this.__sent=new Map;let v=this.__invalid=new Set,c=this.update_state_cb;"
    "this.update_state_cb=this.__sentCb=(e,t,n)=>{if(t&&`loading_status`in t){let k=Number(e);"
    "t.loading_status?.validation_error?v.add(k):v.delete(k);this.__own||s.delete(k)}"
    "return c.call(this,e,t,n)}}"
    "let q=(a,b)=>{for(let k in a)if(a[k]!==b[k])return!1;for(let k in b)"
    "if(!(k in a))return!1;return!0},u=[];for(let[e,t]of Object.entries(this.loading_stati."
    "current)){let k=Number(e),p=s.get(k);if(p&&q(p,t))continue;s.set(k,{...t});u.push([k,t])}"
    "let r;this.__own=!0;try{r=u.map(([e,t])=>this.update_state_cb(e,{loading_status:t},!1))}"
    "finally{this.__own=!1}await Promise.all(r)}",
    asset="Blocks-*.js")
#: At its first message every submission resets the validation error of each of its inputs
#: (144 for Run), one props update and status render each, although only Gradio's input
#: validators ever set one (this app has none). With CHANGED_STATI's wrapper watching every
#: status sent, the reset goes only to inputs that show a validation error; before that
#: wrapper exists (no status was sent yet) every input is reset, as shipped.
VALIDATION_RESET = Patch(
    "reset the validation error only on inputs that show one",
    "r.inputs.forEach(e=>{this.update_state_cb(e,{loading_status:{validation_error:null}},!1)})",
    "r.inputs.forEach(e=>{(this.__invalid===void 0||this.__invalid.has(Number(e)))&&this."
    "update_state_cb(e,{loading_status:{validation_error:null}},!1)})",
    asset="Blocks-*.js")
PATCHES = (NODE_LOOKUP, STATUS_ONLY, STATUS_TIMER, CHANGED_STATI, VALIDATION_RESET)


def assets_dir() -> Path:
    import gradio

    return Path(gradio.__file__).parent / "templates" / "frontend" / "assets"


def patched_assets(folder: Path | None = None,
                   patches: tuple[Patch, ...] = PATCHES) -> dict[str, bytes]:
    """URL path -> patched body of each Gradio asset a patch names (the page core, `core-*.js`;
    the status tracker). Each patch applies where its original text occurs exactly once; one
    that is found nowhere is logged and skipped."""
    folder = folder or assets_dir()
    out: dict[str, bytes] = {}
    applied: set[Patch] = set()
    paths = sorted({path for patch in patches for path in folder.glob(patch.asset)})
    for path in paths:
        text = original = path.read_text(encoding="utf-8")
        for patch in patches:
            if path.match(patch.asset) and text.count(patch.original) == 1:
                text = text.replace(patch.original, patch.replacement)
                applied.add(patch)
        if text != original:
            out[f"/assets/{path.name}"] = text.encode("utf-8")
    for patch in patches:
        if patch not in applied:
            log.warning("Gradio's page code changed: cannot %s (see cosmos_ui/frontend_patch.py);"
                        " that part is served as shipped and clicks are slower", patch.why)
    return out


class FrontendPatch:
    """ASGI middleware that serves the patched asset(s) and hands every other request on."""

    def __init__(self, app: Any, *, assets: dict[str, bytes] | None = None) -> None:
        self.app = app
        self.assets = patched_assets() if assets is None else assets

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        body = self.assets.get(scope.get("path", "")) if scope["type"] == "http" else None
        if body is None or scope.get("method") not in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        await send({"type": "http.response.start", "status": 200, "headers": [
            (b"content-type", b"text/javascript; charset=utf-8"),
            (b"content-length", str(len(body)).encode()),
            # the file name carries the content hash of the shipped asset, as Gradio's does
            (b"cache-control", b"public, max-age=86400")]})
        await send({"type": "http.response.body",
                    "body": body if scope.get("method") == "GET" else b""})


__all__ = ["CHANGED_STATI", "FrontendPatch", "PATCHES", "Patch", "STATUS_TIMER", "VALIDATION_RESET",
           "patched_assets"]
