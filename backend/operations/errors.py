"""How operations refuse: each error carries a message meant for the person who asked."""

from __future__ import annotations

from backend.models.checks import FieldError




class ValidationFailed(ValueError):
    """The request was refused before anything was stored; `errors` says why, per field."""

    def __init__(self, errors: list[FieldError]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{e.field}: {e.message}" for e in errors))


class NotFound(KeyError):
    pass


class Refused(ValueError):
    """The action cannot be done in the run's current state; the message says why and what to do."""
