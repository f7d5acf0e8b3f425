"""The pieces every model's validation is made of: FieldError and small value readers.

Why shared: a refusal looks the same whichever model refuses (a field to fix and a message
saying what is wrong and what is allowed), so the form and the CLI place and print them the
same way. The rules themselves are each profile's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class FieldError:
    """One reason a request is refused, tied to the field the person has to change."""

    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


class InvalidParams(ValueError):
    """Raised by `check_params`; carries every FieldError so a UI can mark each field."""

    def __init__(self, errors: list[FieldError]) -> None:
        self.errors = list(errors)
        super().__init__("; ".join(str(e) for e in self.errors))


class VideoInfoLike(Protocol):
    """What validation needs to know about a video (backend.media.VideoInfo fits)."""

    width: int
    height: int
    frames: int
    fps: float


def number(value: Any) -> float | None:
    """A finite real number as float, else None (bools and numeric strings are not numbers)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def whole(value: Any) -> int | None:
    """A whole number as int; 35.0 counts (JSON and UI number fields produce floats)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if isinstance(value, float):
        return int(value) if math.isfinite(value) and value.is_integer() else None
    return value


def show(value: Any) -> str:
    """Render a user value in a message: numbers plainly (1.5, 35), anything else quoted."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return f"{value:g}" if isinstance(value, float) else str(value)


def plural(names: list[str]) -> str:
    """'a', 'a and b', 'a, b and c'."""
    if len(names) == 1:
        return names[0]
    return ", ".join(names[:-1]) + " and " + names[-1]


def one_of(values: tuple[Any, ...]) -> str:
    """'1, 2, 4 or 8'."""
    items = [str(v) for v in values]
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " or " + items[-1]


def text_value(value: Any) -> str | None:
    """Stripped text, or None when it is not text or blank."""
    if not isinstance(value, str) or not value.strip():
        return None
    return value.strip()
