/* The Create form in reach and honest. First: typed values are never replaced behind the
 * artist's back.
 *
 * Gradio's slider clamps the number typed into its box when the box loses focus (5 in a
 * 0..1 weight becomes 1, -1 becomes 0) and the run would then queue the clamped value. This
 * stops that one blur handler for a value outside the slider's range, so the typed value
 * stays, reaches the server as typed and gets its message under the field (validation names
 * what is wrong and what is allowed, and Run queues nothing until it is fixed).
 */
(function () {
  "use strict";
  function outOfRange(box) {
    if (!box || box.type !== "number") return false;
    const block = box.closest(".block");
    const range = block && block.querySelector("input[type=range]");
    if (!range || !box.closest("#create-form")) return false;
    const value = Number(box.value);
    if (box.value === "" || Number.isNaN(value)) return false;
    const low = range.min === "" ? -Infinity : Number(range.min);
    const high = range.max === "" ? Infinity : Number(range.max);
    return value < low || value > high;
  }
  // capture phase at the document runs before the box's own blur listener; stopping the
  // event there keeps the clamp from running (nothing else listens to a slider box's blur)
  document.addEventListener("blur", function (event) {
    if (outOfRange(event.target)) event.stopPropagation();
  }, true);
})();

/* Run is in reach: Ctrl+Enter (Cmd+Enter) in the prompt clicks Run. */
document.addEventListener("keydown", function (event) {
  if (event.key !== "Enter" || !(event.ctrlKey || event.metaKey)) return;
  if (!event.target.closest || !event.target.closest("#prompt")) return;
  const run = document.querySelector("#run-button");
  if (run && !run.disabled) { event.preventDefault(); run.click(); }
});

/* The Seg text prompt (and the seg weight prompt) only show while the seg control is on, or
 * while they hold text (so a message about that text still has its field beside it). A
 * light look, not a listener per update: the server sets values without input events. */
(function () {
  "use strict";
  function segOff() {
    const box = document.querySelector("#weight-seg input[type=number]");
    return !box || box.offsetParent === null || Number(box.value || 0) === 0;
  }
  function look() {
    const off = segOff();
    for (const id of ["seg-prompt", "weight-prompt"]) {
      const block = document.getElementById(id);
      if (!block) continue;
      const text = block.querySelector("textarea, input");
      const hide = off && !(text && text.value.trim());
      block.classList.toggle("cosmos-hidden-empty", hide);
    }
  }
  setInterval(look, 250);
})();

/* The Kill confirmation opens where it was asked for: next to the Kill button clicked. */
(function () {
  "use strict";
  let at = null;
  document.addEventListener("click", function (event) {
    const kill = event.target.closest && event.target.closest("#kill-button");
    if (kill) {
      const r = kill.getBoundingClientRect();
      at = {left: r.left, top: r.bottom + 6, above: r.top - 6};
    }
  }, true);
  function set(box, prop, px) {  // only real changes: a style write is itself a mutation
    const value = Math.round(px) + "px";
    if (box.style[prop] !== value) box.style[prop] = value;
  }
  function place(box) {
    if (!at) return;
    // below the button clicked, or above it when the window has no room below
    const width = Math.min(420, window.innerWidth - 16);
    set(box, "width", width);
    set(box, "left", Math.max(8, Math.min(at.left, window.innerWidth - width - 8)));
    const height = box.getBoundingClientRect().height || 160;
    const top = at.top + height <= window.innerHeight - 8 ? at.top : at.above - height;
    set(box, "top", Math.max(8, Math.min(top, window.innerHeight - height - 8)));
  }
  new MutationObserver(function () {
    const yes = document.getElementById("kill-confirm");
    const placed = document.querySelector(".at-click");
    if (!yes || (!at && !placed)) return;
    // Gradio gives the group's elem_id to more than one element: move the outermost
    const box = [...document.querySelectorAll("[id=kill-confirm-box]")]
      .find(el => el.contains(yes));
    if (!box) return;
    const visible = yes.getClientRects().length > 0;
    if (visible && at) {
      if (!box.classList.contains("at-click")) box.classList.add("at-click");
      place(box);
      requestAnimationFrame(() => place(box));  // again once its content is laid out
    } else if (!visible && placed) {
      placed.classList.remove("at-click");
      placed.style.left = placed.style.top = placed.style.width = "";
      at = null;
    }
  }).observe(document.body, {subtree: true, childList: true, attributes: true,
                             attributeFilter: ["class", "style", "hidden"]});
})();
