"""gr.Blocks whose skipped outputs cost nothing.

Why: our handlers answer many outputs and leave most alone with `gr.skip()` (the page's
stream writes ~30 outputs and usually changes two; Load settings writes the ~70 fields of
the form and changes the few that differ). Gradio 6 treats a skip as a property update: for
each one it builds a new instance of the component from its constructor arguments and
re-serialises its config, about 1.3 ms each. Measured with cProfile on the app: 66 skips
made 85-115 ms of Load settings' 120 ms on the server, and 25 ms of every stream message.

A skip changes nothing, so its answer is the skip itself. `LeanBlocks.postprocess_data`
hands Gradio only the outputs that change and puts the skips back in their places. State
outputs always go through Gradio (their values live in the session). The answer is the
same list Gradio would send (tests/unit/test_lean_blocks.py compares them).
"""

from __future__ import annotations

from typing import Any

import gradio as gr


def _is_skip(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and value.get("__type__") == "update"


class _SomeOutputs:
    """A view of a BlockFunction with only some of its outputs (everything else as is)."""

    def __init__(self, fn: Any, outputs: list[Any]) -> None:
        self._fn = fn
        self.outputs = outputs

    def __getattr__(self, name: str) -> Any:
        return getattr(self._fn, name)


class LeanBlocks(gr.Blocks):
    async def postprocess_data(self, block_fn: Any, predictions: Any, state: Any) -> list[Any]:
        outputs = list(block_fn.outputs)
        if (block_fn.batch or getattr(block_fn, "is_validator_function", False)
                or not isinstance(predictions, (list, tuple))
                or len(predictions) != len(outputs) or len(outputs) < 2):
            return await super().postprocess_data(block_fn, predictions, state)
        kept = [i for i, (block, value) in enumerate(zip(outputs, predictions))
                if not _is_skip(value) or getattr(block, "stateful", False)]
        if len(kept) == len(outputs):
            return await super().postprocess_data(block_fn, predictions, state)
        answer: list[Any] = [{"__type__": "update"} for _ in outputs]
        if kept:
            some = _SomeOutputs(block_fn, [outputs[i] for i in kept])
            values = [predictions[i] for i in kept]
            done = await super().postprocess_data(some, values if len(kept) > 1 else values[0],
                                                  state)
            for i, value in zip(kept, done):
                answer[i] = value
        return answer
