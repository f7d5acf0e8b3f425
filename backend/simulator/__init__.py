"""cosmos-sim: a CPU stand-in for a GPU box running NVIDIA Cosmos-Transfer1.

Two layers that can be swapped independently of each other (DESIGN.md §5):

* the container engine (`engine`): a docker-compatible command whose "containers" are
  detached host processes, so the orchestrator drives it exactly like `docker`;
* the model (`fake_transfer`, installed by `checkout` into a stand-in Cosmos checkout): a
  stdlib-only `transfer.py` that validates, logs and fails like the real one and renders a
  visible video with ffmpeg.

This package must stay importable without gradio or any third-party package, because the
engine runs as a short-lived CLI on every docker-style call.
"""

from __future__ import annotations

from pathlib import Path

#: Version reported by `cosmos-sim version` / `info`.
SIM_VERSION = "0.1.0"
#: The image the simulator advertises; it "has" every image, this is just the listed one.
DEFAULT_IMAGE = "cosmos-sim/transfer1:latest"
#: Folder of executables put first on a container's PATH (torchrun, ffmpeg).
SHIMS_DIR = Path(__file__).resolve().parent / "shims"
