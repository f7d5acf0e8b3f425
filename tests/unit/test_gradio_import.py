"""Gradio imported through components/ skips its `.pyi` stub writer (components/gradio_import.py),
and only that: a component class is still a working component."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from tests.helpers import ROOT

MAKE_A_COMPONENT = textwrap.dedent("""
    import sys
    sys.path.insert(0, {folder!r})
    {first}
    import gradio as gr
    import gradio.component_meta as meta
    import mybox
    print(meta.create_or_modify_pyi.__name__, mybox.MyBox(value="hi").value)
""")


def _make(tmp_path, first: str) -> tuple[str, bool]:
    folder = tmp_path / first.replace(" ", "_")
    folder.mkdir()
    (folder / "mybox.py").write_text("import gradio as gr\n\n\nclass MyBox(gr.Textbox):\n"
                                     "    pass\n")
    done = subprocess.run([sys.executable, "-c", MAKE_A_COMPONENT.format(
        folder=str(folder), first=first)], cwd=str(ROOT), capture_output=True, text=True,
        timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.split()[0], (folder / "mybox.pyi").exists()


def test_through_components_no_stub_is_written_and_the_component_works(tmp_path):
    assert _make(tmp_path, "import components") == ("_no_stub", False)


def test_gradio_imported_first_writes_its_stub_as_shipped(tmp_path):
    """What the hook saves: Gradio as shipped writes `mybox.pyi` (if this fails, a Gradio
    release dropped the stub writer and components/gradio_import.py can go)."""
    assert _make(tmp_path, "pass") == ("create_or_modify_pyi", True)
