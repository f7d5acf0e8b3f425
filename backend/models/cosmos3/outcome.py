"""How one Cosmos 3 sample ended, from its `sample_outputs.json` first.

Upstream (cosmos_framework/inference/inference.py) writes `<out>/<name>/sample_outputs.json`
(SampleOutputs: args, status success|error|skip, message, outputs[].files) when a sample is
saved, and scripts/inference.py writes a `status: "skip"` one for a sample it skipped. That
file is the success signal: `completed` needs status "success", its `vision.*` among the
files, and the video brought home; exit code 0 alone never is.

Upstream writes NO file for a sample that failed: with `--keep-going` (our jobs always pass it)
`_handle_sample_exception` logs one ERROR record `Error generating sample '<name>': <why>` and
goes on; the guardrail's reasons are `Guardrail blocked prompt '<dir>': '<prompt>'` and
`Guardrail blocked video '<dir>': <message>`. So a missing file is judged from that one record
(upstream's own exception text, matched by its start on a loguru ERROR record, never by a
prompt echoed elsewhere), then from the exit code and the generic failure finders.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from backend.models.loguru import clean_line, parse_loguru
from backend.models.results import BLOCKED, CANCELLED, COMPLETED, FAILED, Outcome
from backend.models.transfer1.outcome import classify_outcome as _generic_failure

_EVIDENCE_MAX = 400
_BLOCK = re.compile(r"Guardrail blocked (prompt|video) '[^']*'(?::\s*(.*))?$", re.S)


def _evidence(text: str | None) -> str | None:
    if text is None:
        return None
    return text if len(text) <= _EVIDENCE_MAX else text[:_EVIDENCE_MAX - 1] + "…"


def read_status(files: Mapping[str, Path | None], name: str) -> dict | None:
    """The sample's parsed sample_outputs.json (None: not written or unreadable)."""
    for key, path in files.items():
        if key.startswith("status:") and key.endswith(f"{name}/sample_outputs.json") and path:
            try:
                data = json.loads(Path(path).read_text(encoding="utf-8"))
            except (OSError, ValueError):
                return {"status": "unreadable"}
            return data if isinstance(data, dict) else {"status": "unreadable"}
    return None


def _block_outcome(why: str, evidence: str) -> Outcome | None:
    found = _BLOCK.search(why)
    if not found:
        return None
    stage = found.group(1)
    detail = (found.group(2) or "").strip()
    reason = f": {detail}" if stage == "video" and detail else ""
    return Outcome(BLOCKED, f"blocked by Cosmos 3's guardrail at the {stage} check{reason}",
                   _evidence(evidence), stage)


def _error_record(lines: Sequence[str], name: str) -> tuple[str, str] | None:
    """(why, line) of upstream's `Error generating sample '<name>': ...` ERROR record."""
    head = f"Error generating sample '{name}': "
    for line in reversed(lines):
        record = parse_loguru(line)
        if record and record.level == "ERROR" and record.message.startswith(head):
            return record.message[len(head):], line
    for line in reversed(lines):  # without --keep-going it is raised: ValueError: Error ...
        at = line.find("ValueError: " + head)
        if at >= 0:
            return line[at + len("ValueError: " + head):], line
    return None


def classify_sample(*, name: str, exit_code: int | None, log_lines: Sequence[str],
                    have_video: bool, files: Mapping[str, Path | None],
                    killed_by_user: bool = False) -> Outcome:
    """completed / blocked / failed / cancelled for the sample called `name`."""
    status = read_status(files, name)
    if status is not None and status.get("status") == "success":
        listed = [str(f) for out in status.get("outputs") or [] if isinstance(out, dict)
                  for f in out.get("files") or []]
        if not any(Path(f).name.startswith("vision.") for f in listed):
            return Outcome(FAILED, "Cosmos 3 reported success but listed no vision file in "
                           "sample_outputs.json", _evidence(json.dumps(status)[:300]))
        if have_video:
            return Outcome(COMPLETED, "completed", "sample_outputs.json: status success")
        return Outcome(FAILED, "sample_outputs.json says success but the video "
                       f"({Path(listed[0]).name}) could not be brought home", None)
    if killed_by_user:
        return _generic_failure(exit_code=exit_code, log_lines=[], output_exists=False,
                                killed_by_user=True)
    if status is not None:
        message = str(status.get("message") or "no message")
        if status.get("status") == "skip":
            return Outcome(FAILED, f"Cosmos 3 skipped the sample: {message}",
                           _evidence(message))
        if status.get("status") == "error":
            return _block_outcome(message, message) or Outcome(
                FAILED, f"Cosmos 3 failed the sample: {message}", _evidence(message))
        return Outcome(FAILED, "sample_outputs.json is not readable Cosmos 3 output",
                       None)
    lines = [line for line in (clean_line(raw) for raw in log_lines) if line]
    found = _error_record(lines, name)
    if found is not None:
        why, line = found
        return _block_outcome(why, line) or Outcome(
            FAILED, f"Cosmos 3 failed the sample: {why[:300]}", _evidence(line))
    if exit_code == 0:
        return Outcome(FAILED, "Cosmos 3 exited 0 but wrote no sample_outputs.json for this "
                       f"sample ({name})", _evidence(lines[-1] if lines else None))
    failed = _generic_failure(exit_code=exit_code, log_lines=lines, output_exists=False)
    if failed.status == CANCELLED:
        return failed
    cause = failed.cause
    if cause.startswith("CUDA out of memory"):
        cause = (cause.split(":", 1)[0] + ": FSDP shards Cosmos 3 over the run's GPUs, so ask "
                 "for more GPUs, or pick a smaller checkpoint (Edge 2B, Nano 8B)")
    return Outcome(FAILED if failed.status != BLOCKED else BLOCKED, cause, failed.evidence,
                   failed.stage)
