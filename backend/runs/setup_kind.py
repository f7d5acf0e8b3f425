"""Registers the `setup` run type (backend/runs/setup_run.py) with the extension registry.

Kept apart from setup_run.py so importing the registry pulls in only this tiny module and the
runner is imported when a setup actually runs.
"""

from __future__ import annotations

from typing import Any

from backend.extensions import register_run_type

RUN_SETUP = "setup"


class _SetupFactory:
    """Makes a SetupRunner per run; `gpus`: a setup holds no GPU."""

    gpus = 0

    def __call__(self, settings: Any, store: Any, runtime: Any, instance_id: str) -> Any:
        from backend.runs.setup_run import SetupRunner

        return SetupRunner(settings, store, runtime, instance_id)


register_run_type(RUN_SETUP, _SetupFactory())
