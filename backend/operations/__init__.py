"""The one facade the UI and the CLI use (facade.py), and what it hands out."""

from backend.operations.errors import NotFound, Refused, ValidationFailed  # noqa: F401
from backend.operations.facade import Operations  # noqa: F401
from backend.operations.inputs import VIDEO_SUFFIXES  # noqa: F401
from backend.operations.summary import RunSummary, summarize  # noqa: F401
from backend.paths import ASSETS_DIR  # noqa: F401
