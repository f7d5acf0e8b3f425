"""Gradio without its stub writer: a component class is made in half the time.

Why: every component class Gradio defines, and every subclass of ours, runs
`gradio.component_meta.create_or_modify_pyi` as the class is created. It reads the class's
source file, parses it and writes a `.pyi` type stub beside it (for an IDE's completion;
nothing at run time reads one). That is half of `import gradio`: measured on this machine,
3.0 -> 1.5 CPU-seconds, so 1.5 s of every app start (`python launch.py`, `cosmos ui`) and of
every test process that imports the UI. It also wrote `.pyi` files into our source tree.

So the first import of `gradio.component_meta` gets that one function replaced by a no-op,
through an import hook installed before Gradio is imported (components/__init__.py installs
it; cosmos_ui imports components first). Where Gradio was imported before the hook, nothing
changes. If a Gradio release renames the function, the hook sets an attribute nobody reads
and imports stay as slow as shipped (tests/unit/test_gradio_import.py then fails).
"""

from __future__ import annotations

import importlib.machinery
import sys
from typing import Any

MODULE = "gradio.component_meta"
STUB_WRITER = "create_or_modify_pyi"


def _no_stub(*args: Any, **kwargs: Any) -> None:
    """Where Gradio would write a component's `.pyi` stub: nothing."""


class SkipStubWriter:
    """A meta-path finder that finds only MODULE, as the normal path finder does, and
    replaces its STUB_WRITER once the module has run."""

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> Any:
        if name != MODULE:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None:
            return spec
        run = spec.loader.exec_module

        def exec_module(module: Any) -> None:
            run(module)
            setattr(module, STUB_WRITER, _no_stub)

        spec.loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


def install() -> None:
    """Install the hook once per process (a no-op when Gradio is already imported)."""
    if MODULE in sys.modules or any(isinstance(f, SkipStubWriter) for f in sys.meta_path):
        return
    sys.meta_path.insert(0, SkipStubWriter())
