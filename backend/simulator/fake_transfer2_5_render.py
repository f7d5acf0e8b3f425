"""What the fake Transfer2.5 does once a sample is valid: the checkpoint lines, the failures in
a chunk, and the ffmpeg renders of the output video, the control videos and the masks
(published before the video guardrail, as upstream writes them; the video only after it).

STDLIB ONLY; copied into the stand-in checkout as `examples/_sim_render.py`.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

try:
    import _sim_shared as sim  # type: ignore[import-not-found]
    from _sim_rules import _CKPT, CONTROL_KEYS  # type: ignore[import-not-found]
except ImportError:
    from backend.simulator import fake_transfer as sim  # type: ignore[no-redef]
    from backend.simulator.fake_transfer2_5_rules import _CKPT, CONTROL_KEYS  # type: ignore


def load_models(args, hints, sched, log):
    """Checkpoints (from HF_HOME when cached, else 'downloaded'), the model, the guardrail."""
    wanted = ([_CKPT[hints[0] + ("/distilled" if args.model.endswith("/distilled") else "")]]
              if len(hints) == 1 else [_CKPT[k] for k in CONTROL_KEYS])
    hf = os.environ.get("HF_HOME")
    for rel in wanted:
        cached = hf and os.path.isfile(os.path.join(
            hf, "hub", "models--nvidia--Cosmos-Transfer2.5-2B", "snapshots", rel))
        if not cached:
            name = "nvidia/Cosmos-Transfer2.5-2B/" + rel.split("/", 1)[1].rsplit("/", 1)[0]
            if os.environ.get("HF_HUB_OFFLINE") == "1":
                sys.stderr.write("huggingface_hub.errors.LocalEntryNotFoundError: Cannot find "
                                 "the requested files in the disk cache and outgoing traffic "
                                 "has been disabled: %s\n" % name)
                raise OSError("LocalEntryNotFoundError: Cannot find the requested files in the "
                              "disk cache and outgoing traffic has been disabled: " + name)
            log("INFO", ("cosmos_transfer2/_src/imaginaire/utils/checkpoint_db.py", 297,
                         "download"), "Downloading checkpoint " + name)
    log("INFO", ("cosmos_transfer2/_src/transfer2/inference/inference_pipeline.py", 167,
                 "__init__"), "Loading base model from nvidia/Cosmos-Predict2.5-2B")
    sched.spend(sched.load)


def fail_in_chunk(fails, world):
    if "oom" in fails:
        raise sim.OutOfMemoryError(
            "CUDA out of memory. Tried to allocate 3.52 GiB. GPU 0 has a total capacity of 79.19 "
            "GiB of which 1.87 GiB is free. Including non-PyTorch memory, this process has 77.30 "
            "GiB memory in use.")
    if "nccl" in fails:
        raise sim.DistBackendError("NCCL error in: ProcessGroupNCCL.cpp:3356, unhandled system "
                                   "error, NCCL version 2.26.2\nncclSystemError: System call "
                                   "failed or device error.")
    if "crash" in fails:
        raise RuntimeError("CUDA error: an illegal memory access was encountered" + sim.CUDA_HINT)
    if "hang" in fails:
        while True:
            time.sleep(3600)


def masked(sample, hints):
    return [k for k in hints if sample[k].get("mask_path") or sample[k].get("mask_prompt")]


def _encode(out, vf_inputs, graph, frames, fps):
    return [sim.ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
            *vf_inputs, "-filter_complex", graph, "-map", "[out]", "-frames:v", str(frames),
            "-r", str(fps), "-c:v", "libx264", "-preset", "ultrafast", "-crf", "28",
            "-pix_fmt", "yuv420p", "-an", out]


def start_renders(sample, hints, media, frames, fps, base):
    """The output (at the input's own size: keep_input_resolution), each control video (the
    given one, else the look of the on-the-fly preprocessor) and each mask, side by side."""
    w, h = media["width"], media["height"]
    w, h = w - w % 2, h - h % 2
    prep = "scale=%d:%d,setsar=1,format=yuv420p,setpts=N/%d/TB" % (w, h, fps)
    controls = {k: {"control_weight": sample[k]["control_weight"] or 0.001,
                    "input_control": sample[k].get("control_path")} for k in hints}
    jobs = []
    tmp = "%s.sim-%d.mp4" % (base, os.getpid())
    main = sim.render_command(media, controls, tmp, frames, fps, (w, h))
    jobs.append((tmp, base + ".mp4", main))
    for key in hints:
        given = sample[key].get("control_path")
        src = given or media["path"]
        look = "null" if given else sim.LOOKS[key].format(s=6)
        graph = "[0:v]%s,%s,format=yuv420p[out]" % (prep, look)
        target = "%s_control_%s.mp4" % (base, key)
        jobs.append((target + ".part.mp4", target, _encode(target + ".part.mp4",
                                                          ["-i", src], graph, frames, fps)))
    for key in masked(sample, hints):
        src = sample[key].get("mask_path") or media["path"]
        look = "null" if sample[key].get("mask_path") else "format=gray,lutyuv=y='if(gt(val,110),255,0)'"
        graph = "[0:v]%s,%s,format=yuv420p[out]" % (prep, look)
        target = "%s_mask_%s.mp4" % (base, key)
        jobs.append((target + ".part.mp4", target, _encode(target + ".part.mp4",
                                                          ["-i", src], graph, frames, fps)))
    procs = []
    for part, final, cmd in jobs:
        sim._temp_files.append(part)
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE)
        sim._children.append(proc)
        procs.append((proc, part, final))
    return procs


def finish_renders(procs):
    """Wait for the renders; the control videos and masks are published now (upstream writes
    them before the video guardrail), the output video only after it."""
    for proc, part, final in procs:
        _, err = proc.communicate()
        if proc.returncode != 0:
            raise RuntimeError("cosmos-sim: ffmpeg render failed (%d): %s"
                               % (proc.returncode, err.decode(errors="replace")[-800:]))
    for proc, part, final in procs[1:]:
        os.replace(part, final)
        sim._temp_files.remove(part)


def publish(procs):
    proc, part, final = procs[0]
    os.replace(part, final)
    sim._temp_files.remove(part)


def discard(procs):
    proc, part, final = procs[0]
    try:
        os.remove(part)
    except OSError:
        pass
    if part in sim._temp_files:
        sim._temp_files.remove(part)
