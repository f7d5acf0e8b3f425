"""The verbs that look: list, search, show, status."""

from __future__ import annotations

import argparse
import json
import logging
import sys

from backend.cli import format as fmt
from backend.cli.common import (CliError, EXIT_OK, EXIT_USAGE, _json, _more, _resolve)
from backend.cli.progress import Session, ended

log = logging.getLogger("cosmos.cli")


def cmd_list(s: Session, args: argparse.Namespace) -> int:
    if args.limit < 1 or args.offset < 0:
        raise CliError(EXIT_USAGE, "--limit must be at least 1 and --offset at least 0")
    if args.what == "prompts":
        if args.status or args.type or args.host or args.owner or args.mine:
            raise CliError(EXIT_USAGE, "--status, --type, --host, --owner and --mine filter "
                           "runs, not prompts")
        prompts, total = s.ops.find_prompts(limit=args.limit, offset=args.offset)
        if _json(args):
            fmt.dump({"prompts": prompts, "total": total})
        else:
            fmt.table(fmt.prompt_rows(prompts), fmt.PROMPT_HEADERS, sys.stdout)
            _more(len(prompts), total, args.offset)
        return EXIT_OK
    from backend.store.history import RunFilter

    owners = list(args.owner) + ([s.who.username] if args.mine else [])
    from backend.models.params import run_type_of_name

    types = [run_type_of_name(t) for t in args.type]
    runs, total = s.ops.find_runs(RunFilter(statuses=args.status, run_types=types,
                                            hosts=args.host, owners=owners), limit=args.limit,
                                  offset=args.offset)
    if _json(args):
        fmt.dump({"runs": [fmt.run_json(r) for r in runs], "total": total})
    else:
        fmt.table(fmt.run_rows(runs), fmt.RUN_HEADERS, sys.stdout)
        _more(len(runs), total, args.offset)
    return EXIT_OK


def cmd_search(s: Session, args: argparse.Namespace) -> int:
    if not args.text.strip():
        raise CliError(EXIT_USAGE, "give some words to search for")
    runs, total = s.ops.search_runs(args.text, limit=args.limit)
    prompts, prompt_total = s.ops.find_prompts(args.text, limit=args.limit)
    if _json(args):
        fmt.dump({"runs": [fmt.run_json(r) for r in runs], "total_runs": total,
                  "prompts": prompts, "total_prompts": prompt_total})
        return EXIT_OK
    print(f"runs ({total})")
    fmt.table(fmt.run_rows(runs), fmt.RUN_HEADERS, sys.stdout)
    print(f"\nprompts ({prompt_total})")
    fmt.table(fmt.prompt_rows(prompts), fmt.PROMPT_HEADERS, sys.stdout)
    return EXIT_OK


def cmd_show(s: Session, args: argparse.Namespace) -> int:
    kind, full = _resolve(s, args.id, ("run", "prompt"))
    if kind == "prompt":
        prompt = s.ops.prompt_info(full)
        if _json(args):
            fmt.dump({"prompt": prompt})
        else:
            fmt.print_prompt(prompt, sys.stdout)
        return EXIT_OK
    run = s.ops.get_run(full)
    details = s.ops.run_details(full)
    if _json(args):
        fmt.dump({"run": fmt.run_detail_json(run, details)})
    else:
        fmt.print_run(run, details, sys.stdout)
        if args.log > 0:
            lines = s.ops.log_since(full, max(-1, run.log_lines - args.log - 1), args.log)
            print(f"-- last {len(lines)} log line(s) --")
            for _, text in lines:
                print(text)
    return EXIT_OK


def cmd_status(s: Session, args: argparse.Namespace) -> int:
    if args.stream:
        from backend.cli.progress import stream_log

        _, run_id = _resolve(s, args.stream)
        if not s.ops.live_workers() and not s.ops.get_run(run_id).is_terminal:
            print("note: no worker is running, so this run does not advance until the app or "
                  "`cosmos worker` starts", file=sys.stderr)
        final = stream_log(s.ops, run_id, sys.stdout, as_json=_json(args))
        if _json(args):  # JSON Lines: the log lines, then the run as it ended
            print(json.dumps({"run": fmt.run_json(final)}, ensure_ascii=False), flush=True)
        return ended(final)
    view = s.ops.queue_overview()
    if _json(args):
        fmt.dump({"workers": view["workers"], "counts": view["counts"],
                  "running": [fmt.run_json(r) for r in view["running"]],
                  "queued": [dict(fmt.run_json(r), wait_reason=view["waits"].get(r.id))
                             for r in view["queued"]],
                  "hosts": view["hosts"]})
    else:
        fmt.print_status(view, sys.stdout)
    return EXIT_OK


def cmd_usage(s: Session, args: argparse.Namespace) -> int:
    report = s.ops.usage(by=args.by, since=args.since)
    if _json(args):
        fmt.dump(report)
    else:
        fmt.print_usage(report, sys.stdout)
    return EXIT_OK
