"""Tell the artist when a run they launched from this browser finishes or fails: a browser
notification (permission asked on their click), an optional sound, and an in-page toast.

The runs to watch live in the browser's storage, so a reload keeps watching them; when a run
ends (an event, pushed by the page's live stream) the page asks which of its watched runs are
done: one query for just those runs.
"""

from __future__ import annotations

import json
import time
from typing import Any

import gradio as gr

from backend.store.history import RunFilter
from backend.operations import Operations
from components.common import run_title
from components.nav import Nav

ENDED = ("completed", "failed", "cancelled", "blocked")
MAX_WATCHED = 50
CHILD_OF = "after:"  # "after:<run id>:<since>" waits for the upscale a finished run chains
CHILD_WAIT = 120.0  # seconds to wait for that upscale to appear

PERMISSION_JS = """() => {
  const out = document.querySelector('#notify-state');
  const show = (t) => { if (out) out.textContent = t; };
  if (!('Notification' in window)) { show('This browser has no notifications.'); return; }
  Notification.requestPermission().then(p => show(p === 'granted'
      ? 'Notifications on: you will be told when your runs end.'
      : 'Notifications blocked (' + p + '); toasts in the page still appear.'));
}"""

NOTIFY_JS = r"""
let version = null;
function beep(ok) {
  try {
    const ctx = new (window.AudioContext || window.webkitAudioContext)();
    const notes = ok ? [660, 880] : [440, 330];
    notes.forEach((f, i) => {
      const o = ctx.createOscillator(), g = ctx.createGain();
      o.frequency.value = f; o.connect(g); g.connect(ctx.destination);
      const t = ctx.currentTime + i * 0.18;
      g.gain.setValueAtTime(0.15, t); g.gain.exponentialRampToValueAtTime(0.001, t + 0.16);
      o.start(t); o.stop(t + 0.17);
    });
  } catch (err) {}
}
function apply() {
  let d = null;
  try { d = JSON.parse(props.value || 'null'); } catch (err) { return; }
  if (!d || d.v === version) return;
  version = d.v;
  window.cosmosNotified = (window.cosmosNotified || []).concat(d.items);
  for (const it of d.items) {
    if ('Notification' in window && Notification.permission === 'granted') {
      try { new Notification('Cosmos run ' + it.status, {body: it.title, tag: it.id}); } catch (err) {}
    }
    if (d.sound) beep(it.status === 'completed');
  }
}
watch('value', apply);
"""


def notification_items(runs: list[Any]) -> list[dict[str, str]]:
    return [{"id": r.id, "status": r.status, "title": run_title(r, 80)}
            for r in runs if r.is_terminal]


def wants_endings(page, events) -> bool:
    """A live-signal rule: some run ended, or one was queued (a chained upscale)."""
    return any(e.kind == "status" and (e.data.get("status") in ENDED
                                       or e.data.get("status") == "queued") for e in events)


class Notifier:
    def __init__(self, ops: Operations, nav: Nav, live: Any) -> None:
        self.ops = ops
        self.nav = nav
        with gr.Row(elem_id="notify-bar"):
            self.enable = gr.Button("Enable notifications", size="sm", min_width=150,
                                    elem_id="notify-enable")
            self.sound = gr.Checkbox(label="Sound", value=False, min_width=90,
                                     elem_id="notify-sound", container=False,
                                     info="when my runs end")
        self.state = gr.HTML("<span id='notify-state' class='muted'></span>", js_on_load=None,
                             elem_id="notify-state-box")
        # invisible: only its script matters (it raises the notifications and the sound)
        self.payload = gr.HTML("", html_template="<span></span>", js_on_load=NOTIFY_JS,
                               elem_id="notifier", elem_classes="offscreen")
        self.watch = gr.BrowserState([], storage_key="cosmos-watched-runs")
        self.sound_pref = gr.BrowserState(False, storage_key="cosmos-sound")
        self.changed = live.signal("notify", wants_endings)
        self._wire()

    def add(self, run_id: str | None, watch: list[str] | None):
        watch = [w for w in (watch or []) if isinstance(w, str)]
        if run_id and run_id not in watch:
            watch = (watch + [run_id])[-MAX_WATCHED:]
        return watch

    def check(self, watch: list[str] | None, sound: bool):
        """One query for the watched runs; finished ones are announced and dropped. A finished
        "Run + upscale" keeps watching for its upscale (`after:<id>` until it exists)."""
        watch = [w for w in (watch or []) if isinstance(w, str)]
        if not watch:
            return gr.skip(), gr.skip()
        now = time.time()
        ids = [w for w in watch if not w.startswith(CHILD_OF)]
        for entry in (w for w in watch if w.startswith(CHILD_OF)):
            _, parent, since = (entry.split(":") + ["0"])[:3]
            children = [c.id for c in self.ops.children_of(parent)] \
                if hasattr(self.ops, "children_of") else []
            ids += children
            if not children and now - float(since or 0) < CHILD_WAIT:
                ids.append(entry)
        runs, _ = self.ops.find_runs(RunFilter(ids=tuple(i for i in ids
                                                         if not i.startswith(CHILD_OF))),
                                     limit=max(1, len(ids)))
        alive = {r.id for r in runs}
        items = notification_items(runs)
        done = {i["id"] for i in items}
        remaining = [w for w in ids if (w in alive and w not in done) or w.startswith(CHILD_OF)]
        remaining += [f"{CHILD_OF}{r.id}:{now:.0f}" for r in runs if r.id in done
                      and r.status == "completed" and (r.params or {}).get("chain_upscale")]
        for item in items:
            text = f"Run {item['status']}: {item['title']}"
            (gr.Info if item["status"] == "completed" else gr.Warning)(text)
        payload = json.dumps({"items": items, "sound": bool(sound), "v": time.monotonic_ns()}) \
            if items else gr.skip()
        return payload, remaining

    def _wire(self) -> None:
        quiet = dict(api_visibility="private", show_progress="hidden")
        self.enable.click(None, None, None, js=PERMISSION_JS, **quiet)
        self.sound.input(lambda on: bool(on), self.sound, self.sound_pref, **quiet)
        self.nav.launched.change(self.add, [self.nav.launched, self.watch], self.watch, **quiet)
        self.changed.change(self.check, [self.watch, self.sound], [self.payload, self.watch],
                            **quiet)

    def on_load(self, watch: list[str] | None, sound: bool | None):
        """Outputs: the sound checkbox (remembered by this browser), and the watched runs,
        checked at once (one may have ended while no page was open)."""
        return bool(sound)
