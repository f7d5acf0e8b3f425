/* The Create form's typed values are never replaced behind the artist's back.
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
