"""`cosmos setup HOST`: queue a setup run (a tracked job) and, with --wait, stream its log."""

from __future__ import annotations

import argparse
import json
import sys

from backend.cli import format as fmt
from backend.cli.common import EXIT_OK, _json
from backend.cli.progress import Session, ended, queued_note, stream_log


def cmd_setup(s: Session, args: argparse.Namespace) -> int:
    from backend.accounts import HOSTS, LAUNCH

    s.require(HOSTS)
    owner = s.require(LAUNCH)
    run = s.ops.setup(args.host, model=args.model, owner=owner)
    if not args.wait:
        if _json(args):
            fmt.dump({"run": fmt.run_json(run)})
        else:
            print(run.id)
            queued_note(s, run)
        return EXIT_OK
    s.ensure_worker()
    out = sys.stderr if _json(args) else sys.stdout
    final = stream_log(s.ops, run.id, out)
    code = ended(final)
    if _json(args):
        manifests = json.loads(final.recipe) if final.recipe and final.status == "completed" \
            else []
        fmt.dump({"run": fmt.run_json(final), "manifests": manifests})
    return code
