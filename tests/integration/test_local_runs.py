"""A run's whole life on the built-in simulator box: real processes, real ffmpeg, real SQLite.

Nothing of ours is mocked: the scheduler claims the run, the executor stages it through the
local shell, cosmos-sim starts a detached "container", the fake Cosmos renders the video.
"""

from __future__ import annotations

import json
from dataclasses import replace
import threading
from pathlib import Path

import pytest

from backend import store as st
from backend.models.transfer1.params import GenerationParams
from backend.media import probe_video
from backend.operations import ValidationFailed
from backend.wiring import start_backend
from tests.helpers import RUN_FINISHES, RUN_STARTS, SAMPLE, make_settings, wait_for

pytestmark = pytest.mark.integration


@pytest.fixture
def backend(tmp_path):
    b = start_backend(make_settings(tmp_path, sim_seconds=1.5))
    yield b
    b.close()


def params(prompt: str = "a sunlit street, photorealistic", **kw) -> GenerationParams:
    base = dict(prompt=prompt, negative_prompt="blurry", input_video=str(SAMPLE),
                weights={"edge": 0.7, "vis": 0.3})
    base.update(kw)
    return GenerationParams(**base)


def wait_terminal(backend, run_id: str, timeout: float = RUN_FINISHES):
    return wait_for(lambda: (r := backend.ops.get_run(run_id)).is_terminal and r,
                    timeout=timeout, what=f"run {run_id} to end")


def test_run_completes_with_a_playable_bucket_sized_video_and_full_log(backend):
    queued = backend.ops.launch(params(), name="street")
    assert queued.status == st.QUEUED and queued.simulated
    run = wait_terminal(backend, queued.id)
    assert run.status == st.COMPLETED, (run.failure_cause, backend.store.log_text(run.id)[-20:])
    info = probe_video(run.output_path)
    assert (info.width, info.height, info.codec) == (1280, 704, "h264")
    assert info.frames == probe_video(SAMPLE).frames
    assert round(info.fps) == round(probe_video(SAMPLE).fps)  # fps follows the input
    assert Path(run.thumbnail_path).stat().st_size > 0
    log = backend.store.log_text(run.id)
    assert any("Saved video to" in line for line in log)
    assert any("Making all control and input videos to be length of" in line for line in log)
    # the stored log is the complete remote log file, line for line
    local_log = (Path(run.output_path).parent / "run.log").read_text().splitlines()
    assert [x for x in local_log if x.strip()][-1].endswith(log[-1].split("\r")[-1]) or \
        log[-1] in local_log[-1]
    assert run.progress["fraction"] == pytest.approx(1.0, abs=0.01)
    # what reached the GPU: the spec holds the prompt and every parameter, the command no prompt
    spec = json.loads(run.spec)
    assert spec["prompt"] == "a sunlit street, photorealistic"
    assert spec["negative_prompt"] == "blurry"
    assert spec["edge"]["control_weight"] == 0.7 and "depth" not in spec
    assert "sunlit" not in run.command and f"cosmos.run={run.id}" in run.command
    statuses = [t.status for t in backend.store.transitions(run.id)]
    assert statuses == ["queued", "staging", "running", "collecting", "completed"]


def test_second_run_reuses_the_cached_input(backend):
    first = wait_terminal(backend, backend.ops.launch(params()).id)
    second = wait_terminal(backend, backend.ops.launch(params(seed=7)).id)
    assert first.status == second.status == st.COMPLETED
    cache = Path(backend.settings.hosts["sim"].remote_root) / "cache"
    assert len(list(cache.iterdir())) == 1


def test_kill_cancels_and_keeps_the_partial_log(tmp_path):
    b = start_backend(make_settings(tmp_path, sim_seconds=60))
    try:
        run_id = b.ops.launch(params()).id
        wait_for(lambda: b.ops.get_run(run_id).status == st.RUNNING and
                 b.ops.get_run(run_id).log_lines > 3, timeout=RUN_STARTS, what="log lines")
        b.ops.kill(run_id)
        run = wait_terminal(b, run_id)
        assert run.status == st.CANCELLED
        assert run.log_lines > 3 and run.output_path is None
        assert run.exit_code in (143, 137)
        assert "cancel" in run.failure_cause.lower() or "kill" in run.failure_cause.lower() \
            or "stop" in run.failure_cause.lower()
        # the container is gone and nothing of ours is still running
        engine = Path(b.settings.hosts["sim"].remote_root) / "engine"
        result = b.scheduler.runtime("sim").engine.list_ours(f"cosmos.run={run_id}")
        assert result == [] and engine.exists()
    finally:
        b.close()


def test_force_kill_is_sigkill(tmp_path):
    b = start_backend(make_settings(tmp_path, sim_seconds=60))
    try:
        run_id = b.ops.launch(params()).id
        wait_for(lambda: b.ops.get_run(run_id).status == st.RUNNING, timeout=RUN_STARTS)
        b.ops.kill(run_id, force=True)
        run = wait_terminal(b, run_id)
        assert run.status == st.CANCELLED and run.exit_code == 137
    finally:
        b.close()


@pytest.mark.parametrize("directive, status, words", [
    ("[sim:oom]", st.FAILED, "out of memory"),
    ("[sim:guardrail]", st.BLOCKED, "guardrail"),
    ("[sim:crash]", st.FAILED, "crash"),
    ("[sim:nccl]", st.FAILED, "nccl"),
])
def test_injected_failures_end_with_a_cause_and_the_log(backend, directive, status, words):
    run = wait_terminal(backend, backend.ops.launch(params(f"a street {directive}")).id)
    assert run.status == status
    assert words in run.failure_cause.lower(), run.failure_cause
    assert run.failure_evidence
    assert run.log_lines > 5 and run.output_path is None
    assert (Path(backend.settings.runs_dir) / run.id / "run.log").stat().st_size > 0


def test_hung_run_can_be_killed(tmp_path):
    b = start_backend(make_settings(tmp_path, sim_seconds=1))
    try:
        run_id = b.ops.launch(params("stuck [sim:hang]")).id
        wait_for(lambda: b.ops.get_run(run_id).log_lines > 3, timeout=RUN_STARTS)
        b.ops.kill(run_id)
        assert wait_terminal(b, run_id).status == st.CANCELLED
    finally:
        b.close()


@pytest.mark.parametrize("change, field", [
    (dict(prompt="   "), "prompt"),
    (dict(input_video=None), "input_video"),
    (dict(weights={"edge": 0, "vis": 0}), "weights"),
    (dict(weights={"edge": 1.5}), "weights.edge"),
])
def test_bad_input_is_refused_and_nothing_is_stored(backend, change, field):
    with pytest.raises(ValidationFailed) as info:
        backend.ops.launch(params(**change))
    assert any(e.field.startswith(field) for e in info.value.errors), info.value.errors
    assert backend.store.count_runs() == 0


def test_a_text_file_named_mp4_is_refused(backend, tmp_path):
    fake = tmp_path / "clip.mp4"
    fake.write_text("not a video at all")
    with pytest.raises(ValidationFailed, match="not a video"):
        backend.ops.launch(params(input_video=str(fake)))
    assert backend.store.count_runs() == 0


def test_an_idle_unwatched_box_is_looked_at_less_often_until_a_page_watches(tmp_path):
    """Issue 12: every app and worker asked every box four commands every telemetry interval,
    busy or not. Idle and unwatched, the monitor looks IDLE_FACTOR times less often; a page
    on the Hosts view (`watch_hosts`) brings it back to full rate at once, as does a run."""
    from backend.hosts.telemetry import IDLE_FACTOR

    interval = 0.5
    b = start_backend(make_settings(tmp_path, extra_scheduler=f"telemetry_interval = {interval}"))
    monitor = b.scheduler.monitors["sim"]
    seen: list[float] = []  # the start of each of this monitor's looks, by its own clock
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.05):
            at = monitor.snapshot.checked_at
            if at and (not seen or at != seen[-1]):
                seen.append(at)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        wait_for(lambda: len(seen) >= 3, timeout=90, what="three looks at the idle box")
        idle = IDLE_FACTOR * interval
        assert not monitor.wanted() and monitor.period == idle
        gaps = [later - earlier for earlier, later in zip(seen, seen[1:])]
        assert all(gap >= idle * 0.8 for gap in gaps[1:]), gaps  # the first may be the start
        assert b.ops.watch_hosts() and not b.ops.watch_hosts()  # said once per process
        wait_for(monitor.wanted, timeout=30, what="the monitor to hear the page")
        start = len(seen)
        wait_for(lambda: len(seen) >= start + 2, timeout=90, what="two more looks")
        assert monitor.period == interval  # full rate while a page watches
        # a queued run keeps it at full rate too, watched or not
        monitor._watched_until = 0.0
        b.ops.launch(replace(b.ops.default_params(), prompt="keeps the box wanted",
                             input_video=str(SAMPLE)), host="sim")
        assert monitor.wanted()
    finally:
        done.set()
        b.close()
