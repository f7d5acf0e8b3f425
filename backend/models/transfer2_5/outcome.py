"""How one Transfer2.5 sample ended, in one line a person understands, with the proof.

Success is strict and per sample: `Generated video saved to <out>/<name>.mp4` for THIS sample
AND the file on disk; exit code 0 is not enough. With `keep_going` (upstream's default) a
guardrail block skips the sample and the process exits 0 (cosmos_transfer2/inference.py
`_generate_sample` returns None): that is `blocked`, with the stage that blocked:
- prompt / negative prompt: CRITICAL `Guardrail blocked generation. Prompt: ...`
  (`... Negative prompt: ...`), after `GUARDRAIL BLOCKED: <reason>` (verbose);
- video: `Running guardrail check on video...` and then `GUARDRAIL BLOCKED: <reason>`
  (verbose), or nothing at all: the sample just never says `Passed guardrail on generated
  video` nor `Generated video saved to`.
With `--no-keep-going` the same blocks raise `Exception("Guardrail blocked ...")`.

Why sections: a batch log holds every sample; each run is judged on its own section (from its
`[i/N] Processing sample <name>` to the next sample's) plus the preamble (model loading),
never on another sample's lines. Markers are read only from loguru records by their message
start, so a prompt echoed in the log cannot fake one; a prompt echoed with raw newlines in a
block message could, which is why the video must also exist.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from backend.models.loguru import clean_line, parse_loguru
from backend.models.results import BLOCKED, CANCELLED, COMPLETED, FAILED, Outcome
from backend.models.transfer1.outcome import classify_outcome as _generic_failure

_SAMPLE = re.compile(r"^\[(\d+)/(\d+)\] Processing sample (.+)$")
_BLOCKED = re.compile(r"^GUARDRAIL BLOCKED:?\s*(.*)")
_PYDANTIC = re.compile(r"^Error validating parameters from '([^']*)' at line (\d+)")
_UPSTREAM_ERROR = re.compile(r"^Error: (.+)")
_EVIDENCE_MAX = 400


def _evidence(line: str | None) -> str | None:
    if line is None:
        return None
    return line if len(line) <= _EVIDENCE_MAX else line[:_EVIDENCE_MAX - 1] + "…"


def split_sections(lines: Sequence[str]) -> tuple[list[str], dict[str, list[str]]]:
    """(the lines before any sample, {sample name: its lines}) of a cleaned log."""
    preamble: list[str] = []
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in lines:
        record = parse_loguru(line)
        match = _SAMPLE.match(record.message) if record else None
        if match:
            current = sections.setdefault(match.group(3).strip(), [])
        (preamble if current is None else current).append(line)
    return preamble, sections


def _messages(lines: Sequence[str]) -> list[tuple[str, str, str]]:
    """(level, message, line) of each loguru record."""
    out = []
    for line in lines:
        record = parse_loguru(line)
        if record is not None:
            out.append((record.level, record.message, line))
    return out


def _success(records: list[tuple[str, str, str]], name: str) -> str | None:
    for level, message, line in reversed(records):
        if message.startswith("Generated video saved to ") and message.rstrip().endswith(
                (f"/{name}.mp4", f"/{name}.jpg")):
            return line
    return None


def _block(records: list[tuple[str, str, str]], section: Sequence[str], ended: bool
           ) -> Outcome | None:
    """A guardrail block inside one sample's section, with its stage and reason."""
    reason, reason_line, video_check = None, None, False
    for level, message, line in records:
        if message.startswith("Running guardrail check on video"):
            video_check = True
        found = _BLOCKED.match(message)
        if found and level in ("CRITICAL", "ERROR", "WARNING"):
            reason, reason_line = found.group(1).strip() or "no reason given", line
        if level == "CRITICAL" and message.startswith("Guardrail blocked generation."):
            stage = "negative prompt" if "Negative prompt:" in message else "prompt"
            why = f": {reason}" if reason else ""
            return Outcome(BLOCKED, f"blocked by Transfer2.5's guardrail at the {stage} "
                           f"check{why}", _evidence(reason_line or line), stage)
    for line in section:  # --no-keep-going raises instead of logging
        if "Exception: Guardrail blocked video2world generation" in line:
            return Outcome(BLOCKED, "blocked by Transfer2.5's guardrail at the video check"
                           + (f": {reason}" if reason else ""), _evidence(reason_line or line),
                           "video")
        if "Exception: Guardrail blocked generation." in line:
            stage = "negative prompt" if "Negative prompt:" in line else "prompt"
            return Outcome(BLOCKED, f"blocked by Transfer2.5's guardrail at the {stage} check"
                           + (f": {reason}" if reason else ""), _evidence(reason_line or line),
                           stage)
    passed = any(m.startswith("Passed guardrail on generated video") for _, m, _ in records)
    if video_check and not passed and (reason or ended):
        check = next(line for _, m, line in records
                     if m.startswith("Running guardrail check on video"))
        cause = ("blocked by Transfer2.5's guardrail at the video check"
                 + (f": {reason}" if reason else " (the sample was skipped after the video "
                    "check; the reason is only in debug.log without COSMOS_VERBOSE)"))
        return Outcome(BLOCKED, cause, _evidence(reason_line or check), "video")
    if reason:  # a block whose stage the log does not say
        return Outcome(BLOCKED, f"blocked by Transfer2.5's guardrail: {reason}",
                       _evidence(reason_line), None)
    return None


def _upstream_refusal(lines: Sequence[str]) -> Outcome | None:
    """Transfer2.5 printed a pydantic validation error or one of its `Error: ...` exits."""
    for i, line in enumerate(lines):
        found = _PYDANTIC.match(line)
        if found:
            detail = " ".join(x.strip() for x in lines[i + 1:i + 5] if x.strip())
            return Outcome(FAILED, f"Transfer2.5 refused the spec (line {found.group(2)}): "
                           f"{detail[:300]}", _evidence(line))
    for line in lines:
        found = _UPSTREAM_ERROR.match(line)
        if found:
            return Outcome(FAILED, f"Transfer2.5 refused the request: {found.group(1)[:300]}",
                           _evidence(line))
    return None


def _reword(outcome: Outcome) -> Outcome:
    """Transfer1's failure finders, with Transfer2.5's own advice."""
    cause = outcome.cause
    if cause.startswith("CUDA out of memory"):
        head = cause.split(":", 1)[0]
        cause = (f"{head}: Transfer2.5 needs about 65 GB on each GPU (every GPU holds the full "
                 "weights; more GPUs do not lower it) and offloads only the guardrail models; "
                 "use a bigger GPU, or turn on offload_guardrail_models")
    elif cause.startswith("missing checkpoint:"):
        path = cause.split(":", 1)[1].split(" (", 1)[0].strip()
        cause = (f"missing checkpoint: {path} (Transfer2.5 downloads its checkpoints from "
                 "Hugging Face on first use: give the box network access and HF_TOKEN, or "
                 "pre-warm hf_home)")
    elif cause.startswith("a Hugging Face model"):
        cause = ("a Hugging Face checkpoint (Cosmos-Transfer2.5-2B, Cosmos-Reason1-7B, the "
                 "guardrail or SAM2/VideoDepthAnything) is not cached and the box cannot "
                 "download it: pre-warm hf_home, or give the box network access and HF_TOKEN")
    elif cause.startswith("Cosmos rejected the GPU count"):
        cause = cause.replace("use 1, 2, 4 or 8 GPUs", "use 1, 2, 3, 4, 6 or 8 GPUs")
    return Outcome(outcome.status, cause, outcome.evidence, outcome.stage)


def classify_sample(*, name: str, exit_code: int | None, log_lines: Sequence[str],
                    have_video: bool, killed_by_user: bool = False) -> Outcome:
    """completed / blocked / failed / cancelled for the sample called `name`."""
    lines = [line for line in (clean_line(raw) for raw in log_lines) if line]
    preamble, sections = split_sections(lines)
    section = sections.get(name, [])
    records = _messages(section)
    success = _success(records, name)
    if success and have_video:
        return Outcome(COMPLETED, "completed", _evidence(success))
    if killed_by_user:
        return _generic_failure(exit_code=exit_code, log_lines=[], output_exists=False,
                                killed_by_user=True)
    later = list(sections)
    ended = exit_code == 0 or (name in later and later.index(name) < len(later) - 1)
    blocked = _block(records, section, ended)
    if blocked is not None:
        return blocked
    if success:
        return Outcome(FAILED, f"Transfer2.5 reported saving {success.rsplit(' ', 1)[-1]} but "
                       "the file is missing", _evidence(success))
    refusal = _upstream_refusal(preamble + section)
    if refusal is not None:
        return refusal
    if exit_code == 0:
        if not section:
            return Outcome(FAILED, "Transfer2.5 exited 0 but never processed this sample "
                           f"({name})", _evidence(lines[-1] if lines else None))
        if have_video:
            return Outcome(FAILED, "Transfer2.5 exited 0 and a video exists, but the log never "
                           "says 'Generated video saved to' for this sample (log incomplete?)",
                           None)
        return Outcome(FAILED, "Transfer2.5 exited 0 but never logged 'Generated video saved "
                       "to' for this sample, and wrote no video", _evidence(section[-1]))
    failed = _generic_failure(exit_code=exit_code, log_lines=preamble + section,
                              output_exists=False)
    if failed.status == BLOCKED:  # Transfer1's patterns saw a block we could not place
        return Outcome(BLOCKED, failed.cause.replace("Cosmos'", "Transfer2.5's"),
                       failed.evidence, None)
    if failed.status == CANCELLED:
        return failed
    return _reword(failed)
