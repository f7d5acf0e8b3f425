"""The one facade the UI and the CLI use."""

from backend.operations.facade import *  # noqa: F401,F403
from backend.operations.facade import ASSETS_DIR, VIDEO_SUFFIXES, _summary  # noqa: F401
