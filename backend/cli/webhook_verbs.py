"""`cosmos webhooks list | test [NAME] | log RUN`: what is configured, a test delivery with
what the endpoint answered, and a run's delivery log."""

from __future__ import annotations

import argparse
import sys

from backend.cli import format as fmt
from backend.cli.common import EXIT_FAILED, EXIT_OK, _json, _resolve
from backend.cli.progress import Session


def add_parsers(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    hooks = sub.add_parser("webhooks", help="the [[notify.webhooks]] of config.toml: list them, "
                           "send a test, read a run's delivery log")
    verbs = hooks.add_subparsers(dest="webhooks_action", required=True)
    verbs.add_parser("list", parents=[common], help="the configured webhooks (no addresses' "
                     "paths, no secrets)")
    test = verbs.add_parser("test", parents=[common], help="send a signed test notice and "
                            "print what the endpoint answered (exit 1 unless all said 2xx)")
    test.add_argument("name", nargs="?", help="only this webhook (default: every one)")
    log = verbs.add_parser("log", parents=[common], help="every delivery attempt for a run")
    log.add_argument("run", help="a run id (or a unique prefix of 6+ characters)")


def cmd_webhooks(s: Session, args: argparse.Namespace) -> int:
    from backend.accounts import HOSTS

    action = args.webhooks_action
    if action == "list":
        hooks = s.ops.webhooks()
        if _json(args):
            fmt.dump({"webhooks": hooks, "public_url": s.settings.notify.public_url})
        elif not hooks:
            print("no webhooks configured ([[notify.webhooks]] in config.toml)")
        else:
            fmt.table([[h["name"], h["format"], "yes" if h["signed"] else "no",
                        ",".join(h["events"]), h["address"]] for h in hooks],
                      ["NAME", "FORMAT", "SIGNED", "EVENTS", "ADDRESS"], sys.stdout)
        return EXIT_OK
    if action == "test":
        s.require(HOSTS)
        results = s.ops.test_webhook(args.name)
        if _json(args):
            fmt.dump({"results": results})
        elif not results:
            print("no webhooks configured ([[notify.webhooks]] in config.toml)")
        for r in results if not _json(args) else ():
            print(f"{r['webhook']}: {'ok' if r['ok'] else 'FAILED'} ({r['event']}): {r['said']}")
        return EXIT_OK if all(r["ok"] for r in results) else EXIT_FAILED
    _, run_id = _resolve(s, args.run)
    deliveries = s.ops.webhook_log(run_id)
    if _json(args):
        fmt.dump({"run_id": run_id, "deliveries": deliveries})
    elif not deliveries:
        print(f"no webhook deliveries for run {run_id}")
    for line in fmt.delivery_lines(deliveries) if not _json(args) else ():
        print(line)
    return EXIT_OK
