"""Suite-wide setup: each pytest-xdist worker runs in a network namespace of its own, and a
parallel run starts the longest test files first.

See tests/netns.py for why the namespaces. A serial run (no xdist) is left as it is. Set
COSMOS_TESTS_SHARED_NETWORK=1 to keep xdist workers in the machine's namespace. The order:
tests/durations.py (with `--no-loadscope-reorder`, as the Makefile runs it, xdist keeps it).
"""

from __future__ import annotations

import os
import sys


def pytest_configure(config) -> None:
    if not os.environ.get("PYTEST_XDIST_WORKER") or os.environ.get("COSMOS_TESTS_SHARED_NETWORK"):
        return
    if not sys.platform.startswith("linux") or os.geteuid() != 0:
        return  # the root-only fixtures skip anyway; unit tests need no isolation
    import warnings

    from tests.netns import enter_own_network_namespace

    try:
        enter_own_network_namespace()
    except OSError as exc:  # e.g. a container without CAP_SYS_ADMIN: run, but say so
        warnings.warn(f"xdist worker shares the machine's network (ports may clash): {exc}")


def pytest_collection_modifyitems(session, config, items) -> None:
    """In an xdist worker, longest files first (tests/durations.py). Every worker sorts the same
    collection the same way, as xdist requires."""
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return
    from tests.durations import load, longest_first

    order = longest_first([item.nodeid for item in items], load())
    items[:] = [items[i] for i in order]
