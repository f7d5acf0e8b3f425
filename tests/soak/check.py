"""The end-of-soak verdict: every run in the right terminal state, every log line exactly once.

Why the line rule is copied here and not imported: backend/runs/executor.py is being
refactored, and a check that imports the code it checks would agree with any bug in it. The
rule (from `complete_lines` there): `\\r\\n`, `\\r` and `\\n` each end a line; lines that are
blank after stripping are not stored; bytes are decoded as UTF-8 with replacement per line.
Applied to the whole `run.log` at once it gives what a perfect follower stores, however the
file was cut into reads, reconnects and restarts.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.soak.boxes import Box

_LINE_END = re.compile(rb"\r\n|\r|\n")
TERMINAL = ("completed", "failed", "cancelled", "blocked")


def split_log(data: bytes) -> list[str]:
    """The lines the app must store for a log with these bytes (see the module docstring)."""
    pieces = _LINE_END.split(data)
    texts = (piece.decode("utf-8", "replace") for piece in pieces)
    return [text for text in texts if text.strip()]


@dataclass
class Submitted:
    """A run the harness queued through the CLI."""

    run_id: str
    host: str
    index: int
    at: float


@dataclass
class Verdict:
    """What the checks found; `ok` only when every list of problems is empty."""

    by_host: dict[str, int] = field(default_factory=dict)
    by_status: dict[str, int] = field(default_factory=dict)
    lines_compared: int = 0
    runs_compared: int = 0
    lost: list[str] = field(default_factory=list)  # queued by us, absent from the store
    unexpected: list[str] = field(default_factory=list)  # in the store, never queued by us
    stuck: list[dict[str, Any]] = field(default_factory=list)  # not terminal at the deadline
    wrong_state: list[dict[str, Any]] = field(default_factory=list)
    mismatches: list[dict[str, Any]] = field(default_factory=list)
    killed_outcomes: list[dict[str, Any]] = field(default_factory=list)  # for the report
    without_log: list[str] = field(default_factory=list)  # no run.log on the box at all

    @property
    def ok(self) -> bool:
        return not (self.lost or self.unexpected or self.stuck or self.wrong_state
                    or self.mismatches)


def first_difference(expected: list[str], stored: list[str]) -> dict[str, Any]:
    """Where two line lists part (both sides of the first differing line), and how many
    lines are missing from the store or extra in it (doubled, or never in the log)."""
    n = next((i for i, (a, b) in enumerate(zip(expected, stored)) if a != b),
             min(len(expected), len(stored)))
    want, have = Counter(expected), Counter(stored)
    return {"line": n, "expected": expected[n] if n < len(expected) else None,
            "stored": stored[n] if n < len(stored) else None,
            "expected_lines": len(expected), "stored_lines": len(stored),
            "missing": sum((want - have).values()), "extra": sum((have - want).values())}


def _is_video(path: str | None) -> bool:
    """An mp4 file that is really there (non-empty, an `ftyp` box first)."""
    if not path:
        return False
    try:
        with open(path, "rb") as fh:
            head = fh.read(12)
    except OSError:
        return False
    return len(head) == 12 and head[4:8] == b"ftyp"


def judge(store: Any, submitted: list[Submitted], killed: dict[str, str],
          boxes: dict[str, Box], all_ids: list[str]) -> Verdict:
    """Compare the store with what the harness did and with the boxes' own files.

    `killed`: run id -> container name, for containers the harness SIGKILLed from outside
    (those runs must be `failed` with a cause; every other run `completed` with its video).
    `all_ids`: every run id in the store, to catch runs nobody asked for.
    """
    verdict = Verdict()
    ours = {s.run_id: s for s in submitted}
    verdict.unexpected = sorted(set(all_ids) - set(ours))
    for sub in submitted:
        run = store.get_run(sub.run_id)
        if run is None:
            verdict.lost.append(sub.run_id)
            continue
        verdict.by_host[run.host] = verdict.by_host.get(run.host, 0) + 1
        verdict.by_status[run.status] = verdict.by_status.get(run.status, 0) + 1
        facts = {"run_id": run.id, "host": run.host, "status": run.status,
                 "exit_code": run.exit_code, "failure_cause": run.failure_cause}
        if run.status not in TERMINAL:
            verdict.stuck.append(facts)
            continue
        if run.id in killed:
            verdict.killed_outcomes.append(facts)
            if run.status != "failed" or not (run.failure_cause or "").strip():
                verdict.wrong_state.append(dict(facts, expected="failed with a cause"))
        elif run.status != "completed" or not _is_video(run.output_path):
            verdict.wrong_state.append(dict(facts, expected="completed with its video",
                                            output_path=run.output_path))
        box = boxes.get(run.host)
        data = box.run_log(run.id) if box else None
        if data is None:  # never launched (its state says whether that is right)
            verdict.without_log.append(run.id)
        stored = store.log_text(run.id)
        expected = split_log(data or b"")
        verdict.runs_compared += 1
        verdict.lines_compared += len(expected)
        if stored != expected:
            verdict.mismatches.append(dict({"run_id": run.id, "host": run.host,
                                            "status": run.status},
                                           **first_difference(expected, stored)))
    return verdict


def save_evidence(folder: Path, store: Any, verdict: Verdict, boxes: dict[str, Box]) -> None:
    """For each mismatched run: the box's run.log and the stored lines, side by side."""
    for item in verdict.mismatches:
        run_id, box = item["run_id"], boxes.get(item["host"])
        target = folder / "evidence" / run_id
        target.mkdir(parents=True, exist_ok=True)
        data = box.run_log(run_id) if box else None
        if data is not None:
            (target / "box-run.log").write_bytes(data)
        (target / "stored.log").write_text("\n".join(store.log_text(run_id)) + "\n")
