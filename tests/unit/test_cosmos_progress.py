"""Progress from realistic Cosmos transcripts (written from the contract's §5.3 markers)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from backend.models.transfer1.progress import (
    CLIP_DIFFUSE,
    DONE,
    LOADING,
    PHASES,
    TEXT_ENCODING,
    Progress,
    ProgressTracker,
    clean_line,
    clips_for_frames,
    parse_bar,
    parse_loguru,
    strip_ansi,
)

T0 = datetime(2026, 6, 7, 10, 0, 0)
SRC = {
    "transfer": "cosmos_transfer1/diffusion/inference/transfer.py",
    "utils": "cosmos_transfer1/diffusion/inference/inference_utils.py",
    "pipe": "cosmos_transfer1/diffusion/inference/world_generation_pipeline.py",
    "dist": "cosmos_transfer1/utils/distributed.py",
}


class Log:
    """Builds a transcript with a clock, the way Cosmos prints it."""

    def __init__(self) -> None:
        self.t = T0
        self.lines: list[str] = []

    def at(self, seconds: float) -> Log:
        self.t += timedelta(seconds=seconds)
        return self

    def rec(self, msg: str, level: str = "INFO", src: str = "pipe", rank: int | None = None,
            func: str = "generate") -> Log:
        stamp = self.t.strftime("%m-%d %H:%M:%S")
        prefix = f"[rank{rank}]:" if rank is not None else ""
        self.lines.append(f"{prefix}[{stamp}|{level}|{SRC[src]}:123:{func}] {msg}")
        return self

    def raw(self, *lines: str) -> Log:
        self.lines.extend(lines)
        return self


def bar(n: int, total: int, rate: float = 70.0) -> str:
    pct = int(100 * n / total)
    filled = "█" * (pct // 10)
    return f"{pct:3d}%|{filled:<10}| {n}/{total} [00:{n * 5:02d}<00:10, {rate:.2f}s/it]"


def startup(log: Log, ranks: int = 1) -> None:
    log.raw("[cosmos-orchestrator] run r1 started 2026-06-07T10:00:00+0000 on gpu-box")
    log.rec('control_inputs: {', src="transfer", func="parse_arguments").raw(
        '    "edge": {', '        "control_weight": 1.0', "    }", "}")
    # A JSON dump whose continuation lines mention markers: they are not records.
    log.rec("args in json: {", src="transfer", func="parse_arguments").raw(
        '    "prompt": "Saved video to nowhere. Finish generation. Starting latent encoding",',
        '    "num_steps": 35', "}")
    log.rec("final args: {", src="transfer", func="parse_arguments").raw('    "seed": 1', "}")
    log.rec("No checkpoint path specified for edge. Using default.", src="utils")
    log.rec("Using random seed 1.", src="transfer")
    if ranks > 1:
        for r in range(ranks):
            log.rec(f"Initialized distributed training with local rank {r} with timeout 1800",
                    level="CRITICAL", src="dist", rank=r, func="init")
        log.rec(f"Training with {ranks} GPUs.", level="CRITICAL", src="dist", rank=0)
    log.raw("INFO 06-07 10:00:03 [__init__.py:256] Automatically detected platform cuda.")
    log.at(2).rec("Start creating base model").at(20).rec("Done creating base model")
    log.rec("Start creating ctrlnet model").at(5).rec("Done creating ctrlnet model")
    log.rec("Loading base model checkpoint (local): checkpoints/nvidia/Cosmos-Transfer1-7B/"
            "base_model.pt")
    log.raw("Loading checkpoint shards: 100%|██████████| 4/4 [00:03<00:00,  1.20it/s]")
    log.at(60).rec("Complete loading base model checkpoint (local): checkpoints/nvidia/"
                   "Cosmos-Transfer1-7B/base_model.pt", level="SUCCESS")
    log.rec("Done loading the base model checkpoint.")
    log.rec("Loading ctrl model from ckpt_path: checkpoints/nvidia/Cosmos-Transfer1-7B/"
            "edge_control.pt")
    log.at(5).rec("running preprocessor", src="transfer", func="demo")
    log.rec("Running batch generation with batch_size=1")
    log.rec("Running guardrail checks on all prompts")
    log.at(10).rec("Running text embedding on all prompts").rec("Starting T5 compute")
    log.at(8).rec("Completed T5 compute").rec("Finish text embedding on prompt")
    log.rec("Run generation").rec("Starting data augmentation")


def clips(log: Log, n: int, seconds: float = 70.0, rank: int | None = None,
          bar_ranks: int = 1) -> None:
    log.rec(f"Making all control and input videos to be length of {120 * n + 1} frames.",
            rank=rank)
    log.rec("Completed data augmentation", rank=rank)
    log.raw("\r".join(bar(0, n) for _ in range(bar_ranks)))
    for i in range(n):
        log.rec("Starting latent encoding", rank=rank).at(2)
        log.rec("Completed latent encoding", rank=rank)
        log.rec("Starting diffusion sampling", rank=rank)
        log.raw("/usr/local/lib/python3.12/dist-packages/torch/functional.py:539: UserWarning: "
                "torch.meshgrid: in an upcoming release, it will be required to pass the "
                "indexing argument.", "  return _VF.meshgrid(tensors, **kwargs)")
        log.at(seconds - 7).rec("Completed diffusion sampling", rank=rank)
        log.rec("Starting VAE decode", rank=rank).at(5).rec("Completed VAE decode", rank=rank)
        log.raw("\r".join(bar(i + 1, n) for _ in range(bar_ranks)))


def finish(log: Log, rank: int | None = None) -> None:
    log.rec("Finish generation", rank=rank).at(5)
    log.rec("Run guardrail on generated videos", rank=rank).at(3)
    log.rec("Saved video to /cosmos/runs/r1/outputs/output.mp4", src="transfer", rank=rank)
    log.rec("Saved prompt to /cosmos/runs/r1/outputs/output.txt", src="transfer", rank=rank)


def single_gpu_log(n_clips: int = 3) -> list[str]:
    log = Log()
    startup(log)
    clips(log, n_clips)
    finish(log)
    return log.lines


def replay(lines: list[str], tracker: ProgressTracker | None = None) -> list[Progress]:
    tracker = tracker or ProgressTracker()
    return [p for p in (tracker.feed(line) for line in lines) if p is not None]


def phases(updates: list[Progress]) -> list[str]:
    out: list[str] = []
    for update in updates:
        if not out or out[-1] != update.phase:
            out.append(update.phase)
    return out


# -- line parsing ----------------------------------------------------------------------------------
def test_parse_loguru_fields():
    rec = parse_loguru("[06-07 10:00:01|SUCCESS|cosmos_transfer1/x.py:42:load] Complete loading")
    assert rec is not None
    assert (rec.timestamp, rec.level, rec.path, rec.lineno, rec.func, rec.message, rec.rank) == (
        "06-07 10:00:01", "SUCCESS", "cosmos_transfer1/x.py", 42, "load", "Complete loading", None)


def test_parse_loguru_rank_prefix_and_ansi():
    line = ("[rank3]:\x1b[32m[06-07 10:00:01\x1b[0m|\x1b[1mCRITICAL\x1b[0m|\x1b[36m"
            "cosmos_transfer1/utils/distributed.py\x1b[0m:60:\x1b[36minit\x1b[0m] \x1b[1m"
            "Initialized distributed training with local rank 3 with timeout 1800\x1b[0m")
    rec = parse_loguru(line)
    assert rec is not None and rec.rank == 3 and rec.level == "CRITICAL"
    assert rec.message == "Initialized distributed training with local rank 3 with timeout 1800"
    assert strip_ansi("\x1b[31mred\x1b[0m \x1b[2K\x1b[Aup") == "red up"


def test_parse_loguru_rejects_non_records():
    for line in ('    "control_weight": 1.0', "Traceback (most recent call last):",
                 "INFO 06-07 10:00:03 [__init__.py:256] Automatically detected platform cuda.",
                 bar(1, 4), "", "[not a record]"):
        assert parse_loguru(line) is None, line


def test_parse_loguru_module_level_function():
    rec = parse_loguru("[06-07 10:00:01|INFO|x.py:1:<module>] hello")
    assert rec is not None and rec.func == "<module>"


def test_parse_bar():
    assert parse_bar("  3%|▎ | 1/4 [00:05<00:15, 5.00s/it]") == ("", 1, 4)
    assert parse_bar("[rank1]: 50%|█████     | 2/4 [00:10<00:10,  5.00s/it]") == ("", 2, 4)
    assert parse_bar("Loading checkpoint shards: 100%|██████████| 4/4 [00:03<00:00]")[0] == \
        "Loading checkpoint shards"
    assert parse_bar("[06-07 10:00:01|INFO|x.py:1:f] Starting latent encoding") is None


def test_clips_for_frames():
    assert [clips_for_frames(t) for t in (1, 57, 121, 122, 241, 242, 5000)] == \
        [1, 1, 1, 2, 2, 3, 42]


def test_clean_line():
    assert clean_line("[rank0]: \x1b[31mRuntimeError: boom\x1b[0m\n") == "RuntimeError: boom"
    assert clean_line(" 25%|██| 1/4 [..]\r 50%|███| 2/4 [..]\r") == "50%|███| 2/4 [..]"


# -- whole transcripts -----------------------------------------------------------------------------
def test_single_gpu_transcript():
    lines = single_gpu_log(3)
    updates = replay(lines)
    final = updates[-1]
    assert final.phase == DONE and final.fraction == 1.0
    assert (final.n_clips, final.clips_done, final.clip, final.total_frames) == (3, 3, 3, 361)
    assert final.eta_seconds == 0.0
    assert phases(updates) == ["starting", "loading", "preprocessing", "text_encoding",
                               "preprocessing", "clip_encode", "clip_diffuse", "clip_decode",
                               "clip_encode", "clip_diffuse", "clip_decode", "clip_encode",
                               "clip_diffuse", "clip_decode", "guardrail", "saving", "done"]
    fractions = [u.fraction for u in updates]
    assert fractions == sorted(fractions), "progress never goes backwards"
    assert all(u.phase in PHASES for u in updates)


def test_continuation_lines_are_not_markers():
    tracker = ProgressTracker()
    log = Log()
    startup(log)
    for line in log.lines:
        tracker.feed(line)
    assert tracker.progress.phase == TEXT_ENCODING or tracker.progress.phase == "preprocessing"
    assert tracker.progress.clips_done == 0 and tracker.progress.clip == 0


def test_milestones_and_eta():
    tracker = ProgressTracker()
    lines = single_gpu_log(3)
    seen: dict[str, Progress] = {}
    for line in lines:
        update = tracker.feed(line)
        rec = parse_loguru(line)
        if rec and update:
            seen.setdefault(rec.message.split(" ")[0] + ":" + str(update.clips_done), update)
    making = next(u for k, u in seen.items() if k.startswith("Making"))
    assert making.n_clips == 3 and making.total_frames == 361
    assert making.eta_seconds is None  # no clip has finished yet
    loading = next(u for k, u in seen.items() if k.startswith("Done:"))
    assert loading.phase == LOADING and 0 < loading.fraction <= 0.3
    after_first = seen["Completed:1"]
    assert after_first.clips_done == 1 and after_first.clip == 2
    assert after_first.eta_seconds == pytest.approx(140, abs=1)  # 2 clips x 70 s
    assert after_first.fraction == pytest.approx(0.35 + 0.6 / 3, abs=0.01)


def test_eta_counts_down_inside_a_clip_with_the_callers_clock():
    tracker = ProgressTracker()
    now = 1000.0
    for line in single_gpu_log(3)[:-1]:
        rec = parse_loguru(line)
        tracker.feed(line, now=now)
        if rec and rec.message.startswith("Starting diffusion sampling") and \
                tracker.progress.clips_done == 1:
            break
        now += 1
    start = tracker.snapshot(now)
    later = tracker.snapshot(now + 30)
    assert start.phase == CLIP_DIFFUSE
    assert later.eta_seconds < start.eta_seconds
    assert later.fraction > start.fraction


def test_four_gpu_transcript_does_not_double_count():
    log = Log()
    startup(log, ranks=4)
    log.lines = [f"[rank0]:{line}" if line.startswith("[06") else line for line in log.lines]
    log.rec("Making all control and input videos to be length of 241 frames.", rank=0)
    log.rec("Completed data augmentation", rank=0)
    for r in range(4):
        log.raw(f"[rank{r}]:" + bar(0, 2))
    for i in range(2):
        for r in range(4):  # every rank announces the clip; only rank 0 counts
            log.rec("Starting latent encoding", rank=r)
        log.at(2).rec("Completed latent encoding", rank=0).rec("Starting diffusion sampling",
                                                                rank=0)
        log.at(60).rec("Completed diffusion sampling", rank=0)
        log.rec("Starting VAE decode", rank=0).at(3).rec("Completed VAE decode", rank=0)
        log.raw("\r".join(bar(i + 1, 2) for _ in range(4)))  # 4 bars, one tick
        for r in range(1, 4):
            log.raw(f"[rank{r}]:" + bar(i + 1, 2))
    finish(log, rank=0)
    tracker = ProgressTracker()
    counts = []
    for line in log.lines:
        tracker.feed(line)
        counts.append(tracker.progress.clips_done)
    final = tracker.progress
    assert final.phase == DONE and final.n_clips == 2 and final.clips_done == 2
    assert max(counts) == 2
    assert counts == sorted(counts)


def test_carriage_return_bar_line_with_several_updates():
    tracker = ProgressTracker()
    log = Log()
    log.rec("Run generation").rec("Making all control and input videos to be length of 481 "
                                  "frames.")
    for line in log.lines:
        tracker.feed(line)
    updates = ["  0%|          | 0/4 [00:00<?, ?it/s]",
               " 25%|██▌       | 1/4 [00:05<00:15,  5.00s/it]",
               " 50%|█████     | 2/4 [00:10<00:10,  5.00s/it]"]
    line = "\r".join(updates)
    update = tracker.feed(line)
    assert update is not None and update.clips_done == 2 and update.n_clips == 4
    assert update.clip == 3


def test_bar_then_record_on_one_physical_line():
    tracker = ProgressTracker()
    tracker.feed("[06-07 10:00:00|INFO|x.py:1:f] Making all control and input videos to be "
                 "length of 241 frames.")
    update = tracker.feed(" 50%|█████     | 1/2 [01:10<01:10, 70.00s/it]"
                          "[06-07 10:01:10|INFO|x.py:1:f] Starting latent encoding")
    assert update is not None
    assert update.clips_done == 1 and update.phase == "clip_encode" and update.clip == 2


def test_bars_outside_the_clip_loop_are_ignored():
    tracker = ProgressTracker()
    tracker.feed("[06-07 10:00:00|INFO|x.py:1:f] Start creating base model")
    tracker.feed(" 100%|██████████| 4/4 [00:03<00:00,  1.20it/s]")
    tracker.feed("Loading checkpoint shards: 100%|██████████| 2/2 [00:03<00:00]")
    assert tracker.progress.clips_done == 0 and tracker.progress.n_clips is None


def test_ansi_coloured_transcript_parses_the_same():
    plain = single_gpu_log(2)
    coloured = [line.replace("|INFO|", "|\x1b[1mINFO\x1b[0m|").replace("[06-", "\x1b[32m[06-")
                for line in plain]
    a, b = ProgressTracker(), ProgressTracker()
    for x, y in zip(plain, coloured, strict=True):
        a.feed(x)
        b.feed(y)
    assert a.progress == b.progress and b.progress.phase == DONE


def test_feed_returns_none_when_nothing_changed():
    tracker = ProgressTracker()
    assert tracker.feed("[06-07 10:00:00|INFO|x.py:1:f] Start creating base model") is not None
    assert tracker.feed("    some continuation") is None
    assert tracker.feed("") is None


def test_guardrail_block_transcript_stops_before_clips():
    log = Log()
    startup(log)
    log.rec("GUARDRAIL BLOCKED: Prompt contains unsafe content (Llama Guard: S1)",
            level="CRITICAL")
    log.rec("Input text prompt 0 is not safe", level="CRITICAL")
    log.rec("Guardrail blocked generation for entire batch.", level="CRITICAL", src="transfer")
    final = replay(log.lines)[-1]
    assert final.clips_done == 0 and final.phase != DONE and final.fraction < 0.4


def test_batch_progress_runs_through_items():
    log = Log()
    startup(log)
    clips(log, 1)
    finish(log)
    log.rec("running preprocessor", src="transfer", func="demo")
    log.rec("Running batch generation with batch_size=1").rec("Run generation")
    clips(log, 1)
    finish(log)
    tracker = ProgressTracker(n_items=2)
    mid = None
    for line in log.lines:
        update = tracker.feed(line)
        if update and update.item == 2 and mid is None:
            mid = update
    assert mid is not None and 0.6 < mid.fraction < 0.7
    assert tracker.progress.phase == DONE and tracker.progress.fraction == 1.0


def test_progress_round_trips_through_a_dict():
    tracker = ProgressTracker()
    for line in single_gpu_log(2)[:60]:
        tracker.feed(line)
    data = tracker.progress.to_dict()
    assert Progress.from_dict(data) == tracker.progress
    assert Progress.from_dict({**data, "added_later": 1}) == tracker.progress
    assert Progress.from_dict(None) == Progress()


def test_batch_eta_between_items_counts_the_next_item():
    log = Log()
    startup(log)
    clips(log, 2, seconds=50)
    finish(log)
    tracker = ProgressTracker(n_items=3)
    for line in log.lines:
        tracker.feed(line)
    between = tracker.progress
    assert between.phase == "saving" and between.item == 2
    assert between.eta_seconds == pytest.approx(2 * 2 * 50, abs=1)  # 2 items x 2 clips x 50 s
