"""The web app. It imports components first, so Gradio is imported without its stub writer
(components/gradio_import.py)."""

import components  # noqa: F401
