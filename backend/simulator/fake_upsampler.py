#!/usr/bin/env python3
"""cosmos-sim stand-in for Cosmos-Transfer1's standalone prompt upsampler,
`cosmos_transfer1/auxiliary/upsampler/inference/upsampler_pipeline.py` (CPU, no model).

Same flags (`--prompt`, `--input_video` (required), `--checkpoint_dir`,
`--offload_prompt_upsampler`), the same `__main__` block (reads RANK and deletes the torchrun
variables with `del`, so it dies of a KeyError outside torchrun or when one is unset), the
upsampler's checkpoint folder must exist, the first two frames of the video are read (an
unreadable video gives none, as cv2 does), and it prints `Upsampled prompt: <text>`: the
prompt plus what the frames show, deterministically.

STDLIB ONLY; copied into the stand-in checkout at the real path.
"""

from __future__ import annotations

import argparse
import errno
import os
import subprocess

try:  # in the stand-in checkout (PYTHONPATH is the checkout)
    from cosmos_transfer1.diffusion.inference import transfer as sim  # type: ignore
except ImportError:
    from backend.simulator import fake_transfer as sim  # type: ignore[no-redef]

UPSAMPLER = "nvidia/Cosmos-UpsamplePrompt1-12B-Transfer"


def parse_args():
    parser = argparse.ArgumentParser(description="Prompt upsampler pipeline")
    parser.add_argument("--prompt", type=str, required=False, help="Prompt to upsample")
    parser.add_argument("--input_video", type=str, required=True, help="Path to input video file")
    parser.add_argument("--checkpoint_dir", type=str, default="checkpoints")
    parser.add_argument("--offload_prompt_upsampler", action="store_true")
    return parser.parse_args()


def frames_of(path: str) -> int:
    """How many of the first two frames can be read (cv2.VideoCapture: none if unreadable)."""
    if not os.path.isfile(path):
        return 0
    proc = subprocess.run([sim.ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error",
                           "-i", path, "-frames:v", "2", "-f", "rawvideo", "-pix_fmt", "gray",
                           "-s", "8x8", "-"], capture_output=True)
    return min(2, len(proc.stdout) // 64) if proc.returncode == 0 else 0


def main():
    args = parse_args()
    model_dir = os.path.join(args.checkpoint_dir, UPSAMPLER)
    if not os.path.isdir(model_dir):
        raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), model_dir)
    sched = sim.Schedule()
    sched.spend(sched.total * 0.3)  # vLLM loads the 12B upsampler
    prompt = args.prompt if args.prompt else "describe the following images"
    seen = frames_of(args.input_video)
    detail = ""
    if seen:
        media = sim.probe(args.input_video)
        detail = (" Seen in %s: %dx%d footage dominated by %s tones." % (
            os.path.basename(args.input_video), media["width"], media["height"],
            sim.dominant_colour(args.input_video)))
    upsampled = (prompt.strip().rstrip(".") + ". A photorealistic, richly detailed scene with "
                 "natural lighting and smooth, realistic camera motion." + detail)
    sched.spend(sched.total * 0.2)
    print("Upsampled prompt:", upsampled)


if __name__ == "__main__":
    rank = int(os.environ["RANK"])
    dist_keys = ["RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE", "GROUP_RANK",
                 "ROLE_RANK", "ROLE_NAME", "OMP_NUM_THREADS", "MASTER_ADDR", "MASTER_PORT",
                 "TORCHELASTIC_USE_AGENT_STORE", "TORCHELASTIC_MAX_RESTARTS",
                 "TORCHELASTIC_RUN_ID", "TORCH_NCCL_ASYNC_ERROR_HANDLING",
                 "TORCHELASTIC_ERROR_FILE"]
    for dist_key in dist_keys:
        del os.environ[dist_key]
    if rank == 0:
        main()
