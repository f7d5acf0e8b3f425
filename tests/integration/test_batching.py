"""Smart batching on the simulator: compatible runs share one container, each ends as itself."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from backend import store as st
from backend.config import load_config
from backend.models.transfer1.params import GenerationParams
from backend.media import make_test_clip, probe_video
from backend.wiring import start_backend
from tests.helpers import RUN_FINISHES, RUN_STARTS, wait_for, write_config

pytestmark = pytest.mark.integration


def batching_settings(tmp_path, sim_seconds=1.5):
    path = write_config(tmp_path, sim_seconds=sim_seconds)
    text = path.read_text().replace("kill_grace = 3", "kill_grace = 3\nbatching = true\n"
                                    "max_batch = 4")
    path.write_text(text)
    return load_config(path)


def queue(b, clips, prompts, weights, **kw):
    ids = []
    for clip, prompt, w in zip(clips, prompts, weights):
        p = GenerationParams(prompt=prompt, negative_prompt="bad", input_video=str(clip),
                             weights=w, **kw)
        ids.append(b.ops.launch(p).id)
    return ids


@pytest.fixture
def clips(tmp_path):
    return [make_test_clip(tmp_path / f"in{i}.mp4", width=160, height=90, frames=9 + i,
                           pattern=pat) for i, pat in enumerate(["testsrc2", "mandelbrot",
                                                                 "smptebars"])]


def test_three_compatible_runs_share_one_container_and_end_as_three_runs(tmp_path, clips):
    settings = batching_settings(tmp_path)
    b = start_backend(settings, with_scheduler=False)  # queue first, then let one claim
    weights = [{"edge": 0.9, "vis": 0.1}, {"edge": 0.2, "vis": 0.8}, {"edge": 0.5, "vis": 0.5}]
    ids = queue(b, clips, ["a red car", "a blue boat", "a green tree"], weights)
    b.close()
    b = start_backend(settings)
    try:
        runs = wait_for(lambda: all(b.store.get_run(i).is_terminal for i in ids) and
                        [b.store.get_run(i) for i in ids], timeout=RUN_FINISHES, what="the batch")
        assert [r.status for r in runs] == [st.COMPLETED] * 3, [r.failure_cause for r in runs]
        assert len({r.batch_id for r in runs}) == 1 and runs[0].batch_id
        assert [r.batch_index for r in runs] == [0, 1, 2]
        assert len({r.container_id for r in runs}) == 1
        folder = Path(settings.hosts["sim"].remote_root) / "runs" / runs[0].batch_id
        items = [json.loads(line) for line in (folder / "batch.jsonl").read_text().splitlines()]
        assert [i["prompt"] for i in items] == ["a red car", "a blue boat", "a green tree"]
        for item, w in zip(items, weights):  # each run's own weights, every control explicit
            overrides = item["control_overrides"]
            assert set(overrides) == {"vis", "edge"}
            assert {c: o["control_weight"] for c, o in overrides.items()} == \
                {"vis": w.get("vis", 0.0), "edge": w["edge"]}
        for run, clip in zip(runs, clips):  # each run got its own video back
            info = probe_video(run.output_path)
            assert info.frames == probe_video(clip).frames and info.width == 1280
            assert (Path(run.output_path).parent / "output.txt").read_text() == \
                json.loads(b.store.get_run(run.id).params)["prompt"]
            assert b.store.log_text(run.id)  # and the batch log
        spec = json.loads(runs[0].spec)
        assert "prompt" not in spec and spec["negative_prompt"] == "bad"
        assert "--batch_input_path" in runs[0].job_script
    finally:
        b.close()


def test_incompatible_runs_are_not_batched(tmp_path, clips):
    settings = batching_settings(tmp_path)
    b = start_backend(settings, with_scheduler=False)
    ids = queue(b, clips[:1], ["x"], [{"edge": 1.0}])
    ids += queue(b, clips[1:2], ["y"], [{"depth": 1.0}])  # other controls
    ids += queue(b, clips[2:], ["z"], [{"edge": 1.0}], seed=99)  # other seed
    b.close()
    b = start_backend(settings)
    try:
        runs = wait_for(lambda: all(b.store.get_run(i).is_terminal for i in ids) and
                        [b.store.get_run(i) for i in ids], timeout=RUN_FINISHES)
        assert all(r.status == st.COMPLETED for r in runs)
        assert all(r.batch_id is None for r in runs)
    finally:
        b.close()


def test_killing_one_batch_member_requeues_the_others(tmp_path, clips):
    settings = batching_settings(tmp_path, sim_seconds=20)
    b = start_backend(settings, with_scheduler=False)
    ids = queue(b, clips, ["one", "two", "three"], [{"edge": 1.0}] * 3)
    b.close()
    b = start_backend(settings)
    try:
        wait_for(lambda: all(b.store.get_run(i).status == st.RUNNING for i in ids),
                 timeout=RUN_STARTS)
        b.ops.kill(ids[1], force=True)
        killed = wait_for(lambda: (r := b.store.get_run(ids[1])).is_terminal and r,
                          timeout=RUN_FINISHES)
        assert killed.status == st.CANCELLED
        # the other two go back to the queue on their own and run again
        wait_for(lambda: all(b.store.get_run(i).status != st.RUNNING or
                             b.store.get_run(i).batch_id != killed.batch_id
                             for i in (ids[0], ids[2])))
        notes = [t.note for t in b.store.transitions(ids[0])]
        assert any("requeued" in n for n in notes), notes
    finally:
        for i in (ids[0], ids[2]):
            run = b.store.get_run(i)
            if run.status == st.QUEUED:
                try:
                    b.ops.dequeue(i)
                    continue
                except Exception:  # the scheduler started it meanwhile: kill it instead
                    run = b.store.get_run(i)
            if not run.is_terminal:
                try:
                    b.ops.kill(i, force=True)
                except Exception:
                    pass
        b.close()
