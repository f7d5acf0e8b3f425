"""The stand-in Cosmos checkouts a simulated box runs, one per model profile.

A real GPU box has a clone of `nvidia-cosmos/cosmos-transfer1` plus ~300 GB of checkpoints.
The simulated box gets the same layout in a few KB: the fake `transfer.py` (and the standalone
prompt upsampler) at the real paths, and tiny placeholder checkpoint files at the real
checkpoint paths, so the orchestrator's command line (`torchrun ...
cosmos_transfer1/diffusion/inference/transfer.py --checkpoint_dir checkpoints ...`) and its
missing-checkpoint diagnostics work unchanged. The Transfer2.5 stand-in is the fake
`examples/inference.py` with its two helper modules beside it (Transfer2.5 downloads its
checkpoints into the Hugging Face cache, so it has no checkpoint folder).

`checkout_files(stand_in)` returns a dict (relative path -> bytes) so the executor can install
it anywhere, including over SFTP; `install_checkout()` writes it to a local folder.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)

TRANSFER_PY = "cosmos_transfer1/diffusion/inference/transfer.py"
UPSAMPLER_PY = "cosmos_transfer1/auxiliary/upsampler/inference/upsampler_pipeline.py"
INFERENCE25_PY = "examples/inference.py"
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


README_25 = """# Cosmos-Transfer2.5 (SIMULATED)

This folder is a stand-in checkout installed by cosmos-sim, the Cosmos Workflow Orchestrator's
built-in simulator. It is NOT NVIDIA Cosmos-Transfer2.5 and contains no model.

* `examples/inference.py` takes the real entry point's arguments, validates each sample like
  cosmos_transfer2/config.py, prints Transfer2.5's log lines (COSMOS_VERBOSE shows the
  `_src` ones), draws the per-step bar, and writes `<name>.mp4`, `<name>.json`, `<name>.txt`
  and the control videos and masks with ffmpeg on the CPU.

Knobs: COSMOS_SIM_SECONDS, COSMOS_SIM_LOAD_SHARE, COSMOS_SIM_FAIL (oom|crash|hang|nccl|
guardrail|guardrail_video, or `[sim:<x>]` in the prompt), COSMOS_SIM_FFMPEG.
"""
_HERE = Path(__file__).resolve().parent


def _transfer25_files() -> dict[str, bytes]:
    return {
        INFERENCE25_PY: (_HERE / "fake_transfer2_5.py").read_bytes(),
        "examples/_sim_rules.py": (_HERE / "fake_transfer2_5_rules.py").read_bytes(),
        "examples/_sim_render.py": (_HERE / "fake_transfer2_5_render.py").read_bytes(),
        "examples/_sim_shared.py": (_HERE / "fake_transfer.py").read_bytes(),
        "README.md": README_25.encode("utf-8"),
        "COSMOS_SIM": b"simulated\n",
    }


README_3 = """# Cosmos 3 / cosmos-framework (SIMULATED)

This folder is a stand-in checkout installed by cosmos-sim, the Cosmos Workflow Orchestrator's
built-in simulator. It is NOT NVIDIA cosmos-framework and contains no model.

* `python -m cosmos_framework.scripts.inference -i <spec> -o <out> --checkpoint-path <name>`
  validates each sample like cosmos_framework/inference/args.py, prints upstream's log records
  and writes `<out>/<name>/vision.mp4`, `sample_args.json` and (on success)
  `sample_outputs.json` with ffmpeg on the CPU.

Knobs: COSMOS_SIM_SECONDS, COSMOS_SIM_LOAD_SHARE, COSMOS_SIM_FAIL (oom|crash|hang|guardrail|
guardrail_video, or `[sim:<x>]` in the prompt), COSMOS_SIM_FFMPEG.
"""
COSMOS3_PY = "cosmos_framework/scripts/inference.py"


def _cosmos3_files() -> dict[str, bytes]:
    return {
        "cosmos_framework/__init__.py": b"",
        "cosmos_framework/scripts/__init__.py": b"",
        COSMOS3_PY: (_HERE / "fake_cosmos3.py").read_bytes(),
        "cosmos_framework/scripts/_sim_shared.py": (_HERE / "fake_transfer.py").read_bytes(),
        "README.md": README_3.encode("utf-8"),
        "COSMOS_SIM": b"simulated\n",
    }


def checkout_files(stand_in: str = "transfer1") -> dict[str, bytes]:
    """Every file of one stand-in checkout ("transfer1", "transfer2.5" or "cosmos3", the
    profile's `image.sim_checkout`), relative path -> content."""
    if stand_in == "transfer2.5":
        return _transfer25_files()
    if stand_in == "cosmos3":
        return _cosmos3_files()
    if stand_in != "transfer1":
        raise KeyError(f"no simulator stand-in for {stand_in!r}")
    source = (_HERE / "fake_transfer.py").read_bytes()
    files: dict[str, bytes] = {
        TRANSFER_PY: source,
        UPSAMPLER_PY: (_HERE / "fake_upsampler.py").read_bytes(),
        "README.md": README.encode("utf-8"),
        "COSMOS_SIM": b"simulated\n",
    }
    for pkg in ("cosmos_transfer1", "cosmos_transfer1/diffusion",
                "cosmos_transfer1/diffusion/inference", "cosmos_transfer1/auxiliary",
                "cosmos_transfer1/auxiliary/upsampler",
                "cosmos_transfer1/auxiliary/upsampler/inference"):
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
    from backend.models.profile import get_profile  # every file the profile lists, too

    for ckpt in get_profile("transfer1").checkpoints:
        rel = f"checkpoints/{ckpt.path}"
        files.setdefault(rel, b'{"simulated": true}\n' if rel.endswith(".json")
                         else _placeholder(rel))
    return files


def install_checkout(dest: Path, stand_in: str = "transfer1") -> None:
    """Write the checkout under `dest` (idempotent: unchanged files are not rewritten)."""
    dest = Path(dest)
    written = 0
    for rel, content in checkout_files(stand_in).items():
        path = dest / rel
        try:
            if path.read_bytes() == content:
                continue
        except (FileNotFoundError, IsADirectoryError):
            pass
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_bytes(content)
        if rel.endswith(".py"):
            os.chmod(tmp, 0o755)
        os.replace(tmp, path)
        written += 1
    log.info("stand-in Cosmos checkout at %s: %d file(s) written", dest, written)
