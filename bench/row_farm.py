"""Row 8, farm: 50 hosts x 8 GPUs, 2,000 queued runs of 1/2/4/8 GPUs from 10 artists with
configured shares, placed through the real scheduler claim path and store.

The claim is the real one: `Scheduler.claim` (the host kind's placement, each owner's
`[fair_share]` terms, backfill) over `Store.claim` (one IMMEDIATE transaction on a real
SQLite file) and every status change is a real `Store.transition`. Only the container's life
is a stand-in: a claimed run is `running` at once and ends after its own duration on a
simulated clock (the clock the claim's backfill bound is read on too), so 2,000 runs of
minutes each take seconds. Each artist queues runs in proportion to their share (so with fair
sharing everyone stays busy), in bursts, smallest shares first (first come, first served
would hand them the farm first); each run goes to a host picked at random (an artist picks a
host); durations are random, 2-12 simulated minutes, longer for more GPUs. Backfill is on,
bounded by fair share only (`[scheduler] backfill = true`, `backfill_seconds = 0`); the note
gives the strict order's packing on a quarter of the farm for comparison.

Three figures:
  * GPU busy vs ideal packing (the ratio): our GPU-seconds / (GPUs x our makespan), against
    the same work packed ideally: no GPU ever idle before the busiest host's lower bound
    (its GPU-seconds / 8, or its longest run). Goal >= 0.95;
  * claim latency: wall time of each `Scheduler.claim` that started a run; p95 <= 20 ms
    (baseline: a bare IMMEDIATE SELECT + UPDATE of one row on the same database);
  * fair share: over the contended window (until the first artist has nothing left
    waiting), each artist's GPU-time share against their configured share; the worst
    relative deviation, goal <= 10%.
"""

from __future__ import annotations

import heapq
import random
import time

from bench.common import Context, Line
from bench.stats import Goal

NAME = "farm"
TITLE = "8 farm"
HOSTS, GPUS = 50, 8
SHARES = {"ann": 1, "bob": 1, "cat": 1, "dan": 1, "eve": 2, "fay": 2, "gus": 2, "hal": 3,
          "ivy": 3, "jo": 4}
GPU_MIX = (1, 2, 4, 8)
BUSY_GOAL = Goal("ratio", ">=", 0.95)
LATENCY_GOAL = Goal("ours", "<=", 0.020, "s")
SHARE_GOAL = Goal("ours", "<=", 0.10)


def _config(folder, hosts: int, backfill: bool) -> str:
    lines = [f'data_dir = "{folder / "data"}"', "[scheduler]", "poll_interval = 1",
             f"backfill = {'true' if backfill else 'false'}", "backfill_seconds = 0",
             "[fair_share]", "share = 1"]
    for user, share in SHARES.items():
        lines += [f"[fair_share.users.{user}]", f"share = {share}"]
    for i in range(hosts):
        lines += [f"[hosts.f{i:02d}]", 'kind = "local"', 'docker = "true"',
                  f'remote_root = "{folder}/box{i:02d}"', f"gpus = {list(range(GPUS))}",
                  f"max_concurrent = {GPUS}", "check_box = false", "simulated = true"]
    path = folder / "config.toml"
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def runs_of(runs: int) -> dict[str, int]:
    """Each artist's number of runs: in proportion to their share, so that with fair sharing
    all of them are busy until near the end (the whole run is contended)."""
    total = sum(SHARES.values())
    return {u: runs * s // total for u, s in SHARES.items()}


def _workload(runs: int, hosts: int, seed: int) -> list[tuple[str, str, int, float]]:
    """(owner, host, GPUs, simulated seconds) per run. The artists queue in bursts, the
    smallest shares first (first come, first served would give them the farm first)."""
    rng = random.Random(seed)
    work = []
    for user, count in sorted(runs_of(runs).items(), key=lambda kv: SHARES[kv[0]]):
        for i in range(count):
            gpus = GPU_MIX[i % len(GPU_MIX)]
            seconds = rng.uniform(120, 720) * (1 + 0.1 * gpus.bit_length())
            work.append((user, f"f{rng.randrange(hosts):02d}", gpus, seconds))
    return work


def _ideal_makespan(work) -> float:
    per_host: dict[str, list[float]] = {}
    for _, host, gpus, seconds in work:
        per_host.setdefault(host, []).append(gpus * seconds)
    longest: dict[str, float] = {}
    for _, host, _, seconds in work:
        longest[host] = max(longest.get(host, 0.0), seconds)
    return max(max(sum(v) / GPUS, longest[h]) for h, v in per_host.items())


def _simulate(ctx: Context, runs: int, hosts: int, backfill: bool, seed: int = 16):
    from backend import store as st
    from backend.config import load_config
    from backend.runs.scheduler import Scheduler

    folder = ctx.scratch("farm")
    settings = load_config(_config(folder, hosts, backfill))
    store = st.Store(settings.db_path)
    try:
        work = _workload(runs, hosts, seed)
        duration = {}
        for owner, host, gpus, seconds in work:
            run = store.create_run(params={"prompt": "farm", "num_gpus": gpus}, host=host,
                                   prompt_id=None, owner=owner)
            duration[run.id] = seconds
        scheduler = Scheduler(settings, store)
        epoch = time.time()  # simulated time t is the wall clock's epoch + t for the claim
        ends: list[tuple[float, str, str]] = []
        latencies, cpu_times = [], []
        left = runs_of(runs)
        held = {u: 0 for u in SHARES}
        gpu_time = {u: 0.0 for u in SHARES}
        contended_until = None
        t, dirty = 0.0, set(settings.hosts)
        while True:
            for name in sorted(dirty):
                while True:
                    started, cpu = time.perf_counter(), time.thread_time()
                    claimed = scheduler.claim(settings.hosts[name], now=epoch + t)
                    if not claimed:
                        break
                    latencies.append(time.perf_counter() - started)
                    cpu_times.append(time.thread_time() - cpu)
                    for run in claimed:
                        store.transition(run.id, st.RUNNING, expect=(st.STAGING,))
                        heapq.heappush(ends, (t + duration[run.id], run.id, name))
                        held[run.owner] += run.gpu_count
                        left[run.owner] -= 1
            dirty = set()
            if contended_until is None and min(left.values()) == 0:
                contended_until = t  # the first artist has nothing left waiting
            if not ends:
                break
            t_next = ends[0][0]
            span = t_next - t
            for user in SHARES:  # GPU-time of the contended window, integrated per step
                if contended_until is None:
                    gpu_time[user] += held[user] * span
            t = t_next
            while ends and ends[0][0] <= t:
                _, run_id, name = heapq.heappop(ends)
                run = store.transition(run_id, st.COLLECTING, expect=(st.RUNNING,))
                store.transition(run_id, st.COMPLETED, expect=(st.COLLECTING,))
                held[run.owner] -= run.gpu_count
                dirty.add(name)
        makespan = t
        total_gpu_seconds = sum(g * s for _, _, g, s in work)
        busy = total_gpu_seconds / (hosts * GPUS * makespan)
        ideal = total_gpu_seconds / (hosts * GPUS * _ideal_makespan(work))
        shares_total = sum(SHARES.values())
        window = sum(gpu_time.values())
        deviation = {u: (gpu_time[u] / window) / (SHARES[u] / shares_total) - 1
                     for u in SHARES} if window else {}
        baseline = _bare_claims(store, 200)
        done = store.status_counts()[st.COMPLETED]
        cpu_times.sort()
        return {"busy": busy, "ideal": ideal, "latencies": latencies, "baseline": baseline,
                "claim_cpu_p95": cpu_times[int(0.95 * (len(cpu_times) - 1))] if cpu_times
                else None,
                "deviation": deviation, "makespan": makespan, "completed": done,
                "contended_until": contended_until, "claims": len(latencies),
                "loadavg": __import__("os").getloadavg()}
    finally:
        store.close()


def _bare_claims(store, n: int) -> list[float]:
    """The least a claim can cost here: one IMMEDIATE transaction that reads a queued row by
    index and updates it (no ordering rules, no placement)."""
    from backend.store.models import Run, db

    ids = [r.id for r in Run.select(Run.id).limit(n)]
    times = []
    for run_id in ids:
        started = time.perf_counter()
        with db.atomic("IMMEDIATE"):
            row = Run.select().where(Run.id == run_id).first()
            Run.update(worker_id="bench").where(Run.id == row.id).execute()
        times.append(time.perf_counter() - started)
    return times


def run(ctx: Context) -> list[Line]:
    runs, hosts = (400, 10) if ctx.quick else (2000, HOSTS)
    ctx.log(f"farm: {hosts} hosts x {GPUS} GPUs, {runs} runs from {len(SHARES)} artists")
    started = time.perf_counter()
    result = _simulate(ctx, runs, hosts, backfill=True)
    strict = _simulate(ctx, runs // 4, max(2, hosts // 4), backfill=False)
    ctx.log(f"farm: {result['claims']} claims in {time.perf_counter() - started:.1f} s")
    worst = max(result["deviation"].items(), key=lambda kv: abs(kv[1]))
    note = (f"{runs} runs on {hosts}x{GPUS} GPUs, {result['completed']} completed; makespan "
            f"{result['makespan'] / 3600:.1f} simulated h; backfill on (strict order, "
            f"1/4 size: busy {strict['busy']:.0%} of ideal {strict['ideal']:.0%})")
    return [
        Line.measured("8 farm GPU busy / ideal packing", "", BUSY_GOAL, [result["busy"]],
                      [result["ideal"]], ours_label="GPU-seconds / (GPUs x makespan)",
                      baseline_label="same work, ideal packing (busiest host's lower bound)",
                      note=note, details={k: v for k, v in result.items()
                                          if k not in ("latencies", "baseline")}
                      | {"strict_order": {k: strict[k] for k in ("busy", "ideal")}}),
        Line.measured("8 farm claim latency", "s", LATENCY_GOAL, result["latencies"],
                      result["baseline"], stat="p95",
                      ours_label="Scheduler.claim that started a run (real store)",
                      baseline_label="bare IMMEDIATE SELECT + UPDATE of one row",
                      note=(f"{len(result['latencies'])} claims; CPU time per claim p95 "
                            f"{(result['claim_cpu_p95'] or 0) * 1e3:.1f} ms; load average "
                            f"{result['loadavg'][0]:.1f} on {__import__('os').cpu_count()} "
                            "cores")),
        Line.measured("8 farm fair share (worst deviation)", "", SHARE_GOAL,
                      [abs(worst[1])], [0.0], ours_label="|GPU-time share / configured - 1|",
                      baseline_label="exact shares",
                      note=(f"worst {worst[0]} {worst[1]:+.1%}; window until the first artist "
                            f"ran out of work ({(result['contended_until'] or 0) / 3600:.1f} "
                            f"simulated h); " + ", ".join(
                                f"{u} {d:+.0%}" for u, d in result["deviation"].items()))),
    ]
