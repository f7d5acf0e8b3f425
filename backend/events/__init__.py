"""Events: what happened to runs and hosts, published where the state changes."""

from backend.events.bus import Event, EventBus  # noqa: F401
