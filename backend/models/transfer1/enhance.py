"""Prompt enhancement through Cosmos-Transfer1's standalone prompt upsampler.

Why standalone: `transfer.py --upsample_prompt` rewrites the prompt only after loading the
whole 7B pipeline, then generates a full video nobody asked for. Cosmos ships
`cosmos_transfer1/auxiliary/upsampler/inference/upsampler_pipeline.py`, which loads only the
Pixtral upsampler and prints `Upsampled prompt: <text>`.

Which video it reads follows the integrated pipeline (world_generation_pipeline.py
`_init_prompt_upsampler` / `_process_prompt_upsampler`): vis, else edge, when either is on
(its own control video if given, else the input video, which is what the standalone README
feeds it); otherwise the first of seg / depth that is on: its own control video, or (where the
integrated pipeline would crash iterating over a missing control video) the input video,
recorded as such. Keypoint alone gives the upsampler nothing to read (the integrated pipeline
returns the prompt unchanged), so it is refused. The run records which video was read.

The prompt never reaches a command line: a small launcher we write beside the job
(`upsample.py`) reads it from `upsample.json`, sets the pipeline's own argv inside the
process, runs the real script as `__main__`, and writes the rewritten prompt to
`outputs/output.txt`. It also fills in the torchrun variables the script deletes
unconditionally (`del os.environ[...]`), since torchrun leaves OMP_NUM_THREADS unset on one
GPU and the script would die of a KeyError.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from backend.models.checks import FieldError
from backend.models.params import GenerationParams
from backend.models.transfer1.params import CONTROLS

UPSAMPLER_SCRIPT = "cosmos_transfer1/auxiliary/upsampler/inference/upsampler_pipeline.py"
LAUNCHER_NAME = "upsample.py"
REQUEST_NAME = "upsample.json"
RESULT_NAME = "outputs/output.txt"
#: Controls whose video the upsampler reads, in the integrated pipeline's order.
VIS_HINTS = ("vis", "edge")
OTHER_HINTS = ("seg", "depth")

LAUNCHER = '''"""Written by the Cosmos Workflow Orchestrator: runs Cosmos-Transfer1's standalone prompt
upsampler with the request in upsample.json beside this file (the prompt stays off every
command line) and writes the upsampled prompt to outputs/output.txt."""
import builtins
import json
import os
import runpy
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(HERE, "upsample.json"), encoding="utf-8") as f:
    job = json.load(f)


def note(message):
    stamp = time.strftime("%m-%d %H:%M:%S")
    print("[%s|INFO|upsample.py:1:main] %s" % (stamp, message), flush=True)


# upsampler_pipeline.py deletes these unconditionally; torchrun leaves some unset on one GPU.
for key in ("RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE", "GROUP_RANK", "ROLE_RANK",
            "ROLE_NAME", "MASTER_ADDR", "MASTER_PORT", "TORCHELASTIC_USE_AGENT_STORE",
            "TORCHELASTIC_MAX_RESTARTS", "TORCHELASTIC_RUN_ID", "TORCH_NCCL_ASYNC_ERROR_HANDLING",
            "TORCHELASTIC_ERROR_FILE"):
    os.environ.setdefault(key, "0" if key.endswith("RANK") else "")
os.environ.setdefault("OMP_NUM_THREADS", str(os.cpu_count() or 1))
sys.argv = [job["script"], "--input_video", job["input_video"], "--checkpoint_dir",
            job["checkpoint_dir"], "--prompt", job["prompt"]]
if job.get("offload"):
    sys.argv.append("--offload_prompt_upsampler")
captured = []
_print = builtins.print


def _tee(*args, **kwargs):
    if len(args) >= 2 and args[0] == "Upsampled prompt:":
        captured.append(str(args[1]))
    _print(*args, **kwargs)


note("Upsampling prompt 1/1 with the standalone upsampler, reading %s" % job["reads"])
builtins.print = _tee
try:
    runpy.run_path(job["script"], run_name="__main__")
except SystemExit as done:  # a script that ends with sys.exit(0) has still finished
    if done.code not in (0, None):
        raise
finally:
    builtins.print = _print
if not captured:
    sys.stderr.write("upsample.py: the upsampler printed no 'Upsampled prompt:' line\\n")
    sys.exit(3)
os.makedirs(os.path.join(HERE, "outputs"), exist_ok=True)
with open(os.path.join(HERE, "outputs", "output.txt"), "w", encoding="utf-8") as f:
    f.write(captured[-1])
note("Upsampled prompt 1: %s..." % captured[-1][:50])
note("Saved prompt to %s" % os.path.join(HERE, "outputs", "output.txt"))
'''


def upsampler_source(p: GenerationParams) -> tuple[str, str] | None:
    """(role of the video the upsampler reads, why) or None when it can read nothing."""
    active = p.active_controls(CONTROLS)
    videos = p.control_videos if isinstance(p.control_videos, Mapping) else {}
    hint = next((h for h in VIS_HINTS if h in active), None)
    if hint is None:
        hint = next((h for h in OTHER_HINTS if h in active), None)
    if hint is None:
        return None
    if videos.get(hint):
        return f"control.{hint}", f"the {hint} control video"
    if p.input_video:
        if hint in VIS_HINTS:
            return "input", f"the input video (for {hint}, as the standalone upsampler reads it)"
        return "input", (f"the input video ({hint} has no control video of its own; Cosmos' "
                         "integrated upsampler would crash on that)")
    return None


def validate_enhance(p: GenerationParams) -> list[FieldError]:
    """Refusals specific to prompt enhancement."""
    active = p.active_controls(CONTROLS)
    usable = [h for h in VIS_HINTS + OTHER_HINTS if h in active]
    if active and not usable:
        return [FieldError("weights", "The prompt upsampler reads a vis, edge, depth or seg "
                           "video; with only keypoint on it has nothing to read and Cosmos "
                           "returns the prompt unchanged. Turn on vis, edge, depth or seg.")]
    if usable and upsampler_source(p) is None:
        return [FieldError("input_video", f"The prompt upsampler reads the {usable[0]} control "
                           "video or the input video, and there is neither; add an input video "
                           f"or a {usable[0]} control video.")]
    return []


def enhance_files(p: GenerationParams, paths: Mapping[str, str], *, checkpoint_dir: str,
                  offload: bool) -> tuple[dict[str, str], str]:
    """(the launcher and its request, what the upsampler reads) for a validated request."""
    source = upsampler_source(p)
    if source is None:
        raise ValueError("nothing for the prompt upsampler to read (validate first)")
    role, why = source
    video = paths.get(role)
    if not video:
        raise ValueError(f"the {role} video was not staged")
    request = {"script": UPSAMPLER_SCRIPT, "prompt": p.prompt, "input_video": video,
               "checkpoint_dir": checkpoint_dir, "offload": bool(offload), "reads": why}
    return ({LAUNCHER_NAME: LAUNCHER,
             REQUEST_NAME: json.dumps(request, ensure_ascii=False, indent=2) + "\n"}, why)
