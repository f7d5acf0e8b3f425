"""`python -m bench.run` (`make bench`): every row, one table, bench/results.json.

    python -m bench.run                 all rows (about 6-10 minutes on 2 cores)
    python -m bench.run --quick         fewer repeats and smaller sizes (about 2-3 minutes)
    python -m bench.run --only store    one row (name or number; repeat --only for more)
    python -m bench.run --list          the rows

Each figure of ours is set against a baseline measured in the same run on the same machine;
the table shows both, their ratio (ours / baseline), the goal and the verdict. See
bench/HOWTO.md for what each row measures and how to read it.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

if __package__ in (None, ""):  # `python bench/run.py` works too
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import ROOT, Context, Line  # noqa: E402
from bench.stats import ERROR, Goal, render_table  # noqa: E402

ROWS = ("row_transfer", "row_roundtrip", "row_log_latency", "row_orchestration", "row_store",
        "row_cold_start", "row_batching", "row_farm", "row_ui_actions")
RESULTS = ROOT / "bench" / "results.json"
HEADER = ("row", "ours", "baseline", "ratio", "goal", "verdict")


def load_rows() -> list:
    return [importlib.import_module(f"bench.{name}") for name in ROWS]


def select_rows(rows: list, only: list[str]) -> list:
    """Rows named by number (1-9), by NAME (transfer, store, ...) or a unique prefix of it."""
    if not only:
        return rows
    chosen = []
    for wanted in only:
        for item in wanted.split(","):
            key = item.strip().lower()
            if not key:
                continue
            if key.isdigit() and 1 <= int(key) <= len(rows):
                match = [rows[int(key) - 1]]
            else:
                match = [r for r in rows if r.NAME == key] or \
                    [r for r in rows if r.NAME.startswith(key)]
            if len(match) != 1:
                names = ", ".join(f"{i}={r.NAME}" for i, r in enumerate(rows, 1))
                raise SystemExit(f"--only {item!r}: no single row matches; rows are {names}")
            if match[0] not in chosen:
                chosen.append(match[0])
    return chosen


def machine_info() -> dict:
    def version(argv: list[str]) -> str | None:
        try:
            out = subprocess.run(argv, capture_output=True, text=True, timeout=10)
            return (out.stdout + out.stderr).strip().splitlines()[0]
        except (OSError, IndexError, subprocess.SubprocessError):
            return None

    info = {"python": platform.python_version(), "platform": platform.platform(),
            "cpus": os.cpu_count(), "loadavg_start": os.getloadavg(),
            "openssh": version(["ssh", "-V"])}
    for module in ("paramiko", "gradio", "peewee", "playwright"):
        try:
            from importlib.metadata import version as pkg_version
            info[module] = pkg_version(module)
        except Exception:
            info[module] = None
    return info


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="fewer repeats and smaller sizes (a smoke run, ~3 minutes)")
    parser.add_argument("--only", action="append", default=[], metavar="ROW",
                        help="run only this row (number, name or prefix); repeatable")
    parser.add_argument("--json", default=str(RESULTS), metavar="PATH",
                        help=f"where to write the results (default {RESULTS.relative_to(ROOT)})")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder")
    parser.add_argument("--list", action="store_true", help="list the rows and exit")
    args = parser.parse_args(argv)

    rows = load_rows()
    if args.list:
        for i, row in enumerate(rows, 1):
            print(f"{i}  {row.NAME:14s} {(row.__doc__ or '').strip().splitlines()[0]}")
        return 0
    selected = select_rows(rows, args.only)
    suite_started = time.perf_counter()

    def log(message: str) -> None:
        print(f"[bench {time.perf_counter() - suite_started:6.1f}s] {message}",
              file=sys.stderr, flush=True)

    info = machine_info()
    workdir = Path(tempfile.mkdtemp(prefix="cosmos-bench-"))
    ctx = Context(quick=args.quick, workdir=workdir, log=log)
    results: list[dict] = []
    lines: list[Line] = []
    log(f"{'quick' if args.quick else 'full'} run of {', '.join(r.NAME for r in selected)}; "
        f"scratch {workdir}")
    try:
        for row in selected:
            log(f"row {row.TITLE} ...")
            started = time.perf_counter()
            try:
                row_lines = row.run(ctx)
            except Exception as exc:  # one broken row must not hide the others
                log(f"row {row.TITLE} failed:\n{traceback.format_exc()}")
                row_lines = [Line.failed(row.TITLE, "", Goal("ratio", ">=", 1.0),
                                         f"{type(exc).__name__}: {exc}")]
            seconds = time.perf_counter() - started
            log(f"row {row.TITLE} done in {seconds:.1f} s")
            lines.extend(row_lines)
            results.append({"row": row.NAME, "title": row.TITLE, "seconds": seconds,
                            "lines": [line.to_dict() for line in row_lines]})
    finally:
        ctx.close()
        if args.keep:
            log(f"kept scratch folder {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)

    total = time.perf_counter() - suite_started
    info["loadavg_end"] = os.getloadavg()
    table = render_table(HEADER, [line.cells() for line in lines])
    print()
    print(table)
    notes = [f"  {line.row}: {line.note}" for line in lines if line.note]
    if notes:
        print("\nnotes:")
        print("\n".join(notes))
    print(f"\n{'quick' if args.quick else 'full'} run, {total:.0f} s; ratio = ours / baseline; "
          f"ours and baseline show median [min-max] or p50 / p95 over repeats; "
          f"results in {args.json}")
    Path(args.json).write_text(json.dumps({
        "command": "python -m bench.run" + (" --quick" if args.quick else "")
                   + "".join(f" --only {o}" for o in args.only),
        "quick": args.quick, "started": time.time() - total, "seconds": total,
        "machine": info, "table": table, "rows": results}, indent=2, default=str) + "\n")
    return 1 if any(line.verdict == ERROR for line in lines) else 0


if __name__ == "__main__":
    sys.exit(main())
