"""How long each test file takes, so a parallel run starts the longest files first.

Why: `make test` runs files on three workers (`--dist loadfile`); xdist hands them out in
collection order, and by default reorders them by how many tests each holds, which puts the
many-test unit files first and leaves a long browser file to start near the end, one worker
busy while the others idle. Longest first (LPT scheduling) ends the workers close together.
Measured in one checkout the same hour: 8:37 and 6:35 in this order, 8:33 and 8:48 in the
old one; this machine's swings are as large, so the gain is a bound on the tail more than a
figure (the recorded times say the old order could lose up to ~30 s of three workers' time).
tests/conftest.py sorts the collection by the seconds recorded here; a file not in the table
gets its folder's median (a new file still lands among its kind).

Refresh the table from a run's JUnit report (times are on the run's machine; only their order
matters):

    .venv/bin/python -m pytest -n 3 --dist loadfile --junitxml=/tmp/junit.xml
    .venv/bin/python -m tests.durations /tmp/junit.xml
"""

from __future__ import annotations

import json
import statistics
import sys
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path

TABLE = Path(__file__).with_name("durations.json")
ROOT = Path(__file__).resolve().parent.parent


def file_of(nodeid: str) -> str:
    return nodeid.split("::", 1)[0]


def load() -> dict[str, float]:
    """Test file (path from the repository root) -> seconds; empty if there is no table."""
    try:
        return {str(k): float(v) for k, v in json.loads(TABLE.read_text()).items()}
    except (OSError, ValueError, AttributeError):
        return {}


def expected_seconds(files: list[str], table: dict[str, float]) -> dict[str, float]:
    """Seconds for each of `files`: its own from the table, else its folder's median there,
    else the whole table's median (0 with no table)."""
    by_folder: dict[str, list[float]] = defaultdict(list)
    for path, seconds in table.items():
        by_folder[str(Path(path).parent)].append(seconds)
    folder_median = {folder: statistics.median(times) for folder, times in by_folder.items()}
    overall = statistics.median(table.values()) if table else 0.0
    return {f: table[f] if f in table else folder_median.get(str(Path(f).parent), overall)
            for f in files}


def longest_first(nodeids: list[str], table: dict[str, float]) -> list[int]:
    """Indexes of `nodeids` reordered: files by expected seconds, longest first; the tests of
    a file keep their order, files of equal time their collection order."""
    first_seen: dict[str, int] = {}
    for i, nodeid in enumerate(nodeids):
        first_seen.setdefault(file_of(nodeid), i)
    seconds = expected_seconds(list(first_seen), table)
    return sorted(range(len(nodeids)), key=lambda i: (-seconds[file_of(nodeids[i])],
                                                      first_seen[file_of(nodeids[i])], i))


def from_junit(path: Path) -> dict[str, float]:
    """Test file -> total seconds of its test cases in a JUnit XML report."""
    totals: dict[str, float] = defaultdict(float)
    for case in ET.parse(path).getroot().iter("testcase"):
        module = case.get("classname", "")
        parts = module.split(".")
        # classname is the dotted module, plus the class for a test in one
        for cut in range(len(parts), 0, -1):
            candidate = "/".join(parts[:cut]) + ".py"
            if (ROOT / candidate).exists():
                totals[candidate] += float(case.get("time") or 0)
                break
    return {k: round(v, 1) for k, v in sorted(totals.items())}


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    table = from_junit(Path(argv[0]))
    TABLE.write_text(json.dumps(table, indent=1, sort_keys=True) + "\n")
    print(f"{len(table)} files, {sum(table.values()):.0f} s in all -> {TABLE}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
