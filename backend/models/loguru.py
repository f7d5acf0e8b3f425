"""Reading one line of a Cosmos log: colours, torchrun rank prefixes, loguru records, tqdm bars.

Cosmos-Transfer1 and Cosmos-Transfer2.5 both log with loguru in the same line format
(`[MM-DD HH:mm:ss|LEVEL|path:line:function] message`) and draw tqdm bars, so these pure text
rules are shared by every profile's progress tracker and outcome classifier.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

_ANSI = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[@-Z\\-_])")
_RANK_PREFIX = re.compile(r"^\s*\[(?:rank|default)(\d+)\]:\s?")
_LOGURU = re.compile(
    r"\[(\d\d-\d\d \d\d:\d\d:\d\d)\|\s*(TRACE|DEBUG|INFO|SUCCESS|WARNING|ERROR|CRITICAL)\s*\|"
    r"([^:|\]]+):(\d+):([^\]]*)\] ?(.*)$")
_BAR = re.compile(r"(\d{1,3})%\|[^|]*\|\s*(\d+)/(\d+)\s*(?:\[([^\]]*)\])?")
_FRAMES = re.compile(r"Making all control and input videos to be length of (\d+) frames")


@dataclass(frozen=True)
class LogRecord:
    """One loguru record (its first line; continuation lines are not part of it)."""

    timestamp: str  # "MM-DD HH:MM:SS", no year (loguru format Cosmos uses)
    level: str
    path: str
    lineno: int
    func: str
    message: str
    rank: int | None = None


def strip_ansi(text: str) -> str:
    """Remove terminal colour and cursor codes (Cosmos colours its log when stdout is a TTY)."""
    return _ANSI.sub("", text)


def strip_rank_prefix(text: str) -> tuple[str, int | None]:
    """'[rank3]: msg' -> ('msg', 3); prefixes may repeat when torchrun wraps a worker's output."""
    rank = None
    while True:
        match = _RANK_PREFIX.match(text)
        if not match:
            return text, rank
        rank = int(match.group(1)) if rank is None else rank
        text = text[match.end():]


def clean_line(line: str) -> str:
    """A log line as a person should read it: no colours, no rank prefix, no tqdm redraws."""
    segments = [s for s in strip_ansi(line).rstrip("\r\n").split("\r") if s.strip()]
    text = segments[-1] if segments else ""
    return strip_rank_prefix(text)[0].strip()


def parse_loguru(line: str) -> LogRecord | None:
    """The loguru record on this line, or None (tracebacks, warnings, JSON continuation lines).

    The record may follow a tqdm bar on the same physical line, so it is searched, not anchored;
    the level must be a loguru level name, which keeps false matches out.
    """
    text, rank = strip_rank_prefix(strip_ansi(line).rstrip("\r\n"))
    match = _LOGURU.search(text)
    if match is None:
        return None
    if rank is None:
        rank = strip_rank_prefix(_tail_prefix(text[:match.start()]))[1]
    return LogRecord(timestamp=match.group(1), level=match.group(2), path=match.group(3).strip(),
                     lineno=int(match.group(4)), func=match.group(5).strip(),
                     message=match.group(6).rstrip(), rank=rank)


def _tail_prefix(text: str) -> str:
    """A '[rankN]:' directly before a record that followed a bar on the same line."""
    idx = text.rfind("[rank")
    return text[idx:] if idx >= 0 else ""


def parse_bar(segment: str) -> tuple[str, int, int] | None:
    """A tqdm bar `desc: 25%|██▌ | 1/4 [..]` -> (desc, n, total), or None."""
    text, _ = strip_rank_prefix(strip_ansi(segment))
    match = _BAR.search(text)
    if match is None:
        return None
    desc = text[:match.start()].strip().rstrip(":").strip()
    return desc, int(match.group(2)), int(match.group(3))


def _log_seconds(stamp: str) -> float | None:
    """Seconds from a year-less loguru stamp (a leap year so 02-29 parses)."""
    try:
        parsed = datetime.strptime("2000-" + stamp, "%Y-%m-%d %H:%M:%S")
    except ValueError:
        return None
    return (parsed - datetime(2000, 1, 1)).total_seconds()
