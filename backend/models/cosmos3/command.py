"""Cosmos 3's launch command: `python -m cosmos_framework.scripts.inference -i <spec> -o <out>
--checkpoint-path <name>` on one GPU, `torchrun --nproc-per-node=N --master-port=P -m ...` on N
(FSDP shards the weights over every rank; `--parallelism-preset` picks how context and CFG
parallelism split the rest).

Only setup arguments go on the command line (tyro with OmitArgPrefixes: `--checkpoint-path`,
`--parallelism-preset`, `--keep-going`, `--no-guardrails`, `--offload-guardrail-models`); every
sample value is in the spec. `--keep-going` so a failed sample is logged as one
`Error generating sample` record instead of a traceback that ends the job.
"""

from __future__ import annotations

from collections.abc import Sequence

from backend.models.cosmos3.params import (CHECKPOINTS, ENTRY_MODULE, GPU_COUNTS, OFFLOAD_FLAGS,
                                           PARALLELISM)
from backend.models.jobs import _check_value


def build_inference_argv(*, num_gpus: int, master_port: int, spec_path: str, output_dir: str,
                         checkpoint: str, parallelism: str, guardrails: bool = True,
                         offload_flags: Sequence[str] = ()) -> list[str]:
    """The launcher argv (infrastructure only: paths, GPUs, checkpoint, preset, guardrails)."""
    if isinstance(num_gpus, float) and num_gpus.is_integer():
        num_gpus = int(num_gpus)
    if isinstance(num_gpus, bool) or not isinstance(num_gpus, int) or num_gpus not in GPU_COUNTS:
        raise ValueError(f"num_gpus must be one of {GPU_COUNTS}, got {num_gpus!r}")
    if isinstance(master_port, bool) or not isinstance(master_port, int) \
            or not 1024 <= master_port <= 65535:
        raise ValueError(f"master_port must be a port number 1024-65535, got {master_port!r}")
    if checkpoint not in {c.name for c in CHECKPOINTS}:
        raise ValueError(f"unknown checkpoint {checkpoint!r}")
    if parallelism not in PARALLELISM:
        raise ValueError(f"unknown parallelism preset {parallelism!r}")
    if num_gpus == 1:
        argv = ["python", "-m", ENTRY_MODULE]
    else:
        argv = ["torchrun", f"--nproc-per-node={num_gpus}", f"--master-port={master_port}",
                "-m", ENTRY_MODULE]
    argv += ["-i", _check_value("spec_path", spec_path),
             "-o", _check_value("output_dir", output_dir),
             "--checkpoint-path", checkpoint, "--parallelism-preset", parallelism,
             "--keep-going"]
    if not guardrails:
        argv.append("--no-guardrails")
    for flag in offload_flags:
        if flag not in OFFLOAD_FLAGS:
            raise ValueError(f"unknown offload flag {flag!r}; allowed: {', '.join(OFFLOAD_FLAGS)}")
        argv.append("--" + flag.replace("_", "-"))
    return argv
