"""The baselines of a bare Gradio Blocks app, launched like launch.py.

    python bench/bare_gradio.py --port P           one Textbox: the cold-start floor (row 6)
    python bench/bare_gradio.py --port P --echo    a Textbox, a Button and an HTML output the
                                                   click fills: one event's round trip, the
                                                   floor of a UI action (row 9)
"""

from __future__ import annotations

import argparse
import html
import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--echo", action="store_true")
    args = parser.parse_args()
    with gr.Blocks(title="bare") as demo:
        text = gr.Textbox(label="text", elem_id="bare-text")
        if args.echo:
            button = gr.Button("Echo", elem_id="bare-button")
            out = gr.HTML("", elem_id="bare-out")
            button.click(lambda t: f"<p data-echo='{html.escape(t)}'>{html.escape(t)}</p>",
                         text, out)
    demo.launch(server_name=args.host, server_port=args.port)


if __name__ == "__main__":
    main()
