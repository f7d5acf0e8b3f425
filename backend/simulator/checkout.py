"""The stand-in Cosmos-Transfer1 checkout a simulated box runs.

A real GPU box has a clone of `nvidia-cosmos/cosmos-transfer1` plus ~300 GB of checkpoints.
The simulated box gets the same layout in a few KB: the fake `transfer.py` at the real path,
and tiny placeholder checkpoint files at the real checkpoint paths, so the orchestrator's
command line (`torchrun ... cosmos_transfer1/diffusion/inference/transfer.py
--checkpoint_dir checkpoints ...`) and its missing-checkpoint diagnostics work unchanged.

`checkout_files()` returns a dict (relative path -> bytes) so the executor can install it
anywhere, including over SFTP; `install_checkout()` writes it to a local folder.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)

TRANSFER_PY = "cosmos_transfer1/diffusion/inference/transfer.py"
_CONTROL_CKPTS = (
    "base_model", "vis_control", "edge_control", "edge_control_distilled", "depth_control",
    "seg_control", "keypoint_control", "4kupscaler_control",
)
_AV_CKPTS = ("base_model", "hdmap_control", "lidar_control")
_TOKENIZER_FILES = ("encoder.jit", "decoder.jit", "autoencoder.jit", "mean_std.pt")

README = """# Cosmos-Transfer1 (SIMULATED)

This folder is a stand-in checkout installed by cosmos-sim, the Cosmos Workflow Orchestrator's
built-in simulator. It is NOT NVIDIA Cosmos-Transfer1 and contains no model.

* `cosmos_transfer1/diffusion/inference/transfer.py` takes the real script's flags and spec
  JSON, validates them the way Cosmos does, prints the same log markers, and renders a visible
  video on the CPU with ffmpeg (the input at Cosmos' output size, shaped by the control weights).
* `checkpoints/` holds tiny placeholder files at the real checkpoint paths.

Knobs: COSMOS_SIM_SECONDS (run length), COSMOS_SIM_LOAD_SHARE, COSMOS_SIM_FAIL
(oom|guardrail|crash|hang|nccl, or `[sim:<x>]` in the prompt), COSMOS_SIM_FFMPEG.
"""


def _placeholder(rel: str) -> bytes:
    return (f"cosmos-sim placeholder checkpoint: {rel}\n"
            "This is not model data; the simulated transfer.py only checks that it exists.\n").encode()


def checkout_files() -> dict[str, bytes]:
    """Every file of the stand-in checkout, relative path -> content."""
    source = (Path(__file__).resolve().parent / "fake_transfer.py").read_bytes()
    files: dict[str, bytes] = {
        TRANSFER_PY: source,
        "README.md": README.encode("utf-8"),
        "COSMOS_SIM": b"simulated\n",
    }
    for pkg in ("cosmos_transfer1", "cosmos_transfer1/diffusion", "cosmos_transfer1/diffusion/inference"):
        files[f"{pkg}/__init__.py"] = b""
    groups = (
        ("checkpoints/nvidia/Cosmos-Transfer1-7B", [f"{n}.pt" for n in _CONTROL_CKPTS] + ["config.json"]),
        ("checkpoints/nvidia/Cosmos-Transfer1-7B-Sample-AV", [f"{n}.pt" for n in _AV_CKPTS]),
        ("checkpoints/nvidia/Cosmos-Tokenize1-CV8x8x8-720p", list(_TOKENIZER_FILES)),
        ("checkpoints/nvidia/Cosmos-UpsamplePrompt1-12B-Transfer", ["config.json"]),
        ("checkpoints/nvidia/Cosmos-Guardrail1", ["README.md"]),
    )
    for folder, names in groups:
        for name in names:
            rel = f"{folder}/{name}"
            files[rel] = b'{"simulated": true}\n' if name.endswith(".json") else _placeholder(rel)
    return files


def install_checkout(dest: Path) -> None:
    """Write the checkout under `dest` (idempotent: unchanged files are not rewritten)."""
    dest = Path(dest)
    written = 0
    for rel, content in checkout_files().items():
        path = dest / rel
        try:
            if path.read_bytes() == content:
                continue
        except (FileNotFoundError, IsADirectoryError):
            pass
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_bytes(content)
        if rel == TRANSFER_PY:
            os.chmod(tmp, 0o755)
        os.replace(tmp, path)
        written += 1
    log.info("stand-in Cosmos checkout at %s: %d file(s) written", dest, written)
