"""Row 6, cold start: `python launch.py --skip-install` to its first HTTP 200 vs bare Gradio.

Ours: `python launch.py --skip-install --config <fresh config> --port P` (a fresh data folder
each time: the database is created, the scheduler and host monitor start, the whole UI is
built), timed from spawn to the first `200` for `GET /`, polled every 20 ms.
Baseline: `python bench/bare_gradio.py --port P`, a Gradio Blocks app with one Textbox, launched
and timed the same way (the floor: interpreter start, `import gradio`, one server).
Launches alternate ours/bare so machine noise hits both alike. Goal: ours / bare <= 1.5x.
"""

from __future__ import annotations

import sys

from bench.common import ROOT, Context, Line, ServerProcess, free_port, launch_app, write_config
from bench.stats import Goal

NAME = "cold_start"
TITLE = "6 cold start"
GOAL = Goal("ratio", "<=", 1.5)
ROW = "6 cold start -> HTTP 200"


def run(ctx: Context) -> list[Line]:
    if not (ROOT / "launch.py").exists():
        return [Line.not_built(ROW, "s", GOAL, "launch.py missing")]
    pairs = 2 if ctx.quick else 5
    ours, bare = [], []
    for i in range(pairs + 1):  # the first pair warms the page cache and .pyc files
        folder = ctx.scratch(f"cold-{i}")
        port = free_port()
        app = launch_app(write_config(folder, port=port), port, folder)
        try:
            seconds = app.wait_http()
        finally:
            app.stop()
        port = free_port()
        base = ServerProcess([sys.executable, str(ROOT / "bench" / "bare_gradio.py"),
                              "--port", str(port)], port, folder / "bare.log", folder)
        try:
            base_seconds = base.wait_http()
        finally:
            base.stop()
        if i:
            ours.append(seconds)
            bare.append(base_seconds)
        ctx.log(f"cold start {'warm-up' if not i else i}: launch.py {seconds:.2f} s, "
                f"bare Gradio {base_seconds:.2f} s")
    return [Line.measured(ROW, "s", GOAL, ours, bare, paired=True,
                          ours_label="python launch.py --skip-install --config C --port P",
                          baseline_label="python bench/bare_gradio.py --port P (one Textbox)",
                          note=f"{pairs} alternating pairs after one warm-up pair")]
