"""The `cosmos` command: everything the web app does, from a terminal or a script.

It goes through `backend.operations` exactly like the UI, so a run made here is the same run the
app shows. Runs are executed by whichever scheduler drives the data directory (the app, or
`cosmos worker`); `run --wait` starts one in this process when none is running.

Exit codes: 0 done; 1 the thing failed (a run ended failed/blocked/cancelled, a doctor check
failed, the action was refused in the run's current state); 2 usage or validation error;
3 not found; 130 interrupted. Errors go to stderr with their cause. `--json` output is stable
and documented in docs/cli-json.md.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
from pathlib import Path

from backend.cli import format as fmt
from backend.cli.parser import build_parser
from backend.cli.progress import Session, ended, follow, queued_note

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_NOT_FOUND, EXIT_INTERRUPTED = 0, 1, 2, 3, 130

log = logging.getLogger("cosmos.cli")

__all__ = ["build_parser", "main"]


class CliError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


def _json(args: argparse.Namespace) -> bool:
    return bool(getattr(args, "json", False))


def _err(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)


# -- verbs ------------------------------------------------------------------------------------
def _params(s: Session, args: argparse.Namespace, prompt: str, stored_negative: str | None):
    """GenerationParams from the config's defaults and the command line (--negative wins over
    a stored prompt's negative)."""
    from backend.models.transfer1.params import CONTROLS

    p = s.ops.default_params()
    p.prompt = prompt
    if args.negative is not None:
        p.negative_prompt = args.negative
    elif stored_negative is not None:
        p.negative_prompt = stored_negative
    p.input_video = args.input
    if args.weight:
        p.weights = {c: 0.0 for c in CONTROLS}
        p.weights.update(dict(args.weight))
    p.control_videos = dict(args.control)
    for control in p.control_videos:
        if control not in dict(args.weight):
            p.weights[control] = 1.0
    for attr, value in (("seg_prompt", args.seg_prompt), ("num_steps", args.steps),
                        ("guidance", args.guidance), ("sigma_max", args.sigma_max),
                        ("seed", args.seed), ("blur_strength", args.blur),
                        ("canny_threshold", args.canny), ("num_gpus", args.gpus)):
        if value is not None:
            setattr(p, attr, value)
    if args.fps is not None:
        p.fps = args.fps or None
    if getattr(args, "upscale_weight", None) is not None:
        p.upscale_weight = args.upscale_weight
    for name in ("input_video",):
        value = getattr(p, name)
        if value and not Path(value).exists():
            raise CliError(EXIT_USAGE, f"--input {value}: no such file")
    for control, video in p.control_videos.items():
        if not Path(video).exists():
            raise CliError(EXIT_USAGE, f"--control {control}={video}: no such file")
    return p


def _prompt_source(s: Session, text: str | None, prompt_id: str | None) -> tuple[str, str | None,
                                                                                  str | None]:
    """(text, stored negative or None, prompt id) from prompt text or a stored prompt."""
    if prompt_id:
        try:
            kind, full = s.ops.resolve_id(prompt_id, kinds=("prompt",))
        except KeyError:
            raise CliError(EXIT_NOT_FOUND, f"no prompt {prompt_id}") from None
        prompt = s.ops.prompt_info(full)
        return prompt["text"], prompt["negative_prompt"], full
    if text is None:
        raise CliError(EXIT_USAGE, "give the prompt text, or --prompt-id of a stored prompt")
    return text, None, None


def _resolve(s: Session, text: str, kinds: tuple[str, ...] = ("run",)) -> tuple[str, str]:
    try:
        return s.ops.resolve_id(text, kinds)
    except KeyError:
        raise CliError(EXIT_NOT_FOUND, f"no {' or '.join(kinds)} {text}") from None


def cmd_create(s: Session, args: argparse.Namespace) -> int:
    prompt = s.ops.create_prompt(args.text, args.negative, args.name)
    if _json(args):
        fmt.dump({"prompt": prompt})
    else:
        print(prompt["id"])
    return EXIT_OK


def cmd_run(s: Session, args: argparse.Namespace) -> int:
    text, negative, prompt_id = _prompt_source(s, args.prompt, args.prompt_id)
    params = _params(s, args, text, negative)
    if args.dry_run:
        plan = s.ops.dry_run(params, args.host)
        if _json(args):
            fmt.dump({"dry_run": plan})
            return EXIT_OK
        print(f"# dry run: nothing was queued. Run id {plan['run_id']}, GPUs "
              f"{','.join(map(str, plan['gpus']))} and port {plan['master_port']} are provisional"
              f" (a real launch gets its own).\n# docker command on {plan['host']}:")
        print(plan["command"])
        print(f"# job script ({plan['files']['job_script']}):")
        print(plan["job_script"], end="")
        print(f"# spec ({plan['files']['spec']}):")
        print(plan["spec_json"], end="")
        return EXIT_OK
    run = s.ops.launch(params, name=args.name, host=args.host, prompt_id=prompt_id,
                       with_upscale=args.with_upscale, priority=args.priority)
    if not args.wait:
        if _json(args):
            fmt.dump({"run": fmt.run_json(run)})
        else:
            print(run.id)
            queued_note(s, run)
        return EXIT_OK
    final = follow(s, run.id)
    code = ended(final)
    upscale = None
    if args.with_upscale and final.status == "completed":
        from backend.cli.progress import wait_for_child

        child = wait_for_child(s.ops, final.id, "upscale")
        if child is None:
            _err(f"run {final.id} completed but its 4K upscale was not queued")
            code = EXIT_FAILED
        else:
            print(f"upscaling to 4K: run {child.id}", file=sys.stderr)
            upscale = follow(s, child.id)
            code = ended(upscale)
    if _json(args):
        fmt.dump({"run": fmt.run_json(final),
                  "upscale": fmt.run_json(upscale) if upscale else None})
    else:
        print(final.id if upscale is None else upscale.id)
    return code


def cmd_list(s: Session, args: argparse.Namespace) -> int:
    if args.limit < 1 or args.offset < 0:
        raise CliError(EXIT_USAGE, "--limit must be at least 1 and --offset at least 0")
    if args.what == "prompts":
        if args.status or args.type or args.host:
            raise CliError(EXIT_USAGE, "--status, --type and --host filter runs, not prompts")
        prompts, total = s.ops.find_prompts(limit=args.limit, offset=args.offset)
        if _json(args):
            fmt.dump({"prompts": prompts, "total": total})
        else:
            fmt.table(fmt.prompt_rows(prompts), fmt.PROMPT_HEADERS, sys.stdout)
            _more(len(prompts), total, args.offset)
        return EXIT_OK
    from backend.store.history import RunFilter

    runs, total = s.ops.find_runs(RunFilter(statuses=args.status, run_types=args.type,
                                            hosts=args.host), limit=args.limit,
                                  offset=args.offset)
    if _json(args):
        fmt.dump({"runs": [fmt.run_json(r) for r in runs], "total": total})
    else:
        fmt.table(fmt.run_rows(runs), fmt.RUN_HEADERS, sys.stdout)
        _more(len(runs), total, args.offset)
    return EXIT_OK


def _more(shown: int, total: int, offset: int) -> None:
    if offset + shown < total:
        print(f"({shown} of {total} shown; --offset {offset + shown} for more)", file=sys.stderr)


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


def cmd_kill(s: Session, args: argparse.Namespace) -> int:
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
    _, run_id = _resolve(s, args.run)
    run = s.ops.dequeue(run_id)
    if _json(args):
        fmt.dump({"run": fmt.run_json(run)})
    else:
        print(f"run {run.id} dequeued ({run.status})")
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
                  "queued": [fmt.run_json(r) for r in view["queued"]],
                  "hosts": view["hosts"]})
    else:
        fmt.print_status(view, sys.stdout)
    return EXIT_OK


def cmd_upscale(s: Session, args: argparse.Namespace) -> int:
    _, run_id = _resolve(s, args.run)
    run = s.ops.upscale(run_id, args.weight)
    if args.wait:
        run = follow(s, run.id)
        code = ended(run)
    else:
        code = EXIT_OK
    if _json(args):
        fmt.dump({"run": fmt.run_json(run)})
    else:
        print(run.id)
        if not args.wait:
            queued_note(s, run)
    return code


def cmd_enhance(s: Session, args: argparse.Namespace) -> int:
    try:
        kind, prompt_id = s.ops.resolve_id(args.prompt, kinds=("prompt",))
    except KeyError:
        prompt_id = None
    except ValueError:  # an ambiguous prefix is prompt text here
        prompt_id = None
    text, negative, prompt_id = _prompt_source(s, args.prompt, prompt_id)
    params = _params(s, args, text, negative)
    run = s.ops.enhance(params, host=args.host, name=args.name, prompt_id=prompt_id)
    code, new_prompt = EXIT_OK, None
    if args.wait:
        run = follow(s, run.id)
        code = ended(run)
        if run.result_prompt_id:
            new_prompt = s.ops.prompt_info(run.result_prompt_id)
        elif run.status == "completed":
            _err(f"run {run.id} completed but produced no enhanced prompt")
            code = EXIT_FAILED
    if _json(args):
        fmt.dump({"run": fmt.run_json(run), "prompt": new_prompt})
    elif new_prompt:
        print(f"{new_prompt['id']}\n{new_prompt['text']}")
    else:
        print(run.id)
        if not args.wait:
            queued_note(s, run)
    return code


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
    from backend.runs.scheduler import Scheduler

    stop = threading.Event()

    def on_signal(signum, _frame) -> None:
        log.info("%s: stopping after this round", signal.Signals(signum).name)
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, on_signal)
    scheduler = Scheduler(s.settings, s.backend.store, s.backend.bus)
    scheduler.start()
    s.backend.scheduler = scheduler
    s.ops.scheduler = scheduler
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
            message = f"removed {args.username}"
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


VERBS = {"create": cmd_create, "run": cmd_run, "list": cmd_list, "search": cmd_search,
         "show": cmd_show, "kill": cmd_kill, "dequeue": cmd_dequeue, "status": cmd_status,
         "upscale": cmd_upscale, "enhance": cmd_enhance, "doctor": cmd_doctor,
         "worker": cmd_worker, "user": cmd_user}


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.verb is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    if args.verb == "ui":
        return cmd_ui(args)
    level = logging.DEBUG if args.verbose > 1 else logging.INFO if (
        args.verbose or args.verb == "worker") else logging.WARNING
    logging.basicConfig(level=level, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from backend.config import ConfigError
    from backend.operations import NotFound, Refused, ValidationFailed

    session = None
    try:
        session = Session(args)
        return VERBS[args.verb](session, args)
    except ConfigError as exc:
        _err(str(exc))
        return EXIT_USAGE
    except ValidationFailed as exc:
        for error in exc.errors:
            _err(f"{error.field}: {error.message}")
        return EXIT_USAGE
    except CliError as exc:
        _err(str(exc))
        return exc.code
    except NotFound as exc:
        _err(f"not found: {exc.args[0] if exc.args else ''}")
        return EXIT_NOT_FOUND
    except Refused as exc:
        _err(str(exc))
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("\ninterrupted; runs already queued or started go on (`cosmos status`)",
              file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return EXIT_OK
    except Exception as exc:  # a bug: say what, and where with -v
        log.debug("unexpected error", exc_info=True)
        _err(f"{type(exc).__name__}: {exc} (run with -vv for the traceback)")
        return EXIT_FAILED
    finally:
        if session is not None:
            session.close()


if __name__ == "__main__":
    sys.exit(main())
