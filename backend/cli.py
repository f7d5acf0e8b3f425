"""The `cosmos` command. For now it knows `ui` and prints help; its full verbs come with the
scheduler/CLI issue and will go through `operations` like the UI does."""

from __future__ import annotations

import argparse
import sys


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cosmos", description="Cosmos Workflow Orchestrator")
    sub = parser.add_subparsers(dest="verb")
    ui = sub.add_parser("ui", help="start the web app (same as python launch.py)")
    ui.add_argument("rest", nargs=argparse.REMAINDER)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.verb == "ui":
        import launch  # noqa: PLC0415 - launch.py lives at the project root

        return launch.main(["--skip-install", *args.rest])
    parser.print_help()
    return 0 if args.verb is None else 2


if __name__ == "__main__":
    sys.exit(main())
