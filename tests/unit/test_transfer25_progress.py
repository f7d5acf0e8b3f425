"""Transfer2.5 progress on realistic transcripts: per-step bars, `Generating chunk i/N`,
per-sample lines, batches, and the quiet (non-verbose) console."""

from __future__ import annotations

from backend.models.transfer2_5.progress import ProgressTracker
from tests.unit import transcripts25 as t


def feed(lines, n_items=1):
    tracker = ProgressTracker(n_items=n_items)
    seen = []
    for line in lines:
        got = tracker.feed(line)
        if got is not None:
            seen.append(got)
    return tracker, seen


def test_a_single_run_goes_through_every_phase_to_done():
    tracker, seen = feed(t.single(chunks=2, steps=4))
    phases = [p.phase for p in seen]
    for phase in ("loading", "text_encoding", "preprocessing", "clip_diffuse", "saving",
                  "guardrail", "done"):
        assert phase in phases, phases
    assert phases.index("loading") < phases.index("clip_diffuse") < phases.index("done")
    final = tracker.progress
    assert (final.phase, final.fraction, final.eta_seconds) == ("done", 1.0, 0.0)
    assert (final.clip, final.n_clips, final.step, final.n_steps) == (2, 2, 4, 4)


def test_fraction_never_goes_back_and_steps_move_it():
    _, seen = feed(t.single(chunks=3, steps=5))
    fractions = [p.fraction for p in seen]
    assert fractions == sorted(fractions)
    steps = [p for p in seen if p.phase == "clip_diffuse" and p.n_steps]
    assert len({p.fraction for p in steps}) >= 15  # the bar moves the fraction inside a chunk
    chunk_two = [p for p in steps if p.clip == 2]
    assert chunk_two and all(p.n_clips == 3 for p in chunk_two)
    assert chunk_two[0].fraction > steps[0].fraction


def test_chunks_are_counted_from_the_bar_when_the_console_is_quiet():
    tracker, seen = feed(t.single(chunks=2, steps=4, verbose=False))
    clips = sorted({p.clip for p in seen if p.phase == "clip_diffuse"})
    assert clips == [1, 2]  # no `Generating chunk` lines: a bar restarting is the next chunk
    assert tracker.progress.phase == "done"


def test_eta_from_the_bar_and_the_chunks_still_to_come():
    tracker = ProgressTracker()
    lines = t.single(chunks=3, steps=4)
    cut = next(i for i, line in enumerate(lines) if "Generating chunk 2/3" in line)
    tracker.feed_all(lines[:cut + 2])
    eta = tracker.progress.eta_seconds
    assert eta is not None and eta > 0  # chunk 1 took 10+ s by the log's clock
    assert tracker.progress.clip == 2


def test_a_batch_counts_samples_and_reaches_done_after_the_last():
    lines = t.batch([None, None, None])
    tracker, seen = feed(lines, n_items=3)
    items = [p.item for p in seen]
    assert items == sorted(items) and max(items) == 3
    assert [p.phase for p in seen].count("done") >= 1 and seen[-1].phase == "done"
    mid = next(p for p in seen if p.item == 2)
    assert 0.25 < mid.fraction < 1.0 and mid.phase != "done"


def test_a_blocked_sample_does_not_stop_the_batch_progress():
    tracker, _ = feed(t.batch(["prompt", None]), n_items=2)
    assert tracker.progress.phase == "done" and tracker.progress.item == 2


def test_other_ranks_and_other_bars_are_ignored():
    tracker = ProgressTracker()
    tracker.feed_all(t.preamble(t.Clock(), ["R1"]))
    before = tracker.progress
    tracker.feed("Downloading shards: 50%|#####     | 1/2 [00:01<00:01, 1.0it/s]")
    tracker.feed("[rank1]: [05-02 10:01:00|INFO|cosmos_transfer2/inference.py:1:x] "
                 "Generated video saved to /o/R1.mp4")
    assert tracker.progress.phase == before.phase and tracker.progress.fraction == before.fraction


def test_bar_updates_on_one_physical_line_are_all_read():
    tracker = ProgressTracker()
    tracker.feed_all(t.preamble(t.Clock(), ["R1"]))
    tracker.feed("\r".join(t.bar(n, 35) for n in range(0, 12)))
    assert (tracker.progress.step, tracker.progress.n_steps) == (11, 35)
    assert tracker.progress.phase == "clip_diffuse"
