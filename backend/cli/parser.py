"""The `cosmos` command's arguments: verbs, flags, their types and help.

Kept apart from backend/cli.py (which runs the verbs) so the whole command line can be read in
one place; `cosmos VERB --help` prints what is written here.
"""

from __future__ import annotations

import argparse
import os
import random

# what a person types: the word the UI shows (generation), or the stored one (inference)
RUN_TYPES = ("generation", "upscale", "enhance", "setup", "inference")
PRESETS = ("very_low", "low", "medium", "high", "very_high")
STATUSES = ("queued", "staging", "pending", "running", "collecting", "completed", "failed",
            "cancelled", "blocked")
USAGE_GROUPS = ("user", "host", "model")


def _pair(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name.strip() or not value.strip():
        raise argparse.ArgumentTypeError(f"expected CONTROL=VALUE, got {text!r}")
    return name.strip(), value.strip()


def _weight(text: str) -> tuple[str, float]:
    name, value = _pair(text)
    try:
        return name, float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"weight of {name} must be a number, got {value!r}") \
            from None


def _region(text: str) -> tuple[str, str]:
    what, sep, prompt = text.partition("=")
    if not sep or not what.strip() or not prompt.strip():
        raise argparse.ArgumentTypeError(f"expected WHERE=PROMPT, got {text!r}")
    return what.strip(), prompt.strip()


def _seed(text: str) -> int:
    if text == "random":
        return random.randrange(0, 2**32)
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number or 'random', got {text!r}") \
            from None


def _date(text: str) -> float:
    """A date (or date and time) in local time -> epoch seconds."""
    import time

    for pattern in ("%Y-%m-%d", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"):
        try:
            return time.mktime(time.strptime(text.strip(), pattern))
        except ValueError:
            continue
    raise argparse.ArgumentTypeError(f"expected a date such as 2026-11-01 (or "
                                     f"2026-11-01T09:30), got {text!r}")


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                        help="print the result as JSON (shapes: docs/cli-json.md)")

    parser = argparse.ArgumentParser(
        prog="cosmos", description="Cosmos Workflow Orchestrator: prompts, runs, queue and hosts "
        "from the terminal (the same runs the web app shows).",
        epilog="Exit codes: 0 ok, 1 failed (run failed/blocked/cancelled, check failed, action "
        "refused), 2 usage or validation error, 3 not found.")
    parser.add_argument("--config", default=os.environ.get("COSMOS_CONFIG"),
                        help="settings file (default: $COSMOS_CONFIG or config.toml of the app)")
    parser.add_argument("--data-dir", default=os.environ.get("COSMOS_DATA_DIR"),
                        help="database, uploads and outputs (overrides data_dir of the config)")
    parser.add_argument("--json", action="store_true", default=False,
                        help="print results as JSON (also accepted after the verb)")
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="log what happens (-vv for debug)")
    sub = parser.add_subparsers(dest="verb", metavar="VERB")

    create = sub.add_parser("create", help="store something (a prompt) to use later")
    what = create.add_subparsers(dest="what", metavar="WHAT", required=True)
    cp = what.add_parser("prompt", parents=[common], help="store a prompt")
    cp.add_argument("text", help="the prompt")
    cp.add_argument("--negative", help="negative prompt (default: the model's own)")
    cp.add_argument("--name", default="", help="a name to find it by")
    cp.add_argument("--model", metavar="ID", help="whose default negative prompt to store "
                    "(see `cosmos models`; default: the config's model)")

    models = sub.add_parser("models", parents=[common], help="the model profiles: controls, "
                            "GPU counts, VRAM, which hosts serve each")
    models.add_argument("id", nargs="?", help="only this model")

    gen = argparse.ArgumentParser(add_help=False)
    g = gen.add_argument_group("generation settings (defaults: the model's; Transfer1's from the "
                               "config's [generation]); each model refuses what it does not have")
    g.add_argument("--model", metavar="ID", help="the model profile (`cosmos models`; default: "
                   "the config's [generation] model)")
    g.add_argument("--negative", help="negative prompt")
    g.add_argument("--input", metavar="VIDEO", help="input video")
    g.add_argument("--control", metavar="CONTROL=VIDEO", type=_pair, action="append", default=[],
                   help="a control's own video (the model's controls: vis, edge, depth, seg, "
                   "keypoint for transfer1; edge, vis, depth, seg for transfer2.5); repeatable; "
                   "turns the control on at weight 1 unless --weight says otherwise")
    g.add_argument("--weight", metavar="CONTROL=W", type=_weight, action="append", default=[],
                   help="control weight 0..1; repeatable; when given, exactly the listed "
                   "controls are used (else the model's default weights)")
    g.add_argument("--seg-prompt", help="what the seg control should segment")
    g.add_argument("--variant", metavar="NAME", help="a model variant: 'distilled' (the "
                   "distilled edge model: 1 step on transfer1, 4 on transfer2.5)")
    g.add_argument("--mask", metavar="CONTROL=VIDEO", type=_pair, action="append", default=[],
                   help="transfer2.5: a binary mask video where the control applies")
    g.add_argument("--mask-prompt", metavar="CONTROL=TEXT", type=_pair, action="append",
                   default=[], help="transfer2.5: text SAM2 turns into the control's mask")
    g.add_argument("--ckpt", metavar="CONTROL=PATH", type=_pair, action="append", default=[],
                   help="transfer1: a post-trained ControlNet checkpoint (.pt) on the box")
    g.add_argument("--weight-map", metavar="CONTROL=FILE", type=_pair, action="append",
                   default=[], help="transfer1: a spatiotemporal weight map (.pt) for a control")
    g.add_argument("--weight-prompt", metavar="TEXT", help="transfer1: seg's "
                   "control_weight_prompt (SAM2 makes a binary weight mask from it)")
    g.add_argument("--region-box", metavar="X1,Y1,X2,Y2=PROMPT", type=_region,
                   action="append", default=[], help="transfer1: a regional prompt for a box "
                   "(fractions 0..1 of width and height); repeatable")
    g.add_argument("--region-mask", metavar="VIDEO=PROMPT", type=_region, action="append",
                   default=[], help="transfer1: a regional prompt for a mask video")
    g.add_argument("--region-prompt", metavar="OBJECTS=PROMPT", type=_region, action="append",
                   default=[], help="transfer1: a regional prompt for what SAM2 finds")
    g.add_argument("--batch-size", type=int, help="transfer1: items on the GPU at once in a "
                   "batch job (needs [scheduler] batching)")
    g.add_argument("--offload", metavar="FLAG", action="append", help="offload flag for this "
                   "run (repeatable; default: the host's); e.g. offload_guardrail_models")
    g.add_argument("--no-offload", action="store_true", help="no offload flags for this run")
    g.add_argument("--resolution", help="transfer2.5: output resolution (720, 480, ...)")
    g.add_argument("--max-frames", type=int, help="transfer2.5: frames read from the input")
    g.add_argument("--setting", metavar="KEY=VALUE", type=_pair, action="append", default=[],
                   help="a model-only setting (`cosmos models` lists each model's), e.g. "
                   "cosmos3: mode=text2video, checkpoint=Cosmos3-Edge, num_frames=93, "
                   "guardrails=off; repeatable")
    g.add_argument("--steps", type=int, help="diffusion steps (1-200)")
    g.add_argument("--guidance", type=float, help="classifier-free guidance (transfer1: 0-20; "
                   "transfer2.5: a whole number 0-7)")
    g.add_argument("--sigma-max", type=float, help="noise level (transfer1: 0-80, 80 ignores "
                   "the input's colours; transfer2.5: 0-200)")
    g.add_argument("--seed", type=_seed, help="a whole number, or 'random'")
    g.add_argument("--fps", type=int, help="transfer1: output fps (0: the input's, the "
                   "default); transfer2.5 always keeps the input's")
    g.add_argument("--blur", choices=(*PRESETS, "none"), help="vis blur strength preset "
                   "(none: cosmos3 only)")
    g.add_argument("--canny", choices=PRESETS, help="edge Canny threshold preset")
    g.add_argument("--gpus", type=int, help="GPUs for the run (transfer1: 1, 2, 4, 8; "
                   "transfer2.5: 1, 2, 3, 4, 6, 8)")
    g.add_argument("--host", help="where to run (a [hosts.<name>] of the config)")
    g.add_argument("--name", default="", help="a name for the run")
    g.add_argument("--wait", action="store_true", help="wait for the end with a progress bar; "
                   "the exit code tells how it ended")

    run = sub.add_parser("run", parents=[common, gen], help="queue a generation")
    run.add_argument("prompt", nargs="?", help="the prompt text (or use --prompt-id)")
    run.add_argument("--prompt-id", help="use a stored prompt (see `create prompt`)")
    run.add_argument("--priority", type=int, default=0,
                     help="queue priority -100..100 (default 0; higher starts first, FIFO within)")
    run.add_argument("--with-upscale", action="store_true",
                     help="upscale the result to 4K when the run completes")
    run.add_argument("--upscale-weight", type=float, help="the 4K upscaler's weight (0-1]")
    run.add_argument("--dry-run", action="store_true", help="print the docker command, job "
                     "script and spec that would be used; queue nothing")
    run.add_argument("--batch-with", metavar="VIDEO", action="append", default=[],
                     help="with --dry-run: show the batch job this run would share with the "
                     "same settings on these input videos (repeatable)")
    run.add_argument("--shot", default="", help="the shot this run is a version of (default: "
                     "the shot of its input video)")

    lst = sub.add_parser("list", parents=[common], help="list runs or prompts, newest first")
    lst.add_argument("what", choices=("runs", "prompts"))
    lst.add_argument("--status", action="append", default=[], choices=STATUSES,
                     help="only runs in this status (repeatable)")
    lst.add_argument("--type", action="append", default=[], choices=RUN_TYPES,
                     help="only runs of this type (repeatable; generation is stored as "
                     "inference, which is also accepted)")
    lst.add_argument("--host", action="append", default=[], help="only runs on this host")
    lst.add_argument("--owner", action="append", default=[], metavar="NAME",
                     help="only runs launched by this person (repeatable)")
    lst.add_argument("--mine", action="store_true",
                     help="only my runs (as the CLI's user: $COSMOS_USER, [cli] user, or the "
                     "OS login name)")
    lst.add_argument("--limit", type=int, default=25, help="at most this many (default 25)")
    lst.add_argument("--offset", type=int, default=0, help="skip this many (paging)")

    search = sub.add_parser("search", parents=[common],
                            help="full-text search over run names, prompts and stored prompts")
    search.add_argument("text")
    search.add_argument("--limit", type=int, default=25)

    show = sub.add_parser("show", parents=[common], help="one run or prompt in full")
    show.add_argument("id", help="a run or prompt id (or a unique start of one)")
    show.add_argument("--log", type=int, default=0, metavar="N", help="also print the last N "
                      "log lines")

    kill = sub.add_parser("kill", parents=[common], help="stop a started run's container")
    kill.add_argument("run")
    kill.add_argument("--force", action="store_true", help="SIGKILL at once")
    kill.add_argument("--grace", type=int, metavar="SECONDS",
                      help="seconds between SIGTERM and SIGKILL (default: the config's)")
    kill.add_argument("--wait", action="store_true", help="wait until it has ended")

    deq = sub.add_parser("dequeue", parents=[common], help="take a queued run out of the queue")
    deq.add_argument("run")

    status = sub.add_parser("status", parents=[common], help="workers, queue and runs in progress")
    status.add_argument("--stream", metavar="RUN", help="follow this run's log until it ends")

    usage = sub.add_parser("usage", parents=[common], help="GPU-hours, run counts and failure "
                           "rate per person, host or model")
    usage.add_argument("--by", choices=USAGE_GROUPS, default="user",
                       help="group by person (default), host or model")
    usage.add_argument("--since", metavar="DATE", type=_date,
                       help="only runs created on or after this date (YYYY-MM-DD, or "
                       "YYYY-MM-DDTHH:MM, local time)")

    up = sub.add_parser("upscale", parents=[common], help="upscale a completed run to 4K")
    up.add_argument("run")
    up.add_argument("--weight", type=float, help="the upscaler's weight (0-1], default 0.5")
    up.add_argument("--model", metavar="ID", help="the model that upscales (default: the first "
                    "model of the run's host with a 4K upscaler)")
    up.add_argument("--wait", action="store_true", help="wait for the end with a progress bar")

    enh = sub.add_parser("enhance", parents=[common, gen],
                         help="let Cosmos' prompt upsampler rewrite a prompt from a video")
    enh.add_argument("prompt", help="a prompt id, or the prompt text")

    doc = sub.add_parser("doctor", parents=[common], help="check each host is ready for runs")
    doc.add_argument("--host", action="append", default=[], help="only this host (repeatable)")

    setup = sub.add_parser("setup", parents=[common], help="get a box ready: remote_root, the "
                           "image (with its digest), the checkpoints, a manifest (a tracked "
                           "run of type setup: its log, Kill and history like any run)")
    setup.add_argument("host", help="a host of config.toml")
    setup.add_argument("--model", help="only this model of the host (default: every one it "
                       "serves)")
    setup.add_argument("--wait", action="store_true",
                       help="stream the setup's log until it ends (exit 1 if it failed)")

    prune = sub.add_parser("prune", parents=[common], help="free disk on the boxes: collected "
                           "run folders, the input cache (least recently used first), orphan "
                           "containers; never a live or queued run's files, never local outputs")
    prune.add_argument("--host", action="append", default=[], help="only this host (repeatable)")
    prune.add_argument("--older-than", type=float, metavar="DAYS",
                       help="remove run folders of runs that ended more than DAYS ago "
                       "(default: the host's retention_days; none if that is 0)")
    prune.add_argument("--cache-max-gb", type=float, metavar="N",
                       help="evict the input cache down to N GB (default: the host's "
                       "cache_max_gb; no cap if that is 0)")
    prune.add_argument("--dry-run", action="store_true", help="list what would go; remove nothing")

    delete = sub.add_parser("delete", parents=[common], help="delete a finished run: its "
                            "record, log, local files and its folder on the box (the UI's Delete)")
    delete.add_argument("run", help="a run id (or a unique prefix of 6+ characters)")
    delete.add_argument("--yes", action="store_true", help="do not ask for confirmation")

    worker = sub.add_parser("worker", help="run the scheduler in the foreground (until Ctrl-C)")
    worker.add_argument("--once", action="store_true",
                        help="exit when the queue has drained and no run is in progress")

    ui = sub.add_parser("ui", help="start the web app (same as python launch.py --skip-install)")
    ui.add_argument("--host", help="address to serve on (default from config: 127.0.0.1)")
    ui.add_argument("--port", type=int, help="port to serve on (default from config: 7860)")
    ui.add_argument("--share", action="store_true",
                    help="public Gradio share link (refused until sign-in exists)")
    ui.add_argument("--sign-in", action="store_true",
                    help="require sign-in even on 127.0.0.1 (always on with --share or another "
                    "--host)")
    ui.add_argument("--log-level", choices=["DEBUG", "INFO", "WARNING", "ERROR"])

    user = sub.add_parser("user", help="manage the people who may sign in (needed for --share)")
    user_sub = user.add_subparsers(dest="user_action", required=True)
    add = user_sub.add_parser("add", help="add a user; the password is asked for (or read from "
                              "stdin with --password-stdin), never given as an argument")
    add.add_argument("username")
    add.add_argument("--role", choices=("operator", "reviewer"), default="reviewer",
                     help="operator: everything; reviewer: watch, compare, rate and comment")
    add.add_argument("--password-stdin", action="store_true",
                     help="read the password from the first line of standard input")
    remove = user_sub.add_parser("remove", help="remove a user (their sessions end at once)")
    remove.add_argument("username")
    passwd = user_sub.add_parser("passwd", help="change a user's password; every browser "
                                 "signed in with the old one is signed out at once")
    passwd.add_argument("username")
    passwd.add_argument("--password-stdin", action="store_true",
                        help="read the new password from the first line of standard input")
    user_sub.add_parser("list", help="list users and their roles")

    from backend.cli.review_verbs import add_parsers as add_review_parsers
    add_review_parsers(sub, common)  # note, reply, notes, review, versions, report, link, ...
    from backend.cli.sweep_verbs import add_parsers as add_sweep_parsers
    add_sweep_parsers(sub, common, gen)  # sweep, sweeps, export grid
    from backend.cli.webhook_verbs import add_parsers as add_webhook_parsers
    add_webhook_parsers(sub, common)
    from backend.cli.prepare_verbs import add_parser as add_prepare_parser
    add_prepare_parser(sub, common)
    return parser
