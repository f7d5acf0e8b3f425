"""Suite-wide setup: each pytest-xdist worker runs in a network namespace of its own.

See tests/netns.py for why. A serial run (no xdist) is left as it is. Set
COSMOS_TESTS_SHARED_NETWORK=1 to keep xdist workers in the machine's namespace.
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
