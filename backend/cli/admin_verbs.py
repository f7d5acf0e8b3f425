"""The verbs that control: kill, dequeue, doctor, worker, ui, user."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading

from backend.cli import format as fmt
from backend.cli.common import (CliError, EXIT_FAILED, EXIT_NOT_FOUND, EXIT_OK, EXIT_USAGE, _json, _resolve)
from backend.cli.progress import Session, follow

log = logging.getLogger("cosmos.cli")


def cmd_kill(s: Session, args: argparse.Namespace) -> int:
    from backend.accounts import KILL

    s.require(KILL)
    _, run_id = _resolve(s, args.run)
    run = s.ops.kill(run_id, force=args.force, grace=args.grace)
    grace = args.grace if args.grace is not None else s.settings.kill_grace
    how = "force (SIGKILL now)" if args.force else f"graceful (SIGTERM, SIGKILL after {grace} s)"
    if not args.wait:
        if _json(args):
            fmt.dump({"run": fmt.run_json(run)})
        else:
            print(f"kill requested for run {run.id} ({run.status}): {how}")
        if not s.ops.live_workers():
            print("note: no worker is running; the kill takes effect when the app or "
                  "`cosmos worker` starts (or use --wait)", file=sys.stderr)
        return EXIT_OK
    final = follow(s, run_id, bar=False)
    if _json(args):
        fmt.dump({"run": fmt.run_json(final)})
    else:
        print(f"run {final.id} {final.status}" + (f": {final.failure_cause}"
                                                  if final.failure_cause else ""))
    return EXIT_OK if final.status == "cancelled" else EXIT_FAILED


def cmd_dequeue(s: Session, args: argparse.Namespace) -> int:
    from backend.accounts import KILL

    s.require(KILL)
    _, run_id = _resolve(s, args.run)
    run = s.ops.dequeue(run_id)
    if _json(args):
        fmt.dump({"run": fmt.run_json(run)})
    else:
        print(f"run {run.id} dequeued ({run.status})")
    return EXIT_OK


def cmd_doctor(s: Session, args: argparse.Namespace) -> int:
    try:
        reports = s.ops.doctor(args.host or None)
    except KeyError as exc:
        raise CliError(EXIT_NOT_FOUND, f"no host {exc.args[0]} in {s.settings.config_path}; "
                       f"hosts: {', '.join(s.settings.hosts)}") from None
    if _json(args):
        fmt.dump({"ok": all(r["ok"] for r in reports), "hosts": reports})
    else:
        fmt.print_doctor(reports, sys.stdout)
    return EXIT_OK if all(r["ok"] for r in reports) else EXIT_FAILED


def cmd_worker(s: Session, args: argparse.Namespace) -> int:
    stop = threading.Event()

    def on_signal(signum, _frame) -> None:
        log.info("%s: stopping after this round", signal.Signals(signum).name)
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, on_signal)
    scheduler = s.backend.worker.start()
    others = [w for w in s.ops.live_workers() if w["id"] != scheduler.worker_id]
    print(f"worker {scheduler.worker_id} (pid {os.getpid()}) drives {s.settings.data_dir} for "
          f"host(s) {', '.join(s.settings.hosts)}"
          + (f"; {len(others)} other worker(s) share the queue" if others else "")
          + ("; exits when the queue has drained" if args.once else "; Ctrl-C stops it"),
          file=sys.stderr, flush=True)
    idle_rounds = 0
    while not stop.wait(0.5):
        if args.once:
            idle_rounds = idle_rounds + 1 if scheduler.idle() else 0
            if idle_rounds >= 2:  # twice in a row: a chained upscale appears just after a run
                print("queue drained", file=sys.stderr)
                break
    return EXIT_OK


def cmd_ui(args: argparse.Namespace) -> int:
    import launch  # noqa: PLC0415 - launch.py lives at the project root

    argv = ["--skip-install"]
    for flag, value in (("--config", args.config), ("--data-dir", args.data_dir),
                        ("--host", args.host), ("--port", args.port),
                        ("--log-level", args.log_level)):
        if value is not None:
            argv += [flag, str(value)]
    if args.share:
        argv.append("--share")
    if args.sign_in:
        argv.append("--sign-in")
    return launch.main(argv)


def _read_password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n")
    if not sys.stdin.isatty():
        raise CliError(EXIT_USAGE, "no terminal to ask for the password on; pipe it in with "
                       "--password-stdin")
    import getpass

    first = getpass.getpass(f"Password for {args.username}: ")
    if getpass.getpass("Again: ") != first:
        raise CliError(EXIT_USAGE, "the two passwords differ; nothing was changed")
    return first


def cmd_user(s: Session, args: argparse.Namespace) -> int:
    from backend import accounts

    try:
        if args.user_action == "add":
            accounts.add_user(args.username, _read_password(args), args.role)
            result = {"user": {"username": args.username, "role": args.role}}
            message = f"added {args.username} ({args.role})"
        elif args.user_action == "remove":
            accounts.remove_user(args.username)
            result = {"removed": args.username}
            message = f"removed {args.username}; every browser they were signed in on is " \
                      "signed out"
        elif args.user_action == "passwd":
            if accounts.users.find(args.username) is None:
                raise accounts.AccountError(f"No user named {args.username}.")
            ended = accounts.change_password(args.username, _read_password(args))
            result = {"user": args.username, "sessions_ended": ended}
            message = (f"changed the password of {args.username}; {ended} signed-in "
                       f"session(s) ended")
        else:
            users = accounts.list_users()
            result = {"users": [{"username": u, "role": r} for u, r in users]}
            message = "\n".join(f"{u}\t{r}" for u, r in users) or "no users (local use only)"
    except accounts.AccountError as exc:
        raise CliError(EXIT_USAGE, str(exc)) from None
    if _json(args):
        fmt.dump(result)
    else:
        print(message)
    return EXIT_OK
