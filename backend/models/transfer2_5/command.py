"""Transfer2.5's launch command: `python examples/inference.py -i <spec> -o <out>` on one GPU,
`torchrun --nproc_per_node=N --master_port=P examples/inference.py ...` on N (the context
parallel size defaults to WORLD_SIZE, config.validate_model).

Only setup arguments go on the command line (tyro, OmitArgPrefixes, `--flag` spellings as
docs/inference.md writes them); every sample value is in the spec, where CLI overrides would
otherwise apply to all samples of a batch.
"""

from __future__ import annotations

from collections.abc import Sequence

from backend.models.jobs import _check_value
from backend.models.transfer2_5.params import (DISTILLED_MODEL, ENTRY_SCRIPT, EXPERIMENTAL_ENV,
                                               GPU_COUNTS, OFFLOAD_FLAGS, VERBOSE_ENV)


def build_inference_argv(*, num_gpus: int, master_port: int, spec_path: str, output_dir: str,
                         distilled: bool = False, offload_flags: Sequence[str] = ()
                         ) -> list[str]:
    """The launcher argv (infrastructure only: paths, GPUs, the model variant, offloading)."""
    if isinstance(num_gpus, float) and num_gpus.is_integer():
        num_gpus = int(num_gpus)
    if isinstance(num_gpus, bool) or not isinstance(num_gpus, int) or num_gpus not in GPU_COUNTS:
        raise ValueError(f"num_gpus must be one of {GPU_COUNTS}, got {num_gpus!r}")
    if isinstance(master_port, bool) or not isinstance(master_port, int) \
            or not 1024 <= master_port <= 65535:
        raise ValueError(f"master_port must be a port number 1024-65535, got {master_port!r}")
    if num_gpus == 1:
        argv = ["python", ENTRY_SCRIPT]
    else:
        argv = ["torchrun", f"--nproc_per_node={num_gpus}", f"--master_port={master_port}",
                ENTRY_SCRIPT]
    argv += ["-i", _check_value("spec_path", spec_path),
             "-o", _check_value("output_dir", output_dir)]
    if distilled:
        argv.append(f"--model={DISTILLED_MODEL}")
    for flag in offload_flags:
        if flag not in OFFLOAD_FLAGS:
            raise ValueError(f"unknown offload flag {flag!r}; allowed: {', '.join(OFFLOAD_FLAGS)}")
        argv.append("--" + flag.replace("_", "-"))
    return argv


def job_env(*, distilled: bool) -> dict[str, str]:
    """COSMOS_VERBOSE=1 so the console log carries `Generating chunk i/N` and the reason of a
    guardrail block (see params.VERBOSE_ENV); the distilled checkpoint is registered only
    under COSMOS_EXPERIMENTAL_CHECKPOINTS=1."""
    env = {VERBOSE_ENV: "1"}
    if distilled:
        env[EXPERIMENTAL_ENV] = "1"
    return env
