"""How the `cosmos` command shows things: the stable --json shapes and the text a person reads.

The JSON shapes are a contract (docs/cli-json.md): fields are only ever added, never renamed or
removed, and times are epoch seconds (floats) so scripts never parse a locale's date format.
"""

from __future__ import annotations

import json
import sys
import time
from typing import IO, Any, Iterable

from backend.models.params import run_type_name
from backend.operations import RunSummary

#: Progress fields a run object carries (a fixed subset of backend.models.results.Progress).
PROGRESS_FIELDS = ("phase", "fraction", "clip", "clips_done", "n_clips", "eta_seconds", "detail",
                   "step", "n_steps")

PHASE_LABELS = {
    "starting": "starting", "loading": "loading the model", "preprocessing": "preprocessing",
    "upsampling": "enhancing the prompt", "text_encoding": "encoding the prompt",
    "clip_encode": "encoding", "clip_diffuse": "diffusing", "clip_decode": "decoding",
    "guardrail": "guardrail check", "saving": "saving", "done": "done",
}
STATUS_LABELS = {"staging": "staging inputs", "collecting": "collecting outputs"}


# -- JSON -------------------------------------------------------------------------------------
def dump(obj: Any, out: IO[str] | None = None) -> None:
    out = out or sys.stdout
    out.write(json.dumps(obj, indent=2, ensure_ascii=False, default=str) + "\n")
    out.flush()


def progress_json(progress: dict[str, Any] | None) -> dict[str, Any] | None:
    if not progress:
        return None
    return {k: progress.get(k) for k in PROGRESS_FIELDS}


def run_json(run: RunSummary) -> dict[str, Any]:
    """A run as every command's --json shows it (docs/cli-json.md, "run object")."""
    return {
        "id": run.id, "name": run.name, "type": run.run_type, "status": run.status,
        "host": run.host, "simulated": run.simulated, "prompt": run.prompt,
        "parent_id": run.parent_id, "result_prompt_id": run.result_prompt_id,
        "created_at": run.created_at, "started_at": run.started_at,
        "finished_at": run.finished_at, "exit_code": run.exit_code,
        "failure_cause": run.failure_cause, "failure_evidence": run.failure_evidence,
        "progress": progress_json(run.progress), "gpus": list(run.gpus),
        "output_path": run.output_path, "thumbnail_path": run.thumbnail_path,
        "cancel_requested": run.cancel_requested, "rating": run.rating, "ratings": run.ratings,
        "model": run.model, "owner": run.owner, "gpu_count": run.gpu_count, "priority": run.priority,
        "wait_reason": run.wait_reason if run.status == "queued" else None,
        "ran_at": run.ran_at, "queue_seconds": run.queue_seconds,
        "gpu_seconds": run.gpu_seconds, "slurm_job_id": run.external_id, "node": run.node,
        "image_digest": run.image_digest, "checkpoints_manifest": run.checkpoints_manifest,
    }


def run_detail_json(run: RunSummary, details: dict[str, Any]) -> dict[str, Any]:
    """`show RUN --json`: the run object plus what reached the box and what happened."""
    try:
        spec = json.loads(run.spec) if run.spec else None
    except ValueError:
        spec = run.spec
    files = details["files"]
    return dict(
        run_json(run),
        prompt_id=details["prompt_id"], params=run.params, spec=spec, command=run.command,
        job_script=details["job_script"], container_name=details["container_name"],
        container_id=details["container_id"], master_port=details["master_port"],
        log_lines=run.log_lines, status_history=details["transitions"],
        outputs={"video": files["video"], "thumbnail": files["thumbnail"], "log": files["log"],
                 "text": files["text"], "info": run.output_info,
                 "model_files": run.model_files},
        recipe=_maybe_json(run.recipe), notes=run.model_notes, guardrails=run.guardrails,
        webhooks=details.get("webhooks", []),
    )


def _maybe_json(text: str | None) -> Any:
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


MODEL_HEADERS = ["ID", "NAME", "CONTROLS", "GPUS", "VRAM", "RUN TYPES", "HOSTS"]


def model_rows(models: list[dict[str, Any]]) -> list[list[str]]:
    return [[m["id"] + (" *" if m.get("default") else ""), m["name"],
             ",".join(c["name"] for c in m["controls"]),
             ",".join(map(str, m["gpu_counts"])), f"{m['vram_gb']:g} GB",
             ",".join(map(run_type_name, m["run_types"])), ",".join(m["hosts"]) or "-"]
            for m in models]


def print_model(model: dict[str, Any], out: IO[str]) -> None:
    out.write(f"\n{model['name']}: {model['summary']}\n")
    for v in model["variants"]:
        out.write(f"variant {v['name']}: {v['summary']}\n")
    out.write("settings:\n")

    def num(v: Any) -> str:
        return str(int(v)) if float(v).is_integer() else f"{v:g}"

    for f in model["fields"]:
        rng = (f" {num(f['minimum'])}..{num(f['maximum'])}" if f["minimum"] is not None
               and f["maximum"] is not None else "")
        choices = f" one of {', '.join(map(str, f['choices']))}" if f["choices"] else ""
        out.write(f"  {f['name']}: {f['label']} ({f['kind']}{rng}{choices}; default "
                  f"{f['default']!r})\n")
    out.write(f"offload flags: {', '.join(model['offload_flags']) or 'none'}\n")
    out.write(f"image: {model['image']['default']} ({model['image']['build']})\n")


# -- text -------------------------------------------------------------------------------------
def when(ts: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts)) if ts else "-"


def duration(seconds: float | None) -> str:
    if seconds is None or seconds < 0:
        return "-"
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def short(text: str, width: int) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= width else text[:max(0, width - 1)] + "…"


def table(rows: list[list[str]], headers: list[str], out: IO[str]) -> None:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
              for i, h in enumerate(headers)]
    for row in [headers] + rows:
        out.write("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() + "\n")


def run_rows(runs: Iterable[RunSummary]) -> list[list[str]]:
    return [[r.id, r.status + ("*" if r.cancel_requested and not r.is_terminal else ""),
             run_type_name(r.run_type), r.host, r.owner or "-", when(r.created_at),
             short(r.name or r.prompt, 44)]
            for r in runs]


RUN_HEADERS = ["ID", "STATUS", "TYPE", "HOST", "OWNER", "CREATED", "NAME / PROMPT"]


def progress_text(run: RunSummary) -> str:
    """'diffusing clip 1/2  45%  ETA 0:12' (empty before any progress)."""
    p = run.progress or {}
    if not p:
        return ""
    parts = [PHASE_LABELS.get(p.get("phase"), p.get("phase") or "")]
    if p.get("clip") and p.get("n_clips"):
        parts.append(f"clip {p['clip']}/{p['n_clips']}")
    parts.append(f"{round(100 * (p.get('fraction') or 0))}%")
    if p.get("eta_seconds") is not None and not run.is_terminal:
        parts.append(f"ETA {duration(p['eta_seconds'])}")
    return "  ".join(x for x in parts if x)


def print_run(run: RunSummary, details: dict[str, Any], out: IO[str]) -> None:
    w = out.write
    w(f"run {run.id}  {run.status}" + (f"  ({progress_text(run)})" if not run.is_terminal
                                        and run.progress else "") + "\n")
    w(f"  name       {run.name or '-'}\n  type       {run_type_name(run.run_type)}\n  model      {run.model}\n")
    w(f"  owner      {run.owner or '(unknown: made before owners were recorded)'}\n")
    w(f"  host       {run.host}{' (simulated)' if run.simulated else ''}"
      + (f"  GPUs {','.join(map(str, run.gpus))}" if run.gpus else "") + "\n")
    w(f"  prompt     {short(run.prompt, 200)}\n")
    if details.get("prompt_id"):
        w(f"  prompt id  {details['prompt_id']}\n")
    if run.parent_id:
        w(f"  parent     {run.parent_id}\n")
    if run.result_prompt_id:
        w(f"  new prompt {run.result_prompt_id}\n")
    w(f"  created    {when(run.created_at)}\n")
    if run.external_id:
        w(f"  slurm job  {run.external_id}" + (f" on {run.node}" if run.node else "") + "\n")
    elif run.node:
        w(f"  node       {run.node}\n")
    if run.status == "queued" and run.wait_reason:
        w(f"  waits      {run.wait_reason}\n")
    if run.queue_seconds is not None:
        w(f"  in queue   {duration(run.queue_seconds)} waiting in Slurm"
          f"{'' if run.ran_at or run.finished_at else ' so far'} (not run time)\n")
    if run.ran_at or run.started_at:
        begun = run.ran_at or run.started_at
        end = run.finished_at or time.time()
        w(f"  started    {when(begun)}  ({duration(end - begun)}"
          f"{'' if run.finished_at else ' so far'})\n")
    if run.finished_at:
        w(f"  finished   {when(run.finished_at)}\n")
    if run.exit_code is not None:
        w(f"  exit code  {run.exit_code}\n")
    if run.failure_cause:
        w(f"  cause      {run.failure_cause}\n")
    if run.failure_evidence and run.failure_cause:
        w(f"  evidence   {short(run.failure_evidence, 300)}\n")
    files = details.get("files") or {}
    for key in ("video", "thumbnail", "log", "text"):
        if files.get(key):
            w(f"  {key:<10} {files[key]}\n")
    for item in run.model_files:
        w(f"  {'model':<10} {item['path']}  ({item['label']})\n")
    for note in run.model_notes:
        w(f"  note       {note['label']}\n")
    if run.command:
        w(f"  command    {run.command}\n")
    history = [f"{t['status']} {time.strftime('%H:%M:%S', time.localtime(t['at']))}"
               for t in details.get("transitions", [])]
    w("  history    " + "  ".join(history) + "\n")
    for line in delivery_lines(details.get("webhooks") or []):
        w(f"  webhook    {line}\n")


def delivery_lines(deliveries: Iterable[dict[str, Any]]) -> list[str]:
    """One line per webhook delivery attempt: when, which webhook and event, what came back."""
    out = []
    for d in deliveries:
        answer = (f"HTTP {d['status_code']}" if d["status_code"] is not None and not d["error"]
                  else d["error"] or ("no answer yet" if d["outcome"] == "sending" else ""))
        out.append(f"{time.strftime('%H:%M:%S', time.localtime(d['at']))} {d['webhook']} "
                   f"{d['event']} #{d['attempt']} {d['outcome']}: {answer}")
    return out


def print_prompt(prompt: dict[str, Any], out: IO[str]) -> None:
    out.write(f"prompt {prompt['id']}" + (f"  ({prompt['name']})" if prompt["name"] else "")
              + "\n")
    out.write(f"  text       {prompt['text']}\n  negative   {short(prompt['negative_prompt'], 200)}"
              f"\n  created    {when(prompt['created_at'])}\n  runs       {prompt['runs']}\n")
    if prompt.get("parent_id"):
        out.write(f"  derived from {prompt['parent_id']}\n")


def prompt_rows(prompts: Iterable[dict[str, Any]]) -> list[list[str]]:
    return [[p["id"], when(p["created_at"]), str(p["runs"]), short(p["name"] or p["text"], 60)]
            for p in prompts]


PROMPT_HEADERS = ["ID", "CREATED", "RUNS", "NAME / TEXT"]


def print_status(view: dict[str, Any], out: IO[str]) -> None:
    workers = view["workers"]
    if workers:
        out.write("workers    " + ", ".join(f"pid {w['pid']} on {w['hostname']}" for w in workers)
                  + "\n")
    else:
        out.write("workers    none running: queued runs wait until `cosmos worker` or the app "
                  "starts\n")
    counts = view["counts"]
    out.write("runs       " + ", ".join(f"{n} {s}" for s, n in counts.items() if n) + "\n"
              if any(counts.values()) else "runs       none yet\n")
    for h in view["hosts"]:
        busy = max(len(h["busy_gpus"]), h.get("busy_count", 0))
        others = h.get("taken_by_others") or {}
        out.write(f"host {h['name']:<8} GPUs {busy}/{len(h['gpus'])} busy"
                  f"{' (' + ','.join(map(str, h['busy_gpus'])) + ')' if h['busy_gpus'] else ''}"
                  + (f", {len(others)} used by others" if others else "")
                  + f", {h['running']} running (max {h['max_concurrent']}), {h['queued']} queued"
                  f"{', simulated' if h['simulated'] else ''}\n")
        for gpu, why in sorted(others.items()):
            out.write(f"{'':14}GPU {gpu}: {why}\n")
    if view["running"]:
        out.write("\nin progress\n")
        table([[r.id, r.status, r.host, r.owner or "-",
                ",".join(map(str, r.gpus)) or (f"{r.gpu_count}" if r.status != "pending"
                                               else "-"),
                progress_text(r) or "-", short(r.name or r.prompt, 40)]
               for r in view["running"]],
              ["ID", "STATUS", "HOST", "OWNER", "GPUS", "PROGRESS", "NAME"], out)
    if view["queued"]:
        out.write("\nqueue (next first)\n")
        why = view.get("waits", {})
        table([[str(i), r.id, r.host, r.owner or "-", str(r.params.get("num_gpus", 1)),
                when(r.created_at), short(why.get(r.id, ""), 90)]
               for i, r in enumerate(view["queued"], 1)],
              ["#", "ID", "HOST", "OWNER", "GPUS", "QUEUED AT", "WHY IT WAITS"], out)


MARK = {"ok": "ok  ", "warn": "WARN", "fail": "FAIL"}


def print_doctor(reports: list[dict[str, Any]], out: IO[str]) -> None:
    for report in reports:
        kind = report["kind"] + (", simulated" if report["simulated"] else "")
        status = report["status"].upper() if report["status"] != "ok" else "ok"
        out.write(f"{report['host']} ({kind}): {status}\n")
        for check in report["checks"]:
            out.write(f"  {MARK[check['status']]}  {check['name']:<12} {check['finding']}\n")
            if check["name"] == "gpus":
                for gpu in check["details"].get("gpus", []):
                    mem = (f"{gpu['memory_used']:.0f}/{gpu['memory_total']:.0f} MiB"
                           if gpu.get("memory_total") else "memory ?")
                    out.write(f"{'':20}GPU {gpu['index']}: {gpu['name']}, {mem}"
                              f"{'' if gpu['configured'] else ' (not configured)'}\n")
            if check["status"] != "ok" and check["fix"]:
                out.write(f"{'':20}fix: {check['fix']}\n")


def print_usage(report: dict[str, Any], out: IO[str]) -> None:
    """`cosmos usage`: one line per person/host/model, then the total."""
    since = f" since {when(report['since'])}" if report.get("since") else ""
    out.write(f"usage by {report['by']}{since} (GPU time counts only while a run really ran; "
              "Slurm queue time is apart)\n")

    def row(r: dict[str, Any]) -> list[str]:
        rate = "-" if r["failure_rate"] is None else f"{100 * r['failure_rate']:.0f}%"
        return [str(r["key"]), f"{r['gpu_hours']:.2f}", str(r["runs"]), str(r["completed"]),
                str(r["failed"]), rate, f"{r['slurm_queue_hours']:.2f}"]

    rows = [row(r) for r in report["rows"]]
    if report["rows"]:
        rows.append(row(report["total"]))
    table(rows, [report["by"].upper(), "GPU-HOURS", "RUNS", "COMPLETED", "FAILED",
                 "FAILURE RATE", "SLURM QUEUE HOURS"], out)
