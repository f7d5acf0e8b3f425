"""The sweep verbs (issue 18): sweep, sweeps, export grid. Their arguments are declared here
(`add_parsers`), reusing `cosmos run`'s generation settings, so a sweep takes every option a
run does and the axes on top."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from backend.cli import format as fmt
from backend.cli.common import (EXIT_FAILED, EXIT_NOT_FOUND, EXIT_OK, EXIT_USAGE, CliError,
                                _json, _params, _prompt_source)
from backend.cli.progress import Session, ended, follow, queued_note
from backend.sweeps.axes import CONFIRM_ABOVE, show


def _axis(text: str) -> tuple[str, str]:
    name, sep, values = text.partition("=")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"expected NAME=VALUES (e.g. edge=0.2,0.5,0.8 or "
                                         f"seed=1:4:1), got {text!r}")
    return name.strip(), values.strip()


def add_parsers(sub: argparse._SubParsersAction, common: argparse.ArgumentParser,
                gen: argparse.ArgumentParser) -> None:
    sweep = sub.add_parser(
        "sweep", parents=[common, gen], help="queue one request over 1-3 axes of values, as a "
        "grid of linked runs",
        description="Each --axis is NAME=VALUES. NAME: a control (its weight), guidance, "
        "sigma_max, seed, steps or model. VALUES: a comma list (0.2,0.5,0.8) whose items may "
        "be ranges start:stop:step, stop included when a step lands on it (0.2:0.8:0.3 is "
        "0.2, 0.5, 0.8; 0.1:0.3:0.1 is exactly 0.1, 0.2, 0.3); models are listed "
        "(model=transfer1,transfer2.5). The first axis is the grid's x, the second its y, "
        f"the third pages. Over {CONFIRM_ABOVE} runs needs --yes.")
    sweep.add_argument("prompt", nargs="?", help="the prompt text (or use --prompt-id)")
    sweep.add_argument("--axis", metavar="NAME=VALUES", type=_axis, action="append",
                       default=[], required=True, help="an axis (1 to 3; x, y, z in order)")
    sweep.add_argument("--prompt-id", help="use a stored prompt (see `create prompt`)")
    sweep.add_argument("--priority", type=int, default=0, help="queue priority -100..100")
    sweep.add_argument("--with-upscale", action="store_true",
                       help="upscale each result to 4K when its run completes")
    sweep.add_argument("--shot", default="", help="the shot its runs are versions of")
    sweep.add_argument("--dry-run", action="store_true",
                       help="list every planned run with its settings; queue nothing")
    sweep.add_argument("--yes", action="store_true",
                       help=f"confirm a sweep of more than {CONFIRM_ABOVE} runs")

    sweeps = sub.add_parser("sweeps", parents=[common], help="list sweeps (or one, with its "
                            "cells), newest first")
    sweeps.add_argument("id", nargs="?", help="one sweep's id (or a unique start of one)")
    sweeps.add_argument("--mine", action="store_true", help="only my sweeps")
    sweeps.add_argument("--limit", type=int, default=25, help="at most this many (default 25)")

    export = sub.add_parser("export", help="render something to a file")
    what = export.add_subparsers(dest="what", metavar="WHAT", required=True)
    grid = what.add_parser("grid", parents=[common], help="a sweep's grid as one MP4 with "
                           "its axis labels burnt in")
    grid.add_argument("sweep", help="a sweep id (or a unique start of one)")
    grid.add_argument("-o", "--output", required=True, metavar="FILE.mp4",
                      help="where to write the MP4")


def _sweep_id(s: Session, text: str) -> str:
    from backend.operations import NotFound

    try:
        return s.ops.resolve_sweep(text)
    except NotFound:
        raise CliError(EXIT_NOT_FOUND, f"no sweep {text} (`cosmos sweeps` lists them)") from None


def cmd_sweep(s: Session, args: argparse.Namespace) -> int:
    from backend.accounts import LAUNCH

    owner = s.require(LAUNCH)
    text, negative, prompt_id = _prompt_source(s, args.prompt, args.prompt_id)
    base = _params(s, args, text, negative)
    axes = s.ops.sweep_axes(args.axis, base.model)
    if args.dry_run:
        planned = s.ops.plan_sweep(base, axes, host=args.host, confirmed=args.yes)
        if _json(args):
            fmt.dump({"dry_run": {"count": len(planned), "axes": [a.to_dict() for a in axes],
                                  "runs": [p.to_dict() for p in planned]}})
            return EXIT_OK
        print(f"# dry run: nothing was queued. {len(planned)} runs over "
              + " x ".join(f"{a.name} ({len(a.values)})" for a in axes) + ":")
        model_swept = any(a.name == "model" for a in axes)
        headers = ["#", "X", "Y", "Z", *[a.name.upper() for a in axes],
                   *([] if model_swept else ["MODEL"]), "BATCH"]
        rows = []
        for i, p in enumerate(planned, 1):
            x, y, z = p.cell.coords
            rows.append([str(i), str(x), str(y), str(z),
                         *[show(p.cell.values[a.name]) for a in axes],
                         *([] if model_swept else [p.params.model]),
                         "-" if p.batch_group is None else str(p.batch_group + 1)])
        fmt.table(rows, headers, sys.stdout)
        print("# every run's settings (as `cosmos run --dry-run` would get them):")
        for i, p in enumerate(planned, 1):
            q = p.params
            weights = ",".join(f"{c}={show(float(w))}" for c, w in (q.weights or {}).items()
                               if float(w or 0) > 0)
            print(f"{i}: model={q.model} weights={weights or '-'} guidance={show(q.guidance)} "
                  f"seed={q.seed} sigma_max={show(q.sigma_max) if q.sigma_max is not None else '-'}"
                  f" steps={q.num_steps} input={q.input_video or '-'}")
        return EXIT_OK
    sweep = s.ops.launch_sweep(base, axes, name=args.name, host=args.host, owner=owner,
                               confirmed=args.yes, priority=args.priority, shot=args.shot,
                               with_upscale=args.with_upscale, prompt_id=prompt_id)
    code = EXIT_OK
    if args.wait:
        for cell in sweep["cells"]:
            print(f"cell {cell['label']}: run {cell['run_id']}", file=sys.stderr)
            if ended(follow(s, cell["run_id"])) != EXIT_OK:
                code = EXIT_FAILED
        sweep = s.ops.sweep(sweep["id"])
    if _json(args):
        fmt.dump({"sweep": sweep})
    else:
        print(sweep["id"])
        print(f"{len(sweep['cells'])} runs queued for sweep {sweep['id']}", file=sys.stderr)
        if not args.wait and sweep["cells"]:
            queued_note(s, s.ops.get_run(sweep["cells"][0]["run_id"]))
    return code


SWEEP_HEADERS = ["ID", "CREATED", "OWNER", "RUNS", "AXES", "STATUS", "NAME / PROMPT"]


def cmd_sweeps(s: Session, args: argparse.Namespace) -> int:
    if args.limit < 1:
        raise CliError(EXIT_USAGE, "--limit must be at least 1")
    if args.id:
        sweep = s.ops.sweep(_sweep_id(s, args.id))
        if _json(args):
            fmt.dump({"sweep": sweep})
            return EXIT_OK
        print(f"sweep {sweep['id']} by {sweep['owner']}: {sweep['name'] or sweep['prompt']}")
        for position, axis in zip("xyz", sweep["axes"]):
            print(f"  {position}: {axis['name']} = " + ", ".join(show(v) for v in axis["values"]))
        rows = [[str(c["x"]), str(c["y"]), str(c["z"]), c["label"], c["run_id"], c["status"],
                 c["failure_cause"] or ""] for c in sweep["cells"]]
        fmt.table(rows, ["X", "Y", "Z", "CELL", "RUN", "STATUS", "CAUSE"], sys.stdout)
        return EXIT_OK
    sweeps = s.ops.sweeps(limit=args.limit, owner=s.who.username if args.mine else None)
    if _json(args):
        fmt.dump({"sweeps": sweeps})
        return EXIT_OK
    import time

    rows = [[w["id"], time.strftime("%Y-%m-%d %H:%M", time.localtime(w["created_at"])),
             w["owner"], str(w["runs"]),
             " x ".join(f"{a['name']}({len(a['values'])})" for a in w["axes"]),
             ", ".join(f"{n} {k}" for k, n in sorted(w["statuses"].items())),
             (w["name"] or w["prompt"])[:50]] for w in sweeps]
    fmt.table(rows, SWEEP_HEADERS, sys.stdout)
    return EXIT_OK


def cmd_export(s: Session, args: argparse.Namespace) -> int:
    sweep_id = _sweep_id(s, args.sweep)
    out = Path(args.output)
    if out.suffix.lower() != ".mp4":
        raise CliError(EXIT_USAGE, f"-o {args.output}: the grid is an MP4; name the file "
                       "with .mp4")
    from backend.media import MediaError

    try:
        path = s.ops.export_grid(sweep_id, out)
    except (MediaError, OSError) as exc:
        raise CliError(EXIT_FAILED, f"could not write the grid to {out}: {exc}") from None
    if _json(args):
        fmt.dump({"export": {"sweep_id": sweep_id, "path": str(path.resolve())}})
    else:
        print(path)
    return EXIT_OK


VERBS = {"sweep": cmd_sweep, "sweeps": cmd_sweeps, "export": cmd_export}
