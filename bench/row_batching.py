"""Row 7, smart batching: 4 compatible runs in one container vs one by one, on the simulator.

The simulator box's model-load share is set to a realistic 40% of a run
(`COSMOS_SIM_LOAD_SHARE=0.4`: paid once per container, so a batch of N saves N-1 loads). Four
compatible runs (same controls and non-weight settings, each its own prompt and weights) are
queued while no scheduler runs, then a scheduler starts and the clock runs until all four have
ended `completed`. One by one: batching off, one container at a time (`max_concurrent = 1`).
Batched: batching on, same box. Figures are throughput (runs per minute), so the ratio
batched / one-by-one is the speed-up. Goal: >= 1.3x.

Batching is detected at run time: a switch in config.toml that `load_config` accepts and that
shows up on the settings (`[scheduler] batching = true`, `smart_batching`, or the same per
host). Until one exists the row prints "not built".
"""

from __future__ import annotations

import time

from bench.common import (SAMPLE, Context, Line, stop_sim_containers, try_import, wait_until,
                          write_config)
from bench.stats import Goal

NAME = "batching"
TITLE = "7 smart batching"
GOAL = Goal("ratio", ">=", 1.3)
ROW = "7 batching 4 runs (throughput)"
RUNS = 4
LOAD_SHARE = "0.4"
SWITCHES = (("scheduler", "batching"), ("scheduler", "smart_batching"),
            ("host", "batching"), ("host", "smart_batching"))


def _flag(settings, where: str, key: str):
    if where == "host":
        return getattr(settings.hosts["sim"], key, None)
    scheduler = getattr(settings, "scheduler", None)
    return getattr(settings, key, getattr(scheduler, key, None))


def _config(folder, data_dir, switch, value: bool, sim_seconds: float):
    where, key = switch
    text = f"{key} = {'true' if value else 'false'}"
    path = write_config(folder, sim_seconds=sim_seconds, max_concurrent=1,
                        env={"COSMOS_SIM_LOAD_SHARE": LOAD_SHARE},
                        scheduler_extra=text if where == "scheduler" else "",
                        host_extra=text if where == "host" else "", data_dir=data_dir)
    return path


def find_switch(ctx: Context):
    """The config switch that turns batching on, or None while batching has not landed."""
    from backend.config import ConfigError, load_config

    folder = ctx.scratch("batching-probe")
    for switch in SWITCHES:
        try:
            settings = load_config(_config(folder, folder / "data", switch, True, 1.0))
        except ConfigError:
            continue
        if _flag(settings, *switch) is True:
            return switch
    return None


def _measure(ctx: Context, config, label: str, warm: bool) -> tuple[float, list]:
    """Seconds for RUNS compatible runs, queued first, from scheduler start to all ended."""
    from backend import store as st
    from backend.config import load_config
    from backend.wiring import start_backend
    from backend.runs.scheduler import Scheduler

    settings = load_config(config)
    backend = start_backend(settings, with_scheduler=False)
    scheduler = None
    try:
        ops = backend.ops
        count = 1 if warm else RUNS
        ids = []
        for i in range(count):
            params = ops.default_params()
            mood = ("rainy", "foggy", "snowy", "sunny")[i % 4]
            params.prompt = f"batch bench {label} {i}: a {mood} street at night"
            params.input_video = str(SAMPLE)
            params.weights = dict(params.weights, edge=round(0.5 + 0.1 * i, 2))
            ids.append(ops.launch(params, name=f"{label} {i}").id)
        scheduler = Scheduler(settings, backend.store)
        started = time.perf_counter()
        scheduler.start()

        def ended():
            runs = [backend.store.get_run(i) for i in ids]
            return runs if all(r.is_terminal for r in runs) else None

        runs = wait_until(ended, timeout=300, interval=0.05, what=f"{label} runs to end")
        seconds = time.perf_counter() - started
        bad = [r for r in runs if r.status != st.COMPLETED]
        if bad:
            raise RuntimeError(f"{label}: run {bad[0].id} ended {bad[0].status}: "
                               f"{bad[0].failure_cause}")
        return seconds, [r.batch_id for r in runs]
    finally:
        if scheduler is not None:
            scheduler.stop()
        backend.close()
        stop_sim_containers(settings.hosts["sim"])


def run(ctx: Context) -> list[Line]:
    if try_import("backend.wiring") is None or try_import("backend.runs.scheduler") is None:
        return [Line.not_built(ROW, "/min", GOAL, "backend.wiring / scheduler missing")]
    switch = find_switch(ctx)
    if switch is None:
        module = try_import("backend.runs.batching")
        reason = ("no batching switch in config.toml ([scheduler] batching / smart_batching, "
                  "or per host)" + ("" if module is not None else " and no backend/batching.py"))
        return [Line.not_built(ROW, "/min", GOAL, reason)]
    sim_seconds = 2.5 if ctx.quick else 4.0
    pairs = 1 if ctx.quick else 2
    folder = ctx.scratch("batching")
    data_dir = folder / "data"
    single = _config(ctx.scratch("batching-off"), data_dir, switch, False, sim_seconds)
    batched = _config(ctx.scratch("batching-on"), data_dir, switch, True, sim_seconds)
    _measure(ctx, single, "warm-up", warm=True)  # fills the input cache and the checkout
    ours, base, batch_ids = [], [], []
    for i in range(pairs):
        seconds, _ = _measure(ctx, single, f"one-by-one {i}", warm=False)
        base.append(RUNS * 60.0 / seconds)
        seconds_b, ids = _measure(ctx, batched, f"batched {i}", warm=False)
        ours.append(RUNS * 60.0 / seconds_b)
        batch_ids.append(ids)
        ctx.log(f"batching pair {i + 1}: one by one {seconds:.1f} s, batched {seconds_b:.1f} s")
    shared = all(len(set(ids)) == 1 and ids[0] for ids in batch_ids)
    return [Line.measured(
        ROW, "/min", GOAL, ours, base, paired=True,
        ours_label=f"{RUNS} compatible runs, batching on ({switch[0]}.{switch[1]})",
        baseline_label=f"the same {RUNS} runs one by one (max_concurrent 1)",
        note=(f"COSMOS_SIM_LOAD_SHARE={LOAD_SHARE}, {sim_seconds:g} s per run; "
              + ("all 4 shared one batch" if shared else "runs did NOT share one batch_id")),
        details={"switch": list(switch), "batch_ids": batch_ids, "sim_seconds": sim_seconds})]
