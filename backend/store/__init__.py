"""The single source of truth: every table and every query (see database.py)."""

from backend.store.database import *  # noqa: F401,F403
from backend.store.database import db  # noqa: F401
