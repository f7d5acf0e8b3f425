"""The review room's verbs (issue 17): note, reply, notes, review, versions, report, link and
regenerate. Their arguments are declared here too (`add_parsers`), so the review room's whole
command line reads in one place."""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from pathlib import Path

from backend.cli import format as fmt
from backend.cli.common import (EXIT_OK, EXIT_USAGE, CliError, _json, _resolve)
from backend.cli.progress import Session, ended, follow

REVIEW_STATUSES = ("in_review", "needs_changes", "approved")


def _author(args: argparse.Namespace) -> str:
    """Who a note from the terminal is by: --author, else the login name."""
    if getattr(args, "author", None):
        return args.author
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "local"


def add_parsers(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    note = sub.add_parser("note", parents=[common], help="write a note on a frame (or range) "
                          "of a version")
    note.add_argument("run")
    note.add_argument("--frame", required=True, help="the frame, counted from 0")
    note.add_argument("--end-frame", help="the last frame of a range (inclusive)")
    note.add_argument("--text", default="", help="what the note says")
    note.add_argument("--drawing", help="shapes as JSON (see docs/cli-json.md), or @FILE")
    note.add_argument("--author", help="who writes it (default: your login name)")

    reply = sub.add_parser("reply", parents=[common], help="reply in a note's thread")
    reply.add_argument("note", type=int, help="the note's number (see `cosmos notes`)")
    reply.add_argument("--text", required=True)
    reply.add_argument("--author", help="who writes it (default: your login name)")

    notes = sub.add_parser("notes", parents=[common], help="a version's notes, by frame")
    notes.add_argument("run")

    review = sub.add_parser("review", parents=[common], help="set a version's review status")
    review.add_argument("run")
    review.add_argument("--status", required=True, choices=REVIEW_STATUSES)
    review.add_argument("--author", help="who sets it (default: your login name)")

    versions = sub.add_parser("versions", parents=[common],
                              help="the version stack of a run's shot (v1, v2, ...)")
    versions.add_argument("run")

    report = sub.add_parser("report", parents=[common], help="write a self-contained HTML "
                            "notes report of a version (or its whole shot)")
    report.add_argument("run")
    report.add_argument("-o", "--output", required=True, metavar="FILE")
    report.add_argument("--shot", action="store_true", help="every version of the run's shot")

    link = sub.add_parser("link", help="review links: versions shown to reviewers until expiry")
    link_sub = link.add_subparsers(dest="link_action", required=True)
    make = link_sub.add_parser("create", parents=[common], help="make a review link")
    make.add_argument("runs", nargs="+", metavar="RUN")
    make.add_argument("--expires", default="7d", help="how long it works: 3d, 12h, 90m "
                      "(default 7d; at most the config's [review] link_max_days)")
    make.add_argument("--title", default="", help="what reviewers see it called")
    make.add_argument("--passphrase-stdin", action="store_true",
                      help="read a passphrase reviewers must give from standard input")
    make.add_argument("--base-url", help="the app's address (default: from the config)")
    link_sub.add_parser("list", parents=[common], help="list review links")
    revoke = link_sub.add_parser("revoke", parents=[common], help="revoke a link at once")
    revoke.add_argument("id")

    regen = sub.add_parser("regenerate", parents=[common], help="queue a note's draft v+1: "
                           "its drawn region, as a mask, re-generated")
    regen.add_argument("note", type=int)
    regen.add_argument("--prompt", help="what the region should become (default: the note)")
    regen.add_argument("--wait", action="store_true", help="wait for the end")


def _drawing(text: str | None):
    if not text:
        return None
    if text.startswith("@"):
        try:
            text = Path(text[1:]).read_text(encoding="utf-8")
        except OSError as exc:
            raise CliError(EXIT_USAGE, f"--drawing {text}: {exc.strerror}") from None
    try:
        return json.loads(text)
    except ValueError:
        raise CliError(EXIT_USAGE, "--drawing is not valid JSON (a list of shapes)") from None


def cmd_note(s: Session, args: argparse.Namespace) -> int:
    _, run_id = _resolve(s, args.run)
    note = s.ops.add_note(run_id, author=_author(args), text=args.text, frame=args.frame,
                          end_frame=args.end_frame, drawing=_drawing(args.drawing))
    if _json(args):
        fmt.dump({"note": note})
    else:
        print(f"note {note['id']} on {note['where']} of run {run_id}")
    return EXIT_OK


def cmd_reply(s: Session, args: argparse.Namespace) -> int:
    reply = s.ops.reply(args.note, author=_author(args), text=args.text)
    if _json(args):
        fmt.dump({"reply": reply})
    else:
        print(f"reply {reply['id']} to note {reply['parent_id']}")
    return EXIT_OK


def cmd_notes(s: Session, args: argparse.Namespace) -> int:
    _, run_id = _resolve(s, args.run)
    notes = s.ops.notes(run_id)
    if _json(args):
        fmt.dump({"run_id": run_id, "notes": notes})
        return EXIT_OK
    if not notes:
        print(f"no notes on run {run_id}")
    for n in notes:
        state = " (resolved)" if n["resolved"] else ""
        drawn = f" [{len(n['drawing'])} shape(s)]" if n["drawing"] else ""
        print(f"#{n['id']} {n['where']} {n['author']} {fmt.when(n['created_at'])}{state}{drawn}")
        if n["text"]:
            print(f"    {n['text']}")
        for r in n["replies"]:
            print(f"    > {r['author']}: {r['text']}")
    return EXIT_OK


def cmd_review(s: Session, args: argparse.Namespace) -> int:
    _, run_id = _resolve(s, args.run)
    version = s.ops.set_review_status(run_id, args.status, username=_author(args))
    if _json(args):
        fmt.dump({"version": version})
    else:
        print(f"{version['label']} of its shot is now {args.status.replace('_', ' ')}")
    return EXIT_OK


def cmd_versions(s: Session, args: argparse.Namespace) -> int:
    _, run_id = _resolve(s, args.run)
    stack = s.ops.versions(run_id)
    if _json(args):
        fmt.dump(stack)
        return EXIT_OK
    name = stack["shot"]["name"] or "(unnamed: same input)"
    print(f"shot {name} · {len(stack['versions'])} version(s)")
    rows = [[("* " if v["run_id"] == run_id else "  ") + v["label"], v["run_id"], v["status"],
             v["review_status"] + (f" by {v['status_by']}" if v["status_by"] else ""),
             fmt.when(v["created_at"]), "latest" if v["is_latest"] else "",
             f"from note {v['source_note']}" if v["source_note"] else ""] for v in
            stack["versions"]]
    fmt.table(rows, ["VERSION", "RUN", "STATUS", "REVIEW", "CREATED", "", ""], sys.stdout)
    return EXIT_OK


def cmd_report(s: Session, args: argparse.Namespace) -> int:
    _, run_id = _resolve(s, args.run)
    out = s.ops.write_report(run_id, args.output, whole_shot=args.shot, made_by=_author(args))
    if _json(args):
        fmt.dump({"report": str(out)})
    else:
        print(out)
    return EXIT_OK


def cmd_link(s: Session, args: argparse.Namespace) -> int:
    from backend.operations.review_links import QUERY_KEY, parse_duration

    if args.link_action == "list":
        links = s.ops.review_links()
        if _json(args):
            fmt.dump({"links": links})
            return EXIT_OK
        rows = [[link["id"], link["state"], fmt.when(link["expires_at"]),
                 str(len(link["run_ids"])), "yes" if link["passphrase"] else "", link["title"]]
                for link in links]
        fmt.table(rows, ["ID", "STATE", "EXPIRES", "VERSIONS", "PASSPHRASE", "TITLE"],
                  sys.stdout)
        return EXIT_OK
    if args.link_action == "revoke":
        link = s.ops.revoke_review_link(args.id, _author(args))
        if _json(args):
            fmt.dump({"link": link})
        else:
            print(f"link {link['id']} is {link['state']}")
        return EXIT_OK
    try:
        seconds = parse_duration(args.expires)
    except ValueError as exc:
        raise CliError(EXIT_USAGE, f"--expires {exc}") from None
    passphrase = sys.stdin.readline().rstrip("\n") if args.passphrase_stdin else None
    runs = [_resolve(s, r)[1] for r in args.runs]
    link = s.ops.create_review_link(runs, expires_in=seconds, created_by=_author(args),
                                    title=args.title, passphrase=passphrase)
    base = args.base_url or f"http://{s.ops.settings.ui_host}:{s.ops.settings.ui_port}/"
    url = base.rstrip("/") + f"/?{QUERY_KEY}={link['token']}"
    if _json(args):
        fmt.dump({"link": dict(link, url=url)})
    else:
        print(url)
        print(f"link {link['id']}: {len(link['run_ids'])} version(s) until "
              f"{fmt.when(link['expires_at'])} (the URL is shown only now)", file=sys.stderr)
    return EXIT_OK


def cmd_regenerate(s: Session, args: argparse.Namespace) -> int:
    draft = s.ops.draft_from_note(args.note)
    run = s.ops.launch_draft(args.note, draft.params, region_prompt=args.prompt
                             if args.prompt is not None else draft.region_prompt)
    if not args.wait:
        if _json(args):
            fmt.dump({"run": fmt.run_json(run), "mask_video": draft.mask_video})
        else:
            print(run.id)
        return EXIT_OK
    final = follow(s, run.id)
    if _json(args):
        fmt.dump({"run": fmt.run_json(final), "mask_video": draft.mask_video})
    return ended(final)


VERBS = {"note": cmd_note, "reply": cmd_reply, "notes": cmd_notes, "review": cmd_review,
         "versions": cmd_versions, "report": cmd_report, "link": cmd_link,
         "regenerate": cmd_regenerate}
