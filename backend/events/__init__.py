"""Events: what happened to runs and hosts, published where the state changes.

types.py  the typed events;  bus.py  subscribe/publish in a process;  relay.py  across processes.
"""

from backend.events.bus import EventBus, Listener  # noqa: F401
from backend.events.types import (CancelRequested, Event, HostAction,  # noqa: F401
                                  HostTelemetry, LogAppended, ProgressMoved, StatusChanged,
                                  UploadProgress)
