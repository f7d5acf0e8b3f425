"""Cosmos-Transfer1's launch command: torchrun + transfer.py argv (infrastructure only).

The job script and `docker run` argv are the same for every model and live in
backend/models/jobs.py; they are re-exported here so older imports keep working.

Rules from the contract that shape this module:
- transfer.py values are always two tokens, `--key value`. Cosmos lets a spec value override a
  CLI value unless the literal token `--key` is in argv, so `--key=value` would silently lose.
  (torchrun's own options use `--opt=N`; those are torchrun's, not transfer.py's.)
- `--nproc_per_node` must equal `--num_gpus`, one of 1, 2, 4, 8; concurrent jobs on one box need
  distinct `--master_port`s.
"""

from __future__ import annotations

from collections.abc import Sequence

from backend.models.jobs import (JOB_HEADER_PREFIX, _check_value, build_docker_run_argv,  # noqa: F401
                                 build_job_script, gpus_flag_value, pick_master_port,
                                 shell_join)
from backend.models.transfer1.params import GPU_COUNTS

TRANSFER_SCRIPT = "cosmos_transfer1/diffusion/inference/transfer.py"
#: Offload flags transfer.py accepts (contract §1.1).
OFFLOAD_FLAGS: tuple[str, ...] = (
    "offload_diffusion_transformer",
    "offload_text_encoder_model",
    "offload_guardrail_models",
    "offload_prompt_upsampler",
)


def normalize_offload_flag(flag: str) -> str:
    """'offload_text_encoder_model' or '--offload_text_encoder_model' -> the `--` form."""
    name = flag.removeprefix("--")
    if name not in OFFLOAD_FLAGS:
        raise ValueError(f"unknown offload flag {flag!r}; allowed: {', '.join(OFFLOAD_FLAGS)}")
    return f"--{name}"


def build_transfer_argv(*, num_gpus: int, master_port: int, checkpoint_dir: str,
                        video_save_folder: str, video_save_name: str, controlnet_specs: str,
                        offload_flags: Sequence[str] = (), batch_input_path: str | None = None,
                        upsample_prompt: bool = False) -> list[str]:
    """torchrun + transfer.py argv carrying only infrastructure (paths, GPUs, offloading).

    Always torchrun, even on one GPU: `--upsample_prompt` reads RANK, which only torchrun sets,
    and one code path is easier to trust than two.
    """
    if isinstance(num_gpus, float) and num_gpus.is_integer():
        num_gpus = int(num_gpus)  # a stored/JSON value such as 2.0
    if isinstance(num_gpus, bool) or not isinstance(num_gpus, int) or num_gpus not in GPU_COUNTS:
        raise ValueError(f"num_gpus must be one of {GPU_COUNTS}, got {num_gpus!r}")
    if isinstance(master_port, bool) or not isinstance(master_port, int) \
            or not 1024 <= master_port <= 65535:
        raise ValueError(f"master_port must be a port number 1024-65535, got {master_port!r}")
    argv = [
        "torchrun", f"--nproc_per_node={num_gpus}", "--nnodes=1", "--node_rank=0",
        f"--master_port={master_port}", TRANSFER_SCRIPT,
        "--checkpoint_dir", _check_value("checkpoint_dir", checkpoint_dir),
        "--video_save_folder", _check_value("video_save_folder", video_save_folder),
        "--video_save_name", _check_value("video_save_name", video_save_name),
        "--controlnet_specs", _check_value("controlnet_specs", controlnet_specs),
        "--num_gpus", str(num_gpus),
    ]
    flags = {normalize_offload_flag(f) for f in offload_flags}
    argv += [f"--{name}" for name in OFFLOAD_FLAGS if f"--{name}" in flags]
    if batch_input_path is not None:
        argv += ["--batch_input_path", _check_value("batch_input_path", batch_input_path)]
    if upsample_prompt:
        argv.append("--upsample_prompt")
    return argv


