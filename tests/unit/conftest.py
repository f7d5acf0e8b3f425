"""Fixtures the unit tests share."""

from __future__ import annotations

import pytest

from backend import store as st
from backend.operations import Operations
from tests.helpers import make_settings


@pytest.fixture
def ops(tmp_path):
    """Operations on a fresh store in `tmp_path` (no scheduler: nothing runs by itself)."""
    settings = make_settings(tmp_path)
    store = st.Store(settings.db_path)
    yield Operations(settings, store)
    store.close()
