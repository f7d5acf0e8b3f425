"""How one run is shown: header, progress bar, parameters and the GPU plot's data.

Pure functions of a RunSummary (no Gradio, no store), used by the run view and unit tested.
"""

from __future__ import annotations

import json

import time
from typing import Any, Iterable

import pandas as pd

from backend.models.params import ALL_CONTROLS as CONTROLS
from backend.models.params import LEGACY_MODEL
from backend.models.results import public_detail
from components.common import (RUN_TYPE_LABELS, e, file_url, fmt_duration, fmt_time,
                               rating_text, run_title, sim_badge, type_badge)

PLOT_COLUMNS = ["t", "percent", "series"]


def live_clock(seconds: float, ticking: bool) -> str:
    """A duration; while `ticking`, the page moves it on every second by itself
    (components/js/review.js, `.live-clock`), so the server never re-sends the status line
    just to move a clock: each message the page receives costs its renderer a walk of the
    components (see components/live.py)."""
    text = fmt_duration(seconds)
    if not ticking:
        return text
    return f"<span class='live-clock' data-seconds='{max(0.0, seconds):.1f}'>{text}</span>"


def status_html(run: Any, now: float | None = None) -> str:
    """Status badge, where it runs, how long, and why it failed."""
    now = now or time.time()
    head = (f"<div class='run-head'><span class='run-title'>{e(run_title(run, 80))}</span> "
            f"<span id='run-status' class='badge badge-{e(run.status)}' "
            f"data-status='{e(run.status)}' data-run='{e(run.id)}'>{e(run.status)}</span> "
            f"{type_badge(run.run_type)} {sim_badge(run.simulated)}</div>")
    meta = [f"<code>{e(run.id)}</code>", f"on <b>{e(run.host)}</b>"]
    owner = getattr(run, "owner", "")
    meta.append(f"by <b id='run-owner'>{e(owner)}</b>" if owner else
                "<span class='muted'>owner unknown (made before owners were recorded)</span>")
    if run.gpus:
        meta.append("GPU " + ", ".join(str(g) for g in run.gpus))
    job = getattr(run, "external_id", None)
    if job:
        node = getattr(run, "node", None)
        meta.append(f"<span id='run-slurm'>Slurm job <code>{e(job)}</code>"
                    + (f" on <b>{e(node)}</b>" if node else "") + "</span>")
    meta.append(f"created {fmt_time(run.created_at)}")
    queue = getattr(run, "queue_seconds", None)
    if queue is not None:
        waiting = not (getattr(run, "ran_at", None) or run.finished_at)
        waited = live_clock(queue, waiting)
        meta.append(f"<span id='run-queue-time'>waited {waited} in Slurm's queue"
                    + (" so far" if waiting else "") + "</span>")
    begun = getattr(run, "ran_at", None) or (None if queue is not None else run.started_at)
    if begun:
        meta.append(("took " if run.finished_at else "running for ")
                    + live_clock((run.finished_at or now) - begun, not run.finished_at))
    if run.parent_id:
        meta.append(f"from run <code>{e(run.parent_id)}</code>")
    if run.ratings:
        meta.append(f"rated {rating_text(run.rating, run.ratings)}")
    lines = [head, "<div class='run-meta'>" + " · ".join(meta) + "</div>"]
    if run.cancel_requested and not run.is_terminal:
        lines.append(f"<div class='run-stopping'>Stopping ({e(run.cancel_requested)})...</div>")
    if run.failure_cause and run.status != "completed":
        lines.append(f"<div id='run-cause' class='run-cause'><b>Cause:</b> "
                     f"{e(run.failure_cause)}</div>")
        if run.failure_evidence:
            lines.append(f"<pre class='run-evidence'>{e(run.failure_evidence[:600])}</pre>")
    return "\n".join(lines)


#: The model's phase names as a person reads them while the run is still going.
_PHASE_WORDS = {"text_encoding": "encoding the prompt", "clip_encode": "encoding",
                "clip_diffuse": "generating", "clip_decode": "decoding",
                "guardrail": "safety check", "upsampling": "upsampling the prompt"}


def progress_parts(run: Any) -> tuple[float, str]:
    """(fraction 0..1, 'phase · clip i/n · ETA') of a run. It never contradicts the status:
    only a completed run is "done" at 100%; while the outputs are collected after the model
    finished it says so, below 100% and without an ETA of 0 s; no server path is shown."""
    progress = run.progress or {}
    done = run.status == "completed"
    fraction = 1.0 if done else max(0.0, min(1.0, float(progress.get("fraction") or 0.0)))
    model_phase = str(progress.get("phase") or "")
    finished_model = model_phase == "done"
    if not done and not run.is_terminal:
        fraction = min(fraction, 0.99)  # 100% is for a run that has ended well
    if done:
        phase = "done"
    elif run.is_terminal:
        phase = run.status if not model_phase else (
            f"{run.status} after the model finished" if finished_model
            else f"{run.status} during {_PHASE_WORDS.get(model_phase, model_phase)}")
    elif run.status == "collecting":
        phase = "collecting the outputs"
    elif finished_model:
        phase = "model finished, saving"
    else:
        phase = _PHASE_WORDS.get(model_phase, model_phase) or run.status
    # while the input uploads, the upload's own share is the one that moves (in `detail`)
    detail = [phase] if run.status == "staging" else [phase, f"{fraction * 100:.0f}%"]
    if progress.get("n_clips"):
        clip = progress.get("clip") or progress.get("clips_done") or 0
        detail.append(f"clip {clip}/{progress['n_clips']}")
    if progress.get("total_frames"):
        detail.append(f"{progress['total_frames']} frames")
    eta = progress.get("eta_seconds")
    going = not run.is_terminal and run.status != "collecting" and not finished_model
    if eta is not None and going and float(eta) > 0:
        detail.append(f"ETA {fmt_duration(float(eta))}")
    if progress.get("detail") and going:  # upload progress, Slurm queue position
        detail.append(public_detail(str(progress["detail"])))
    if run.status == "queued":
        reason = getattr(run, "wait_reason", None)
        detail = [f"queued: {reason}" if reason else "queued: waiting for a free GPU slot"]
    return fraction, " · ".join(detail)


def progress_html(run: Any) -> str:
    fraction, text = progress_parts(run)
    cls = "progress-done" if run.status == "completed" else ""
    return (f"<div id='run-progress' class='{cls}' data-fraction='{fraction:.3f}' "
            f"data-phase='{e(str((run.progress or {}).get('phase') or run.status))}'>"
            f"<div class='progress-outer' role='progressbar' aria-valuemin='0' "
            f"aria-valuemax='100' aria-valuenow='{fraction * 100:.0f}'>"
            f"<div class='progress-inner' style='width:{fraction * 100:.1f}%'></div></div>"
            f"<div class='progress-text'>{e(text)}</div></div>")


def _value(value: Any) -> str:
    if value is None or value == "":
        return "<span class='muted'>-</span>"
    if isinstance(value, float):
        return f"{value:g}"
    return e(str(value))


def _setup_html(run: Any) -> str:
    """A setup run: which models, and the manifests it wrote (no generation settings)."""
    try:
        models = json.loads(run.spec or "{}").get("models") or []
    except ValueError:
        models = []
    rows = [("Type", RUN_TYPE_LABELS.get(run.run_type, run.run_type)), ("Host", run.host),
            ("Models", ", ".join(models))]
    for entry in (getattr(run, "artifacts", None) or {}).get("manifests") or []:
        rows.append((f"{entry.get('model')} manifest", entry.get("id")))
    body = "".join(f"<tr><td>{e(k)}</td><td>{_value(v)}</td></tr>" for k, v in rows)
    return f"<table class='kv' id='run-params'>{body}</table>"


def params_html(run: Any) -> str:
    """The settings a run was made with, as a compact key/value table."""
    if run.run_type == "setup":
        return _setup_html(run)
    p = run.params or {}
    weights = p.get("weights") or {}
    active = ", ".join(f"{c} {float(weights.get(c) or 0):g}" for c in CONTROLS
                       if float(weights.get(c) or 0) > 0) or "none"
    controls = p.get("control_videos") or {}
    rows = [("Type", RUN_TYPE_LABELS.get(run.run_type, run.run_type)),
            ("Model", (getattr(run, "model", None) or p.get("model") or LEGACY_MODEL)
             + (f" ({p['variant']})" if p.get("variant") else "")),
            ("Prompt", p.get("prompt")), ("Negative prompt", p.get("negative_prompt")),
            ("Input video", (p.get("input_video") or "").rsplit("/", 1)[-1]),
            ("Weights", active)]
    rows += [(f"{c} control video", v.rsplit("/", 1)[-1]) for c, v in controls.items() if v]
    rows += [("Seg text prompt", p.get("seg_prompt")), ("Steps", p.get("num_steps")),
             ("Guidance", p.get("guidance")), ("Sigma max", p.get("sigma_max")),
             ("Seed", p.get("seed")), ("FPS", p.get("fps") or "same as input"),
             ("Blur / Canny", f"{p.get('blur_strength')} / {p.get('canny_threshold')}"),
             ("GPUs", p.get("num_gpus"))]
    for control, options in (p.get("control_options") or {}).items():
        for name, value in (options or {}).items():
            if value:
                rows.append((f"{control} {name.replace('_', ' ')}", str(value).rsplit("/", 1)[-1]))
    for region in p.get("regional_prompts") or []:
        where = region.get("box") or region.get("mask_prompt") or str(
            region.get("mask_video") or "").rsplit("/", 1)[-1]
        rows.append(("Regional prompt", f"{region.get('prompt')} @ {where}"))
    for key, value in (p.get("extra") or {}).items():
        rows.append((key.replace("_", " ").capitalize(), value))
    if p.get("offload") is not None:
        rows.append(("Offload", ", ".join(p["offload"]) or "none"))
    if (p.get("batch_size") or 1) > 1:
        rows.append(("Batch size", p.get("batch_size")))
    for note in getattr(run, "model_notes", []) or []:
        rows.append(("Note", note.get("label")))
    if run.run_type == "upscale":
        rows.append(("Upscale weight", p.get("upscale_weight")))
    if p.get("chain_upscale"):
        rows.append(("Then", "4K upscale"))
    rows += [("Image digest", getattr(run, "image_digest", None)),
             ("Checkpoints manifest", getattr(run, "checkpoints_manifest", None)),
             ("Guardrails", {True: "on", False: "off"}.get(getattr(run, "guardrails", None)))]
    if run.output_info:
        info = run.output_info
        rows.append(("Output", f"{info.get('width')}x{info.get('height')}, "
                               f"{info.get('frames')} frames, {info.get('fps', 0):g} fps"))
    body = "".join(f"<tr><td>{e(k)}</td><td>{_value(v)}</td></tr>" for k, v in rows)
    return f"<table class='kv' id='run-params'>{body}</table>"


def model_files_html(run: Any) -> str:
    """The other videos the model wrote (control videos, masks) that are on this machine, as
    a row of small players with their captions; "" when there are none."""
    from pathlib import Path

    items = [f for f in getattr(run, "model_files", []) or []
             if f.get("path") and Path(f["path"]).is_file()]
    if not items:
        return ""
    cells = "".join(
        f"<figure class='model-file' data-role='{e(f.get('role', ''))}'>"
        f"<video src='{e(file_url(f['path']))}' controls muted loop preload='metadata'></video>"
        f"<figcaption>{e(f.get('label', ''))}</figcaption></figure>" for f in items)
    return (f"<div id='run-model-files'><div class='model-files-title'>Control videos and masks "
            f"the model wrote</div><div class='model-files'>{cells}</div></div>")


def recipe_html(run: Any) -> str:
    """The arguments the model resolved for the run (its recipe), when it wrote them."""
    import json as _json

    text = getattr(run, "recipe", None)
    if not text:
        return ""
    try:
        text = _json.dumps(_json.loads(text), indent=2, ensure_ascii=False)
    except ValueError:
        pass
    return (f"<div id='run-recipe'><div class='model-files-title'>Recipe: the arguments the "
            f"model resolved</div><pre class='run-recipe'>{e(text)}</pre></div>")


def metrics_frame(samples: Iterable[dict]) -> pd.DataFrame:
    """GPU samples as plot rows: seconds since the first sample, percent, series name.

    Utilisation and memory share one 0-100 % axis so one small plot shows both.
    """
    samples = list(samples)
    if not samples:
        return pd.DataFrame({"t": pd.Series(dtype=float), "percent": pd.Series(dtype=float),
                             "series": pd.Series(dtype=str)})
    start = min(s["at"] for s in samples)
    rows = []
    for s in samples:
        t = round(s["at"] - start, 1)
        if s.get("utilization") is not None:
            rows.append((t, float(s["utilization"]), f"GPU {s['gpu']} utilisation"))
        if s.get("memory_used") is not None and s.get("memory_total"):
            rows.append((t, 100.0 * float(s["memory_used"]) / float(s["memory_total"]),
                         f"GPU {s['gpu']} memory"))
    return pd.DataFrame(rows, columns=PLOT_COLUMNS)
