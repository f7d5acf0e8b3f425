"""`cosmos prune` (disk on the boxes) and `cosmos delete RUN` (the UI's Delete)."""

from __future__ import annotations

import argparse
import sys

from backend.cli import format as fmt
from backend.cli.common import EXIT_FAILED, EXIT_OK, EXIT_USAGE, CliError, _json, _resolve
from backend.cli.progress import Session


def _mb(n: int | None) -> str:
    return "no cap" if n is None else f"{n / 1e6:.1f} MB"


def cmd_prune(s: Session, args: argparse.Namespace) -> int:
    from backend.accounts import HOSTS

    s.require(HOSTS)
    reports = s.ops.prune(args.host or None, older_than_days=args.older_than,
                          cache_max_gb=args.cache_max_gb, dry_run=args.dry_run)
    if _json(args):
        fmt.dump({"dry_run": args.dry_run, "hosts": reports})
        return EXIT_FAILED if any(r["errors"] for r in reports) else EXIT_OK
    verb = "would remove" if args.dry_run else "removed"
    for r in reports:
        cache = r["cache"]
        print(f"{r['host']}: {verb} {len(r['run_folders'])} run folder(s), "
              f"{len(cache['evicted'])} cache file(s), {len(r['containers'])} container(s); "
              f"cache {_mb(cache['before_bytes'])} -> {_mb(cache['after_bytes'])} "
              f"(cap {_mb(cache['cap_bytes'])})")
        for folder in r["run_folders"]:
            print(f"  {verb} runs/{folder['id']}")
        for entry in cache["evicted"]:
            print(f"  {verb} cache/{entry['name']} ({_mb(entry['bytes'])})")
        for name in r["containers"]:
            print(f"  {verb} container {name}")
        for folder in r["kept_folders"]:
            print(f"  kept runs/{folder['id']}: {folder['why']}")
        if cache["protected"]:
            print(f"  kept {cache['protected']} cache file(s) a queued or kept run needs")
        for error in r["errors"]:
            print(f"  error: {error}", file=sys.stderr)
    return EXIT_FAILED if any(r["errors"] for r in reports) else EXIT_OK


def cmd_delete(s: Session, args: argparse.Namespace) -> int:
    from backend.accounts import DELETE

    s.require(DELETE)
    run_id = _resolve(s, args.run, ("run",))[1]
    items = s.ops.delete_preview(run_id)
    if not args.yes:
        if not sys.stdin.isatty():
            raise CliError(EXIT_USAGE, f"delete {run_id} would remove: " + "; ".join(items)
                           + ". Add --yes to confirm (stdin is not a terminal).")
        print("This removes:\n  " + "\n  ".join(items), file=sys.stderr)
        answer = input(f"Delete run {run_id}? [y/N] ").strip().lower()
        if answer not in ("y", "yes"):
            print("nothing deleted", file=sys.stderr)
            return EXIT_FAILED
    removed = s.ops.delete_run(run_id)
    if _json(args):
        fmt.dump({"deleted": run_id, "removed": removed})
    else:
        print("removed: " + "; ".join(removed))
    return EXIT_OK
