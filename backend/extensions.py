"""Every extension point of the app, in one file: what you register to add a host kind or a
model, and where the built-in ones are.

Host kinds (how a box is reached and how its jobs run): subclass `backend.hosts.kind.HostKind`
and register it with `register_host_kind`. Built in: `local` and `ssh` (Docker or a
docker-compatible engine, backend/hosts/docker_kinds.py) and `slurm` (backend/slurm/kind.py).
A kind is chosen by a host's `kind = "..."` in config.toml; nothing outside the kind's own
package ever asks which kind a host is: the generic code asks the kind.

Model profiles (everything model-specific: controls, fields and defaults, validation, spec and
launch command, outputs, log markers, image and checkpoints): subclass
`backend.models.profile.ModelProfile` and register an instance with `register_model_profile`.
Built in: `transfer1` (backend/models/transfer1/profile.py), `transfer2.5`
(backend/models/transfer2_5/profile.py) and `cosmos3` (backend/models/cosmos3/profile.py). A
host's `models = [...]` says which it serves and a run records its profile; the generic code
asks the profile and never branches on its id.

Run types that are not a model's job (`setup`: getting a box ready, backend/runs/setup_run.py):
register a runner factory with `register_run_type(name, factory)`; the scheduler claims such a
run with the GPUs the runner asks for (`factory.gpus`) and calls
`factory(settings, store, runtime, instance_id).execute(run_id)` (or `.resume` on adoption)
instead of the model lifecycle.

Registration happens on import of the module that defines the extension; the built-ins are
imported the first time a registry is asked.
"""

from __future__ import annotations

import importlib
import threading
from typing import Any

#: Modules whose import registers the built-in extensions.
BUILTIN_MODULES = ("backend.hosts.docker_kinds", "backend.slurm.kind", "backend.runs.setup_kind",
                   "backend.models.transfer1.profile", "backend.models.transfer2_5.profile",
                   "backend.models.cosmos3.profile")

_host_kinds: dict[str, Any] = {}
_model_profiles: dict[str, Any] = {}
_run_types: dict[str, Any] = {}
_loaded = False
_lock = threading.RLock()


def register_host_kind(kind: Any) -> Any:
    with _lock:
        _host_kinds[kind.name] = kind
    return kind


def register_model_profile(profile_id: str, profile: Any) -> Any:
    with _lock:
        _model_profiles[profile_id] = profile
    return profile


def _load_builtins() -> None:
    global _loaded
    if _loaded:
        return
    with _lock:
        if _loaded:
            return
        for name in BUILTIN_MODULES:
            importlib.import_module(name)
        _loaded = True


def host_kinds() -> dict[str, Any]:
    """Every registered host kind by name."""
    _load_builtins()
    return dict(_host_kinds)


def host_kind(name: str) -> Any:
    """The kind called `name` (KeyError if none is registered)."""
    return host_kinds()[name]


def model_profiles() -> dict[str, Any]:
    """Every registered model profile by id, in registration order."""
    _load_builtins()
    return dict(_model_profiles)


def register_run_type(name: str, factory: Any) -> Any:
    with _lock:
        _run_types[name] = factory
    return factory


def run_type_runner(name: str) -> Any | None:
    """The runner factory of a run type that is not a model's job, or None."""
    _load_builtins()
    return _run_types.get(name)
