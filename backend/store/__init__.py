"""The single source of truth: every table and every query of the app.

models.py (tables, statuses)  schema.py (migrations)  database.py (Store: open, write, publish)
runs.py  logs.py  claims.py  history.py  catalog.py  reviews.py  fleet.py  users.py  events.py
"""

from backend.store.database import Store  # noqa: F401
from backend.store.models import *  # noqa: F401,F403
from backend.store.models import db  # noqa: F401
from backend.store.runs import StaleTransition  # noqa: F401
from backend.store.schema import SCHEMA_VERSION  # noqa: F401
