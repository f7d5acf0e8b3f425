"""Row 5, store at scale: the history, gallery, filtered and search pages over 100,000 runs.

A throwaway database made by the app's own `Store` (schema, indexes, FTS triggers) is filled
through peewee `insert_many` with 100,000 realistic runs: params JSON as the Create form makes
it, spec / command / job script on every started run, a mix of statuses, hosts and run types,
outputs on the completed ones, reviews on some. Then each page query runs many times:

  history   history.query_runs + count_runs, default filter (newest 25 + the total)
  gallery   the same with with_output=True
  filtered  status + host + run type
  search    a full-text query (two words, prefix match)

Baseline: `SELECT * FROM run ORDER BY id DESC LIMIT 25`, the cheapest page SQLite can serve.
Goal: p95 <= 50 ms per page. Each page's query and count are also timed apart and their
EXPLAIN QUERY PLAN is kept in results.json, so a slow page says which query and why.
"""

from __future__ import annotations

import json
import random
import secrets
import time
from pathlib import Path

from bench.common import Context, Line, missing, try_import
from bench.stats import Goal, summarize

NAME = "store"
TITLE = "5 store at scale"
GOAL = Goal("ours", "<=", 0.050, "s")
PAGES = ("history", "gallery", "filtered", "search")

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
HOSTS = ("sim", "gpu1", "gpu2", "gpu3", "gpu4", "a100-box")
STATUS_MIX = (("completed", 0.70), ("failed", 0.14), ("cancelled", 0.06), ("blocked", 0.03),
              ("queued", 0.04), ("running", 0.02), ("staging", 0.005), ("collecting", 0.005))
TYPE_MIX = (("inference", 0.85), ("upscale", 0.10), ("enhance", 0.05))
SUBJECTS = ("street", "harbor", "forest", "desert", "city", "kitchen", "warehouse", "highway",
            "beach", "market", "subway", "rooftop", "bridge", "canyon", "village", "factory")
MOODS = ("rainy", "foggy", "sunny", "snowy", "neon", "golden hour", "overcast", "stormy",
         "misty", "dusky", "moonlit", "hazy")
STYLES = ("35mm film", "photorealistic", "anamorphic", "documentary", "cinematic", "aerial",
          "handheld", "timelapse", "macro", "wide angle")
CAUSES = ("CUDA out of memory", "Guardrail blocked the prompt", "NCCL error",
          "Container crashed with exit 1", "Killed by the user")
SEARCH_TEXT = "rainy harb"  # two words, the second a prefix: a typical search box entry
FILTER = {"statuses": ("failed",), "hosts": ("gpu2",), "run_types": ("inference",)}


def _ulid(ms: int) -> str:
    value = (ms << 80) | secrets.randbits(80)
    chars = []
    for _ in range(26):
        chars.append(_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def _pick(rng: random.Random, mix) -> str:
    x = rng.random()
    for value, share in mix:
        x -= share
        if x < 0:
            return value
    return mix[0][0]


def _prompt_text(rng: random.Random) -> str:
    when = rng.choice(("dawn", "noon", "dusk", "night"))
    return (f"A {rng.choice(MOODS)} {rng.choice(SUBJECTS)} at {when}, "
            f"{rng.choice(STYLES)}, {rng.choice(SUBJECTS)} in the background, "
            f"reflections on wet asphalt, slow dolly shot, seed variation {rng.randint(1, 999)}")


def generate(db_path: Path, n_runs: int, seed: int = 8) -> dict:
    """Fill a fresh store with `n_runs` runs; returns counts and timings for the record."""
    from backend import store as st
    from backend.config import DEFAULT_NEGATIVE_PROMPT

    rng = random.Random(seed)
    started = time.perf_counter()
    store = st.Store(db_path)
    now_ms = int(time.time() * 1000)
    span_ms = 365 * 24 * 3600 * 1000
    n_prompts = max(1, n_runs // 5)
    prompt_rows = []
    for i in range(n_prompts):
        ms = now_ms - span_ms + i * span_ms // n_prompts
        prompt_rows.append({"id": _ulid(ms), "name": "", "text": _prompt_text(rng),
                            "negative_prompt": DEFAULT_NEGATIVE_PROMPT, "parent": None,
                            "created_at": ms / 1000})
    run_rows, review_rows = [], []
    for i in range(n_runs):
        ms = now_ms - span_ms + i * span_ms // n_runs + rng.randint(0, 500)
        run_id = _ulid(ms)
        prompt = prompt_rows[min(n_prompts - 1, i * n_prompts // n_runs)]
        status = _pick(rng, STATUS_MIX)
        run_type = _pick(rng, TYPE_MIX)
        host = rng.choice(HOSTS)
        weights = {"vis": 0.0, "edge": round(rng.choice((0.0, 0.3, 0.5, 1.0)), 2),
                   "depth": round(rng.choice((0.0, 0.4, 0.6)), 2), "seg": 0.0,
                   "keypoint": 0.0}
        params = {"prompt": prompt["text"], "negative_prompt": DEFAULT_NEGATIVE_PROMPT,
                  "input_video": f"/srv/cosmos/data/uploads/{secrets.token_hex(32)}.mp4",
                  "weights": weights, "control_videos": {}, "seg_prompt": "",
                  "sigma_max": 70.0, "guidance": rng.choice((5.0, 6.5, 7.0)),
                  "num_steps": rng.choice((35, 35, 50)), "seed": rng.randint(0, 2**31),
                  "fps": None, "blur_strength": "medium", "canny_threshold": "medium",
                  "num_gpus": rng.choice((1, 1, 2, 4, 8)), "upscale_weight": 0.5}
        started_run = status not in ("queued",)
        terminal = status in ("completed", "failed", "cancelled", "blocked")
        run_dir = f"/data/cosmos/runs/{run_id}"
        spec = json.dumps({"prompt": prompt["text"], "negative_prompt": DEFAULT_NEGATIVE_PROMPT,
                           "input_video_path": f"{run_dir}/inputs/input.mp4",
                           "sigma_max": 70.0, "guidance": params["guidance"],
                           "num_steps": params["num_steps"], "seed": params["seed"],
                           "fps": 24, **{c: {"control_weight": w} for c, w in weights.items()
                                          if w}}, indent=2) if started_run else None
        command = (f"docker run -d --name cosmos-{run_id} --label cosmos.run={run_id} "
                   f"--label cosmos.app=01jbench --gpus '\"device=0\"' --ipc host "
                   "-v /data/cosmos:/cosmos "
                   "-v /data/cosmos-transfer1:/workspace/cosmos-transfer1:ro "
                   f"-w /workspace/cosmos-transfer1 cosmos-transfer1:latest bash "
                   f"/cosmos/runs/{run_id}/job.sh") if started_run else None
        job = (f"#!/usr/bin/env bash\nset -eu\nrun_id={run_id}\nlog=/cosmos/runs/{run_id}/run.log\n"
               "exec >>\"$log\" 2>&1\ncd -- /workspace/cosmos-transfer1\n"
               "export PYTHONPATH=/workspace/cosmos-transfer1\nexport PYTHONUNBUFFERED=1\n"
               "exec torchrun --nproc_per_node=1 --master_port=12341 "
               "cosmos_transfer1/diffusion/inference/transfer.py --checkpoint_dir checkpoints "
               f"--video_save_folder /cosmos/runs/{run_id}/outputs --video_save_name output "
               f"--controlnet_specs /cosmos/runs/{run_id}/spec.json "
               "--offload_text_encoder_model --offload_guardrail_models\n") if started_run else None
        has_output = status == "completed" and run_type != "enhance"
        failed = status in ("failed", "blocked", "cancelled")
        run_rows.append({
            "id": run_id, "prompt": prompt["id"], "parent": None, "run_type": run_type,
            "name": rng.choice(("", "", "", f"take {rng.randint(1, 40)}",
                                f"{rng.choice(SUBJECTS)} look dev")),
            "status": status, "host": host, "simulated": host == "sim",
            "params": json.dumps(params), "spec": spec, "command": command, "job_script": job,
            "container_name": f"cosmos-{run_id}" if started_run else None,
            "container_id": secrets.token_hex(32) if started_run else None,
            "gpus": json.dumps([0]) if started_run else None,
            "master_port": 12341 if started_run else None,
            "exit_code": (0 if status == "completed" else 1) if terminal else None,
            "failure_cause": rng.choice(CAUSES) if failed else None,
            "failure_evidence": "RuntimeError: CUDA out of memory. Tried to allocate 2.00 GiB"
            if failed else None,
            "cancel_requested": None, "log_offset": 48213 if started_run else 0,
            "log_lines": 412 if started_run else 0,
            "progress": json.dumps({"phase": "done" if terminal else "denoising",
                                    "fraction": 1.0 if terminal else 0.4, "clip": 1,
                                    "n_clips": 1}) if started_run else None,
            "output_path": f"/srv/cosmos/data/runs/{run_id}/output.mp4" if has_output else None,
            "thumbnail_path": f"/srv/cosmos/data/runs/{run_id}/thumb.jpg" if has_output else None,
            "output_info": json.dumps({"width": 1280, "height": 704, "frames": 121, "fps": 24.0,
                                       "bytes": rng.randint(2_000_000, 9_000_000)})
            if has_output else None,
            "priority": 0, "batch_id": None, "batch_index": None, "external_id": None,
            "node": None, "result_prompt_id": None, "worker_id": None,
            "created_at": ms / 1000, "updated_at": ms / 1000 + 60,
            "started_at": ms / 1000 + 1 if started_run else None,
            "finished_at": ms / 1000 + 60 if terminal else None,
        })
        if status == "completed" and rng.random() < 0.08:
            for _ in range(rng.randint(1, 3)):
                review_rows.append({"run": run_id, "username": rng.choice(("ana", "bo", "chen")),
                                    "rating": rng.randint(1, 5), "comment": "",
                                    "created_at": ms / 1000 + 3600})
    built = time.perf_counter()
    fields = set(st.Run._meta.fields)
    run_rows = [{k: v for k, v in row.items() if k in fields} for row in run_rows]
    with st.db.atomic():
        for i in range(0, len(prompt_rows), 500):
            st.Prompt.insert_many(prompt_rows[i:i + 500]).execute()
        for i in range(0, len(run_rows), 400):
            st.Run.insert_many(run_rows[i:i + 400]).execute()
        for i in range(0, len(review_rows), 500):
            st.Review.insert_many(review_rows[i:i + 500]).execute()
    st.db.execute_sql("ANALYZE")
    inserted = time.perf_counter()
    return {"store": store, "runs": n_runs, "prompts": n_prompts, "reviews": len(review_rows),
            "build_seconds": built - started, "insert_seconds": inserted - built,
            "db_bytes": db_path.stat().st_size}


def run(ctx: Context) -> list[Line]:
    history = try_import("backend.store.history")
    store_mod = try_import("backend.store")
    if history is None or store_mod is None or \
            missing(history, "RunFilter", "query_runs", "count_runs"):
        reason = "backend/history.py (RunFilter, query_runs, count_runs) missing"
        return [Line.not_built(f"5 {p} page", "s", GOAL, reason, stat="p95") for p in PAGES]
    st = store_mod
    n_runs = 100_000
    repeats = 40 if ctx.quick else 120
    folder = ctx.scratch("store")
    info = generate(folder / "bench.db", n_runs)
    store = info.pop("store")
    ctx.log(f"store: {n_runs} runs generated in {info['build_seconds']:.1f} s + inserted in "
            f"{info['insert_seconds']:.1f} s ({info['db_bytes'] / 1e6:.0f} MB)")
    f = history.RunFilter
    filters = {"history": f(), "gallery": f(with_output=True), "filtered": f(**FILTER),
               "search": f(text=SEARCH_TEXT)}
    db = st.db

    def baseline() -> None:
        rows = db.execute_sql("SELECT * FROM run ORDER BY id DESC LIMIT 25").fetchall()
        assert len(rows) == 25

    times: dict[str, list[float]] = {"baseline": []}
    parts: dict[str, dict[str, list[float]]] = {}
    results: dict[str, dict] = {}
    broken: dict[str, str] = {}
    for page in PAGES:
        times[page] = []
        parts[page] = {"query_runs": [], "count_runs": []}
    try:
        for name, flt in list(filters.items()):  # warm the cache; record what pages return
            try:
                page = history.query_runs(flt, limit=25)
                results[name] = {"rows": len(page), "total": history.count_runs(flt)}
            except Exception as exc:
                broken[name] = f"{type(exc).__name__}: {exc}"
                ctx.log(f"store: the {name} page fails: {broken[name]}")
        live = [p for p in PAGES if p not in broken]
        for _ in range(3):
            baseline()
        for i in range(repeats):
            started = time.perf_counter()
            baseline()
            times["baseline"].append(time.perf_counter() - started)
            order = live[i % len(live):] + live[:i % len(live)] if live else []
            for name in order:
                flt = filters[name]
                t0 = time.perf_counter()
                history.query_runs(flt, limit=25)
                t1 = time.perf_counter()
                history.count_runs(flt)
                t2 = time.perf_counter()
                times[name].append(t2 - t0)
                parts[name]["query_runs"].append(t1 - t0)
                parts[name]["count_runs"].append(t2 - t1)
        plans: dict[str, dict[str, list[str]]] = {}
        where = getattr(history, "_where", None)
        for name, flt in filters.items():
            if where is None:
                break
            try:
                page_sql, params = where(flt).order_by(st.Run.id.desc()).limit(25).sql()
                count_sql, count_params = where(flt).sql()
                if name in broken:  # diagnose the query as it would be once repaired
                    page_sql, count_sql = _repaired(page_sql), _repaired(count_sql)
                plans[name] = {
                    "query_runs": _explain(db, page_sql, params),
                    "count_runs": _explain(db, f"SELECT COUNT(1) FROM ({count_sql}) AS _w",
                                           count_params)}
                if name in broken:
                    plans[name]["repaired_sql"] = [page_sql]
                    samples = []
                    for _ in range(repeats):
                        t0 = time.perf_counter()
                        db.execute_sql(page_sql, params).fetchall()
                        db.execute_sql(f"SELECT COUNT(1) FROM ({count_sql}) AS _w",
                                       count_params).fetchall()
                        samples.append(time.perf_counter() - t0)
                    plans[name]["repaired_page_seconds"] = [summarize(samples).p95]
            except Exception as exc:  # the plan is a diagnosis, not a figure
                plans[name] = {"error": [str(exc)]}
        page_ops = None
        ops_mod = try_import("backend.operations")
        if ops_mod is not None and hasattr(ops_mod.Operations, "find_runs"):

            ops = ops_mod.Operations(None, store)
            page_ops = {}
            for name in live:
                samples = []
                for _ in range(max(10, repeats // 4)):
                    t0 = time.perf_counter()
                    ops.find_runs(filters[name], limit=25)
                    samples.append(time.perf_counter() - t0)
                page_ops[name] = summarize(samples).to_dict()
    finally:
        store.close()
    lines = []
    for name in PAGES:
        if name in broken:
            repaired = (plans.get(name) or {}).get("repaired_page_seconds")
            line = Line.failed(f"5 {name} page", "s", GOAL,
                               f"history.query_runs({_describe(filters[name])}) raises "
                               f"{broken[name]}"
                               + (f"; repaired by hand (parenthesised subquery) its p95 is "
                                  f"{repaired[0] * 1e3:.1f} ms" if repaired else ""),
                               stat="p95")
            line.baseline = summarize(times["baseline"])
            line.details = {"generated": info, "plan": plans.get(name)}
            lines.append(line)
            continue
        breakdown = {k: summarize(v).to_dict() for k, v in parts[name].items()}
        slow = max(breakdown, key=lambda k: breakdown[k]["p95"])
        lines.append(Line.measured(
            f"5 {name} page", "s", GOAL, times[name], times["baseline"], stat="p95",
            ours_label=f"history.query_runs + count_runs ({name})",
            baseline_label="SELECT * FROM run ORDER BY id DESC LIMIT 25",
            note=(f"{n_runs} runs; slowest part {slow} p95 "
                  f"{breakdown[slow]['p95'] * 1e3:.1f} ms; {results[name]['total']} match"),
            details={"generated": info, "filter": _describe(filters[name]),
                     "returned": results[name], "parts": breakdown,
                     "plan": plans.get(name), "operations.find_runs": (page_ops or {}).get(name)}))
    return lines


def _describe(flt) -> str:
    """`RunFilter(text='rainy harb')`: only the fields that are set."""
    import dataclasses

    shown = [f"{f.name}={getattr(flt, f.name)!r}" for f in dataclasses.fields(flt)
             if getattr(flt, f.name) != f.default and getattr(flt, f.name) not in ((), "")]
    return f"{type(flt).__name__}({', '.join(shown)})"


def _explain(db, sql: str, params) -> list[str]:
    return [row[-1] for row in db.execute_sql("EXPLAIN QUERY PLAN " + sql, params).fetchall()]


def _repaired(sql: str) -> str:
    """`IN SELECT ...)` -> `IN (SELECT ...))`: the FTS subquery as SQLite needs it."""
    marker = " IN SELECT run_id FROM run_fts WHERE run_fts MATCH ?"
    return sql.replace(marker, " IN (SELECT run_id FROM run_fts WHERE run_fts MATCH ?)")
