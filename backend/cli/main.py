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

import logging
import sys

from backend.cli.admin_verbs import (cmd_dequeue, cmd_doctor, cmd_kill, cmd_ui, cmd_user,
                                     cmd_worker)
from backend.cli.common import (EXIT_FAILED, EXIT_INTERRUPTED, EXIT_NOT_FOUND, EXIT_OK,
                                EXIT_USAGE, CliError, _err)
from backend.cli.launch_verbs import cmd_create, cmd_enhance, cmd_models, cmd_run, cmd_upscale
from backend.cli.parser import build_parser
from backend.cli.progress import Session
from backend.cli.query_verbs import cmd_list, cmd_search, cmd_show, cmd_status, cmd_usage
from backend.cli.retention_verbs import cmd_delete, cmd_prune
from backend.cli.review_verbs import VERBS as REVIEW_VERBS
from backend.cli.setup_verbs import cmd_setup
from backend.cli.sweep_verbs import VERBS as SWEEP_VERBS
from backend.cli.prepare_verbs import cmd_prepare
from backend.cli.webhook_verbs import cmd_webhooks

log = logging.getLogger("cosmos.cli")

__all__ = ["build_parser", "main"]


VERBS = {"create": cmd_create, "run": cmd_run, "list": cmd_list, "search": cmd_search,
         "show": cmd_show, "kill": cmd_kill, "dequeue": cmd_dequeue, "status": cmd_status,
         "upscale": cmd_upscale, "enhance": cmd_enhance, "doctor": cmd_doctor,
         "worker": cmd_worker, "user": cmd_user, "usage": cmd_usage, "models": cmd_models,
         "setup": cmd_setup, "prune": cmd_prune, "delete": cmd_delete, "webhooks": cmd_webhooks,
         "prepare": cmd_prepare, **REVIEW_VERBS, **SWEEP_VERBS}


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
