"""Scheduling across real processes: atomic claims, disjoint GPUs, FIFO, reattach.

Two worker processes share one SQLite database and one simulator box; every assertion is on
what the store recorded, so nothing of ours is mocked.
"""

from __future__ import annotations

from itertools import combinations

import pytest

from backend import store as st
from backend.models.transfer1.params import GenerationParams
from backend.media import make_test_clip
from backend.wiring import start_backend
from tests.helpers import RUN_FINISHES, RUN_STARTS, make_settings, wait_for, write_config
from tests.integration.remote_helpers import start_worker
from tests.integration.remote_helpers import stop_worker as stop

pytestmark = pytest.mark.integration


def run_window(run: st.Run) -> tuple[float, float]:
    times = {t.status: t.at for t in st.RunTransition.select().where(st.RunTransition.run == run.id)}
    return times[st.STAGING], run.finished_at


def assert_no_gpu_overlap(runs: list[st.Run]) -> None:
    for a, b in combinations(runs, 2):
        (a0, a1), (b0, b1) = run_window(a), run_window(b)
        if a0 < b1 and b0 < a1:  # they held GPUs at the same time
            assert not set(a.gpu_list()) & set(b.gpu_list()), (a.id, a.gpus, b.id, b.gpus)
            assert a.master_port != b.master_port


@pytest.fixture
def tiny_clip(tmp_path):
    return make_test_clip(tmp_path / "tiny.mp4", width=160, height=90, frames=9)


def queue_runs(settings, clip, gpu_counts) -> list[str]:
    b = start_backend(settings, with_scheduler=False)
    try:
        ids = []
        for i, n in enumerate(gpu_counts):
            p = GenerationParams(prompt=f"run {i}", negative_prompt="bad", input_video=str(clip),
                                 weights={"edge": 1.0}, num_gpus=n)
            ids.append(b.ops.launch(p).id)
        return ids
    finally:
        b.close()


def test_two_worker_processes_never_start_the_same_run(tmp_path, tiny_clip):
    config = write_config(tmp_path, sim_seconds=0.2)
    settings = make_settings(tmp_path, sim_seconds=0.2)
    # 20 runs: enough for both workers to race for claims many times (each claim is one
    # transaction; a double start would show as two staging transitions); 50 took 45 s idle
    # and 250-313 s at load average 23 on 2 cores, for the same assertions
    ids = queue_runs(settings, tiny_clip, [1] * 20)
    workers = [start_worker(config), start_worker(config)]
    try:
        store = st.Store(settings.db_path)
        wait_for(lambda: all(r.is_terminal for r in st.Run.select()), timeout=900, interval=0.5,
                 what="20 runs to finish")
        runs = list(st.Run.select())
        assert sorted(r.id for r in runs) == sorted(ids)
        assert all(r.status == st.COMPLETED for r in runs), \
            [(r.id, r.status, r.failure_cause) for r in runs if r.status != st.COMPLETED]
        for run in runs:  # claimed exactly once, by one worker
            staged = [t for t in store.transitions(run.id) if t.status == st.STAGING]
            assert len(staged) == 1
        assert len({r.worker_id for r in runs}) == 2  # both workers did work
        assert_no_gpu_overlap(runs)
    finally:
        for w in workers:
            stop(w)


def test_placement_gives_disjoint_gpus_and_the_queue_drains(tmp_path, tiny_clip):
    settings = make_settings(tmp_path, sim_seconds=1.0)
    ids = queue_runs(settings, tiny_clip, [1, 2, 4, 1, 2, 1, 4])
    b = start_backend(settings)
    try:
        wait_for(lambda: all(b.ops.get_run(i).is_terminal for i in ids), timeout=240,
                 what="the queue to drain")
        runs = [b.store.get_run(i) for i in ids]
        assert all(r.status == st.COMPLETED for r in runs), [r.failure_cause for r in runs]
        assert [len(r.gpu_list()) for r in runs] == [1, 2, 4, 1, 2, 1, 4]
        assert all(set(r.gpu_list()) <= {0, 1, 2, 3} for r in runs)
        assert_no_gpu_overlap(runs)
        # what reached the GPU box: the --gpus devices and torchrun's process count
        for r in runs:
            assert f'"device={",".join(map(str, r.gpu_list()))}"' in r.command
            assert f"--nproc_per_node={len(r.gpu_list())}" in r.job_script
        # FIFO: a run never started before an earlier-queued one
        starts = [run_window(r)[0] for r in runs]
        assert starts == sorted(starts)
    finally:
        b.close()


def test_a_killed_worker_s_run_is_adopted_and_completes(tmp_path, tiny_clip):
    config = write_config(tmp_path, sim_seconds=6)
    settings = make_settings(tmp_path, sim_seconds=6)
    [run_id] = queue_runs(settings, tiny_clip, [1])
    first = start_worker(config)
    store = st.Store(settings.db_path)
    try:
        wait_for(lambda: (r := store.get_run(run_id)).status == st.RUNNING and r.log_lines > 3,
                 timeout=RUN_STARTS, what="the run to be running")
        first.kill()  # SIGKILL: no goodbye, the container keeps running on the box
        first.wait()
        lines_before = store.get_run(run_id).log_lines
        b = start_backend(settings)
        try:
            # the dead worker's heartbeat goes stale, then the new worker adopts the run
            run = wait_for(lambda: (r := b.store.get_run(run_id)).is_terminal and r,
                           timeout=RUN_FINISHES, what="the adopted run to finish")
            assert run.status == st.COMPLETED and run.output_path
            log = b.store.log_text(run_id)
            assert len(log) == len(set((r.seq for r in b.store.log_since(run_id))))
            local = (settings.runs_dir / run_id / "run.log").read_text().splitlines()
            stored = [line for line in log]
            assert len(stored) >= lines_before
            # every line of the remote log is stored exactly once, in order
            expected = [x for seg in local for x in seg.split("\r") if x.strip()]
            assert stored == expected
        finally:
            b.close()
    finally:
        stop(first)


def test_priority_goes_first_then_fifo(tmp_path, tiny_clip):
    settings = make_settings(tmp_path, sim_seconds=0.2)
    b = start_backend(settings, with_scheduler=False)
    try:
        def launch(prompt, priority=0):
            p = GenerationParams(prompt=prompt, negative_prompt="bad", input_video=str(tiny_clip),
                                 weights={"edge": 1.0}, num_gpus=4)  # one at a time on 4 GPUs
            return b.ops.launch(p, priority=priority).id
        first, second, urgent = launch("first"), launch("second"), launch("urgent", 10)
        with pytest.raises(Exception, match="priority"):
            launch("too urgent", 1000)
    finally:
        b.close()
    b = start_backend(settings)
    try:
        runs = wait_for(lambda: all(b.store.get_run(i).is_terminal for i in (first, second, urgent))
                        and [b.store.get_run(i) for i in (urgent, first, second)],
                        timeout=RUN_FINISHES)
        starts = [run_window(r)[0] for r in runs]
        assert starts == sorted(starts)  # urgent, then first, then second
    finally:
        b.close()
