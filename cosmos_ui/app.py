"""The Gradio Blocks app: assembles the pieces in components/ and decides how it is served.

Serving rules live here because they are security rules: Gradio may serve only our outputs,
uploads and shipped assets, never the database, config or keys (issue 6 tightens sign-in).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr  # noqa: E402

from backend.operations import ASSETS_DIR  # noqa: E402
from backend.runtime import Backend  # noqa: E402
from components.create_form import CreateForm  # noqa: E402
from components.run_view import RunView  # noqa: E402

log = logging.getLogger(__name__)

CSS = """
#run-log textarea { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 12px; }
#run-progress progress { height: 14px; }
.run-head { font-size: 1.25em; font-weight: 600; margin-bottom: 4px; }
.run-meta { opacity: 0.85; }
.badge { display: inline-block; padding: 1px 10px; border-radius: 999px; font-size: 0.75em;
         font-weight: 600; color: #fff; background: #64748b; vertical-align: middle; }
.badge-running, .badge-staging, .badge-collecting { background: #2563eb; }
.badge-completed { background: #16a34a; }
.badge-failed { background: #dc2626; }
.badge-blocked { background: #9333ea; }
.badge-cancelled { background: #ea580c; }
.run-cause { margin-top: 6px; color: #b91c1c; }
.run-evidence { white-space: pre-wrap; font-size: 12px; background: rgba(127,127,127,.12);
                padding: 6px; border-radius: 6px; }
"""


def build_app(backend: Backend) -> gr.Blocks:
    ops = backend.ops
    with gr.Blocks(title="Cosmos Workflow Orchestrator") as demo:
        gr.Markdown("## Cosmos Workflow Orchestrator")
        selected_run = gr.State(None)
        with gr.Tabs(elem_id="main-tabs") as tabs:
            with gr.Tab("Create", id="create", elem_id="tab-create"):
                CreateForm(ops, selected_run, tabs=tabs, runs_tab_id="runs")
            with gr.Tab("Runs", id="runs", elem_id="tab-runs"):
                RunView(ops, selected_run)
    return demo


def served_paths(backend: Backend) -> list[str]:
    """The only folders Gradio may serve files from."""
    settings = backend.settings
    for folder in (settings.runs_dir, settings.uploads_dir):
        folder.mkdir(parents=True, exist_ok=True)
    return [str(settings.runs_dir), str(settings.uploads_dir), str(ASSETS_DIR)]


def blocked_paths(backend: Backend) -> list[str]:
    settings = backend.settings
    return [str(settings.db_path), str(settings.db_path) + "-wal", str(settings.db_path) + "-shm",
            str(settings.config_path), str(Path.home() / ".ssh")]


def launch_app(backend: Backend, *, host: str, port: int, share: bool = False,
               block: bool = True) -> gr.Blocks:
    demo = build_app(backend)
    demo.queue(default_concurrency_limit=8)
    demo.launch(
        server_name=host,
        server_port=port,
        share=share,
        prevent_thread_lock=not block,
        allowed_paths=served_paths(backend),
        blocked_paths=blocked_paths(backend),
        max_file_size=f"{backend.settings.max_upload_mb}mb",
        show_error=False,
        quiet=False,
        css=CSS,
        footer_links=[],
    )
    return demo
