"""Form components whose bad values reach our validation instead of failing in Gradio.

Gradio converts an event's inputs before the handler runs: a Number given "abc" raises a
bare ValueError there (the page shows an empty error), a Radio given a value outside its
choices raises "Value ... is not in the list of choices". Anyone can send such values with a
script. These subclasses hand the raw value through instead, so the handler's validation
(backend/models/transfer1/validate.py for the Create form) names the field, says what is
allowed and shows it under that field. `Checked` variants are for small controls with no
field slot (page size, rating filters): they refuse with a message naming the control and
what it allows, never a blank error.
"""

from __future__ import annotations

from typing import Any

import gradio as gr


def _label(component: Any) -> str:
    return str(component.label or component.elem_id or "This field")

from gradio.events import Dependency

class Number(gr.Number):
    """A number field that passes a non-number or out-of-range value on as it came."""

    is_template = True  # rendered by the base component's frontend

    def preprocess(self, payload: Any) -> Any:
        try:
            return super().preprocess(payload)
        except (TypeError, ValueError, gr.Error):
            return payload
    from typing import Callable, Literal, Sequence, Any, TYPE_CHECKING
    from gradio.blocks import Block
    if TYPE_CHECKING:
        from gradio.components import Timer
        from gradio.components.base import Component


class Slider(gr.Slider):
    is_template = True  # rendered by the base component's frontend

    def preprocess(self, payload: Any) -> Any:
        try:
            return super().preprocess(payload)
        except (TypeError, ValueError, gr.Error):
            return payload
    from typing import Callable, Literal, Sequence, Any, TYPE_CHECKING
    from gradio.blocks import Block
    if TYPE_CHECKING:
        from gradio.components import Timer
        from gradio.components.base import Component


class Radio(gr.Radio):
    is_template = True  # rendered by the base component's frontend

    def preprocess(self, payload: Any) -> Any:
        try:
            return super().preprocess(payload)
        except (TypeError, ValueError, gr.Error):
            return payload
    from typing import Callable, Literal, Sequence, Any, TYPE_CHECKING
    from gradio.blocks import Block
    if TYPE_CHECKING:
        from gradio.components import Timer
        from gradio.components.base import Component


class Dropdown(gr.Dropdown):
    is_template = True  # rendered by the base component's frontend

    def preprocess(self, payload: Any) -> Any:
        try:
            return super().preprocess(payload)
        except (TypeError, ValueError, gr.Error):
            return payload
    from typing import Callable, Literal, Sequence, Any, TYPE_CHECKING
    from gradio.blocks import Block
    if TYPE_CHECKING:
        from gradio.components import Timer
        from gradio.components.base import Component


def _allowed(component: Any) -> str:
    choices = [value for _, value in getattr(component, "choices", []) or []]
    if choices:
        return "choose one of " + ", ".join(repr(c) for c in choices)
    low, high = getattr(component, "minimum", None), getattr(component, "maximum", None)
    if low is not None or high is not None:
        return f"give a number from {low} to {high}"
    return "give a valid value"


def _refuse(component: Any, payload: Any) -> gr.Error:
    return gr.Error(f"{_label(component)}: {str(payload)[:80]!r} is not allowed; "
                    f"{_allowed(component)}.")


class CheckedDropdown(gr.Dropdown):
    is_template = True  # rendered by the base component's frontend

    def preprocess(self, payload: Any) -> Any:
        try:
            return super().preprocess(payload)
        except (TypeError, ValueError, gr.Error):
            raise _refuse(self, payload) from None
    from typing import Callable, Literal, Sequence, Any, TYPE_CHECKING
    from gradio.blocks import Block
    if TYPE_CHECKING:
        from gradio.components import Timer
        from gradio.components.base import Component


class CheckedRadio(gr.Radio):
    is_template = True  # rendered by the base component's frontend

    def preprocess(self, payload: Any) -> Any:
        try:
            return super().preprocess(payload)
        except (TypeError, ValueError, gr.Error):
            raise _refuse(self, payload) from None
    from typing import Callable, Literal, Sequence, Any, TYPE_CHECKING
    from gradio.blocks import Block
    if TYPE_CHECKING:
        from gradio.components import Timer
        from gradio.components.base import Component


class CheckedDateTime(gr.DateTime):
    is_template = True  # rendered by the base component's frontend

    def preprocess(self, payload: Any) -> Any:
        try:
            return super().preprocess(payload)
        except (TypeError, ValueError, AttributeError, gr.Error):
            raise gr.Error(f"{_label(self)}: {str(payload)[:80]!r} is not a date; give one "
                           "such as 2026-11-01, or e.g. now - 7d.") from None
    from typing import Callable, Literal, Sequence, Any, TYPE_CHECKING
    from gradio.blocks import Block
    if TYPE_CHECKING:
        from gradio.components import Timer
        from gradio.components.base import Component


class CheckedCheckbox(gr.Checkbox):
    is_template = True  # rendered by the base component's frontend

    def preprocess(self, payload: Any) -> Any:
        if payload is not None and not isinstance(payload, bool):
            raise gr.Error(f"{_label(self)}: {str(payload)[:80]!r} is not allowed; it is on "
                           "(true) or off (false).")
        return super().preprocess(payload)
    from typing import Callable, Literal, Sequence, Any, TYPE_CHECKING
    from gradio.blocks import Block
    if TYPE_CHECKING:
        from gradio.components import Timer
        from gradio.components.base import Component