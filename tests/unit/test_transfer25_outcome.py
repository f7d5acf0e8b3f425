"""How a Transfer2.5 sample ended: success only with its `Generated video saved to` line and
the file; a guardrail block at exit 0 is `blocked` with its stage; batches judged per sample."""

from __future__ import annotations

import pytest

from backend.models.transfer2_5.outcome import classify_sample, split_sections
from tests.unit import transcripts25 as t


def judge(lines, name="R1", exit_code=0, have_video=True, killed=False):
    return classify_sample(name=name, exit_code=exit_code, log_lines=lines,
                           have_video=have_video, killed_by_user=killed)


def test_completed_needs_the_line_and_the_file():
    done = judge(t.single())
    assert done.status == "completed" and "Generated video saved to" in done.evidence
    assert judge(t.single(), have_video=False).status == "failed"
    assert "file is missing" in judge(t.single(), have_video=False).cause


def test_a_missing_success_line_fails_even_at_exit_0():
    lines = t.single(success=False)
    out = judge(lines, have_video=False)
    assert out.status == "failed" and "never logged 'Generated video saved to'" in out.cause
    video_anyway = judge(lines, have_video=True)
    assert video_anyway.status == "failed" and "log incomplete" in video_anyway.cause


@pytest.mark.parametrize("verbose", [True, False])
@pytest.mark.parametrize("block, stage", [("prompt", "prompt"), ("negative", "negative prompt")])
def test_exit_0_guardrail_block_of_the_prompt_is_blocked_with_the_stage(block, stage, verbose):
    out = judge(t.single(block=block, verbose=verbose), have_video=False)
    assert out.status == "blocked" and out.stage == stage
    assert f"at the {stage} check" in out.cause
    if verbose:  # COSMOS_VERBOSE shows the reason
        assert "Qwen3Guard" in out.cause and "GUARDRAIL BLOCKED" in out.evidence


def test_exit_0_video_block_is_blocked_with_or_without_its_reason():
    loud = judge(t.single(block="video"), have_video=False)
    assert (loud.status, loud.stage) == ("blocked", "video")
    assert "Video content safety filter" in loud.cause
    quiet = judge(t.single(block="video", verbose=False), have_video=False)
    assert (quiet.status, quiet.stage) == ("blocked", "video")
    assert "debug.log" in quiet.cause and "Running guardrail check on video" in quiet.evidence


def test_no_keep_going_raises_and_is_still_blocked():
    lines = t.single(block="video", verbose=False)
    lines += ["Traceback (most recent call last):",
              "Exception: Guardrail blocked video2world generation."]
    out = judge(lines, exit_code=1, have_video=False)
    assert (out.status, out.stage) == ("blocked", "video")


def test_a_batch_is_judged_per_sample():
    lines = t.batch([None, "prompt", None, "video"])
    outs = {n: judge(lines, name=n, have_video=n in ("R1", "R3")) for n in ("R1", "R2", "R3",
                                                                            "R4")}
    assert outs["R1"].status == outs["R3"].status == "completed"
    assert (outs["R2"].status, outs["R2"].stage) == ("blocked", "prompt")
    assert (outs["R4"].status, outs["R4"].stage) == ("blocked", "video")
    assert "R3.mp4" in outs["R3"].evidence  # its own line, not another sample's


def test_a_sample_that_never_started():
    lines = t.preamble(t.Clock(), ["R1", "R2"]) + t.sample(t.Clock(), "R1", 1, 2)
    out = judge(lines, name="R2", exit_code=0, have_video=False)
    assert out.status == "failed" and "never processed this sample" in out.cause


def test_oom_gets_transfer25_advice():
    lines = t.single()[:-8] + t.OOM_TAIL
    out = judge(lines, exit_code=1, have_video=False)
    assert out.status == "failed" and out.cause.startswith("CUDA out of memory")
    assert "65 GB" in out.cause and "offload_guardrail_models" in out.cause
    assert "text encoder" not in out.cause  # Transfer1's advice does not apply


def test_upstream_validation_refusal():
    out = judge(["[cosmos-orchestrator] run J started"] + t.PYDANTIC, exit_code=1,
                have_video=False)
    assert out.status == "failed" and "refused the spec" in out.cause
    assert "valid integer" in out.cause and "guidance" in out.cause
    dup = judge(["Error: Inference samplename R1 is not unique"], exit_code=1, have_video=False)
    assert "is not unique" in dup.cause


def test_killed_by_user_is_cancelled_unless_it_completed():
    assert judge(t.single(success=False), exit_code=143, have_video=False,
                 killed=True).status == "cancelled"
    assert judge(t.single(), exit_code=143, have_video=True, killed=True).status == "completed"


def test_a_prompt_that_quotes_the_success_line_fakes_nothing():
    evil = ("x\\n[05-02 10:09:59|SUCCESS|cosmos_transfer2/inference.py:405:_generate_sample] "
            "Generated video saved to /cosmos/runs/J/outputs/R1.mp4")
    lines = t.single(block="prompt", prompt=evil.replace("\\n", "\n"))
    split = [part for line in lines for part in line.split("\n")]
    out = judge(split, have_video=False)
    assert out.status == "blocked"  # no video on disk: the fake line decides nothing


def test_sections_split_at_each_sample():
    preamble, sections = split_sections(t.batch([None, None]))
    assert list(sections) == ["R1", "R2"] and any("Found 1 hint keys" in x for x in preamble)
    assert not any("R1" in line for line in sections["R2"])
    assert any("Generated video saved to" in line and "R1.mp4" in line for line in sections["R1"])
