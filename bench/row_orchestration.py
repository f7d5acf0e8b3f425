"""Row 4, orchestration overhead: what the app adds around a container, on the simulator box.

Ours, with the backend as the app starts it (`runtime.start_backend`: store, scheduler thread,
host monitor) on the simulator box, inputs already in the box's cache (one warm-up run first):
  * start: `operations.launch` -> container started, i.e. the run's `running` transition time
    minus its `queued` transition time (validation, claim, staging, spec, `docker run -d`);
  * exit: the container's exit (the engine's FinishedAt, kept in its tombstone after removal)
    -> the run marked completed, log and video downloaded, thumbnail made.
Baseline, the engine alone on the same machine: `cosmos-sim run -d` of a trivial container
(its wall time), and its exit -> the first `cosmos-sim inspect` that reports it exited, with
inspect called back to back. Goals: start <= 1 s; exit -> completed <= 0.3 s (the exit is
noticed from `docker wait`, collection runs its media steps side by side).
"""

from __future__ import annotations

import time
from pathlib import Path

from bench.common import (SAMPLE, Context, Line, missing, stop_sim_containers, try_import,
                          wait_until, write_config)
from bench.stats import Goal

NAME = "orchestration"
TITLE = "4 orchestration"
GOAL = Goal("ours", "<=", 1.0, "s")
GOAL_EXIT = Goal("ours", "<=", 0.3, "s")
ROW_START, ROW_EXIT = "4 launch -> container started", "4 container exit -> completed"
SIM_SECONDS = 1.0


def _parse_time(text: str | None) -> float | None:
    from backend.simulator.state import parse_rfc3339

    return parse_rfc3339(text) if text else None


def _transition_at(store, run_id: str, status: str) -> float | None:
    for row in store.transitions(run_id):
        if row.status == status:
            return row.at
    return None


def _baseline(host, name: str) -> tuple[float, float]:
    """(run -d seconds, exit -> inspect-says-exited seconds) of a trivial container."""
    import json

    from backend.remote.shell import LocalShell

    shell = LocalShell("bench")
    docker = list(host.docker)
    started = time.perf_counter()
    result = shell.run(docker + ["run", "-d", "--name", name, host.image, "sh", "-c",
                                 "sleep 0.5"])
    run_seconds = time.perf_counter() - started
    if not result.ok:
        raise RuntimeError(f"cosmos-sim run -d failed: {result.err.strip()}")
    deadline = time.monotonic() + 60
    while True:
        inspected = shell.run(docker + ["inspect", name])
        seen = time.time()
        if not inspected.ok:
            raise RuntimeError(f"cosmos-sim inspect failed: {inspected.err.strip()}")
        state = json.loads(inspected.out)[0]["State"]
        if state["Status"] not in ("created", "running"):
            break
        if time.monotonic() > deadline:
            raise RuntimeError("the trivial container did not exit within 60 s")
    finished = _parse_time(state.get("FinishedAt"))
    shell.run(docker + ["rm", "-f", name])
    return run_seconds, seen - finished


def run(ctx: Context) -> list[Line]:
    runtime = try_import("backend.wiring")
    ops_mod = try_import("backend.operations")
    state_mod = try_import("backend.simulator.state")
    if runtime is None or ops_mod is None or state_mod is None or \
            missing(runtime, "start_backend") or missing(ops_mod.Operations, "launch"):
        reason = "backend.wiring.start_backend / Operations.launch missing"
        return [Line.not_built(ROW_START, "s", GOAL, reason),
                Line.not_built(ROW_EXIT, "s", GOAL_EXIT, reason)]
    from backend import store as st
    from backend.config import load_config

    reps = 3 if ctx.quick else 6
    folder = ctx.scratch("orchestration")
    settings = load_config(write_config(folder, sim_seconds=SIM_SECONDS))
    host = settings.hosts["sim"]
    engine = state_mod.Store(Path(host.remote_root) / "engine")
    backend = runtime.start_backend(settings)
    ops = backend.ops
    starts, exits, launch_calls, base_starts, base_exits = [], [], [], [], []
    detect, collect = [], []  # exit -> collecting (noticing the exit), collecting -> completed
    statuses = []

    def one_run(index: int) -> tuple[float, float, float]:
        params = ops.default_params()
        params.prompt = f"benchmark run {index}: a rainy street at night, reflections"
        params.input_video = str(SAMPLE)
        called = time.perf_counter()
        summary = ops.launch(params, name=f"bench {index}")
        launch_call = time.perf_counter() - called
        run = wait_until(lambda: (lambda r: r if r and r.is_terminal else None)(
            backend.store.get_run(summary.id)), timeout=120, interval=0.05,
            what=f"run {summary.id} to end")
        statuses.append(run.status)
        if run.status != st.COMPLETED:
            raise RuntimeError(f"run {run.id} ended {run.status}: {run.failure_cause}")
        queued = _transition_at(backend.store, run.id, st.QUEUED)
        running = _transition_at(backend.store, run.id, st.RUNNING)
        done = _transition_at(backend.store, run.id, st.COMPLETED)
        collecting = _transition_at(backend.store, run.id, st.COLLECTING)
        tomb = engine.tombstone(run.container_id) or engine.raw_state(run.container_id) or {}
        finished = _parse_time(tomb.get("FinishedAt"))
        if None in (queued, running, done, finished):
            raise RuntimeError(f"run {run.id}: missing a transition or the container's "
                               f"FinishedAt ({queued}, {running}, {done}, {finished})")
        if collecting is not None:
            detect.append(collecting - finished)
            collect.append(done - collecting)
        return running - queued, done - finished, launch_call

    try:
        ctx.log("orchestration: warm-up run (fills the input cache and the checkout)")
        one_run(0)
        detect.clear()
        collect.clear()
        for i in range(reps):
            bs, be = _baseline(host, f"bench-trivial-{i}")
            base_starts.append(bs)
            base_exits.append(be)
            start, exit_, call = one_run(i + 1)
            starts.append(start)
            exits.append(exit_)
            launch_calls.append(call)
    finally:
        backend.close()
        stop_sim_containers(host)
    details = {"sim_seconds": SIM_SECONDS, "operations.launch call seconds": launch_calls,
               "exit noticed by": "docker wait"}
    from bench.stats import median

    exit_note = ""
    if detect and collect:
        details["exit -> collecting (noticing the exit) seconds"] = detect
        details["collecting -> completed (downloads, thumbnail) seconds"] = collect
        exit_note = (f"median {median(detect) * 1e3:.0f} ms to notice the exit + "
                     f"{median(collect) * 1e3:.0f} ms to collect")
    return [
        Line.measured(ROW_START, "s", GOAL, starts, base_starts, paired=True,
                      ours_label="running.at - queued.at (operations.launch, inputs cached)",
                      baseline_label="cosmos-sim run -d (trivial container), wall time",
                      details=details),
        Line.measured(ROW_EXIT, "s", GOAL_EXIT, exits, base_exits, paired=True,
                      ours_label="completed.at - container FinishedAt (outputs downloaded)",
                      baseline_label="FinishedAt -> cosmos-sim inspect says exited",
                      details=details, note=exit_note),
    ]
