"""The review room's pure parts: drawings, timecodes, mask videos, the notes report, and how a
region mask enters a draft's parameters. No store, no Gradio: operations/ uses these."""
