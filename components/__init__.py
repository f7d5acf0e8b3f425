"""The UI's pieces. Importing the package first makes Gradio's import skip its stub writer
(gradio_import.py): half of an app's start."""

from components.gradio_import import install as _install_gradio_import

_install_gradio_import()
