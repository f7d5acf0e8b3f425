"""The cold-start baseline: a bare Gradio Blocks app (one Textbox), launched like launch.py.

    python bench/bare_gradio.py --port P
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args()
    with gr.Blocks(title="bare") as demo:
        gr.Textbox(label="text")
    demo.launch(server_name=args.host, server_port=args.port)


if __name__ == "__main__":
    main()
