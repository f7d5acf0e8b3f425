"""A live log panel: the server sends only new lines, the page appends them.

Why custom: re-sending a whole log several times a second is wasteful, and a plain textbox jumps
to the bottom on every update even while the person reads further up. Here each update carries
the lines after the last one sent (numbered), the page appends them, follows the tail while the
reader is at the bottom and stops following when they scroll up (a "Follow" button resumes).

When the panel (re)appears on the page, for example after switching tabs or a reload, it asks
for the full tail with a `focus` event; it also asks again if it ever sees a gap in the line
numbers, so it can never silently show a partial log.
"""

from __future__ import annotations

import json
import time
from typing import Sequence

import gradio as gr

TEMPLATE = """
<div class="log-wrap">
  <div class="log-head"><span class="log-count">no log yet</span>
    <button type="button" class="log-follow" hidden>Follow the log</button></div>
  <textarea class="log-text" readonly spellcheck="false" wrap="off"
            aria-label="Run log"></textarea>
</div>
"""

JS = r"""
const ta = element.querySelector('textarea');
const follow = element.querySelector('.log-follow');
const count = element.querySelector('.log-count');
let run = null, last = -1, lines = 0, total = 0, stick = true, version = null, ours = -1;
let es = null, esRun = null, retry = null, failures = 0, token = null, parked = null;
function toBottom() { ta.scrollTop = ta.scrollHeight; ours = ta.scrollTop; }
function setStick(on) { stick = on; follow.hidden = on; element.dataset.follow = on ? '1' : '0'; }
// A scroll we did not cause is the reader's: at the bottom it follows, anywhere else it stops.
ta.addEventListener('scroll', () => {
  if (Math.abs(ta.scrollTop - ours) <= 2) return;
  setStick(ta.scrollHeight - ta.scrollTop - ta.clientHeight < 30);
});
ta.addEventListener('wheel', (ev) => { if (ev.deltaY < 0) setStick(false); }, {passive: true});
follow.addEventListener('click', () => { setStick(true); toBottom(); });
// Numbered lines after the last shown, from either way they come; a gap asks for the tail.
function add(ls) {
  const fresh = ls.filter(l => l[0] > last);
  if (fresh.length && last >= 0 && fresh[0][0] > last + 1) { trigger('focus'); return; }
  if (!fresh.length) return;
  ta.value += (ta.value ? '\n' : '') + fresh.map(l => l[1]).join('\n');
  last = fresh[fresh.length - 1][0];
  lines += fresh.length;
  total = Math.max(total, last + 1);
  if (ta.value.length > 600000) {
    const cut = ta.value.indexOf('\n', ta.value.length - 400000);
    ta.value = ta.value.slice(cut + 1);
  }
}
function show() {
  element.dataset.run = run || '';
  element.dataset.last = last;
  count.textContent = total ? (total + ' lines' + (total > lines ? ' (showing the last ' + lines + ')' : '')) : 'no log yet';
  if (stick) toBottom();
}
// The run's new lines come on the log channel (cosmos_ui/log_channel.py) while it runs: a
// few milliseconds after they are stored, instead of with the page's next Gradio message.
function closeChannel() {
  if (es) { es.close(); es = null; }
  if (retry) { clearTimeout(retry); retry = null; }
  esRun = null; element.dataset.channel = '';
}
function openChannel(ch, r) {
  closeChannel();
  if (!ch || !r || typeof EventSource === 'undefined') return;
  // a tab in the background holds no connection (a browser allows six per server over
  // HTTP/1.1, shared by every tab); it opens again when the tab shows
  if (!element.isConnected) return;
  if (document.hidden) { parked = r; return; }
  parked = null;
  const url = new URL('cosmos/log-stream', document.baseURI);
  url.searchParams.set('page', ch); url.searchParams.set('run', r);
  url.searchParams.set('after', String(last));
  esRun = r;
  es = new EventSource(url);
  es.onopen = () => { element.dataset.channel = 'open'; };
  es.onmessage = (ev) => {
    // a panel Gradio took off the page (it mounts a new one) lets go of its channel
    if (!element.isConnected) { closeChannel(); return; }
    let d = null;
    try { d = JSON.parse(ev.data); } catch (err) { return; }
    if (!d || d.run !== run) return;
    failures = 0;
    add(d.lines); show();
  };
  // the run's GPU chart (components/gpu_chart.py) rides the same channel: no Gradio message
  es.addEventListener('chart', (ev) => {
    let d = null;
    try { d = JSON.parse(ev.data); } catch (err) { return; }
    const box = document.querySelector('#gpu-plot .gpu-chart');
    if (d && d.run === run && box && box.dataset.run === run) box.outerHTML = d.html;
  });
  es.addEventListener('end', () => closeChannel());
  // closed by the server (the page shows another run, the app restarted) or the network:
  // try again a few times from the last line shown; the page's own stream covers meanwhile
  es.onerror = () => {
    const again = esRun;
    closeChannel();
    if (!element.isConnected || again !== run || ++failures > 3) return;
    retry = setTimeout(() => { if (run === again) openChannel(ch, again); }, 1000 * failures);
  };
}
function onVisibility() {
  if (!element.isConnected) {
    document.removeEventListener('visibilitychange', onVisibility); closeChannel(); return;
  }
  if (document.hidden && es) { const r = esRun; closeChannel(); parked = r; }
  else if (!document.hidden && parked && parked === run && token) openChannel(token, parked);
}
document.addEventListener('visibilitychange', onVisibility);
function apply() {
  let d = null;
  try { d = JSON.parse(props.value || 'null'); } catch (err) { return; }
  if (!d || d.v === version) return;
  version = d.v;
  if (d.note !== undefined) ta.placeholder = d.note;
  if (d.reset || d.run !== run) {
    closeChannel(); failures = 0;
    ta.value = ''; last = -1; lines = 0; total = 0; run = d.run; setStick(true);
    if (!d.reset) { trigger('focus'); return; }
  }
  add(d.lines);
  if (d.total) total = Math.max(total, d.total);
  show();
  if (d.reset) { token = d.ch || null; parked = null; }
  if (d.reset && d.ch) openChannel(d.ch, d.run);
}
watch('value', apply);
apply();
trigger('focus');
"""


def log_payload(run_id: str | None, lines: Sequence[tuple[int, str]], *, reset: bool,
                total: int, note: str = "", channel: str = "", live: bool = False) -> str:
    """One update for the panel; `v` makes every update distinct so none is dropped as a
    repeat of the previous value. `note`: what the empty panel says (e.g. queued).
    `channel` and `live` (on a reset): the page's log channel token, and whether the run may
    still write lines (the panel then follows it on the channel)."""
    body = {"run": run_id, "reset": reset, "lines": [list(x) for x in lines], "total": total,
            "v": time.monotonic_ns()}
    if note:
        body["note"] = note
    if channel and live and run_id:
        body["ch"] = channel
    return json.dumps(body, ensure_ascii=False)


class LogPanel:
    """The panel's `focus` event means "send me the whole tail again" (see the module
    docstring); its owner wires it."""

    def __init__(self, elem_id: str = "run-log") -> None:
        self.html = gr.HTML("", html_template=TEMPLATE, js_on_load=JS, elem_id=elem_id)
