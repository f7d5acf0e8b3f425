"""The verbs that queue work: create, run, upscale, enhance."""

from __future__ import annotations

import argparse
import sys

from backend.cli import format as fmt
from backend.cli.common import (EXIT_FAILED, EXIT_OK, EXIT_USAGE, CliError, _err, _json,
                                _params, _prompt_source, _resolve)
from backend.cli.progress import Session, ended, follow, queued_note


def _warn(s: Session, params) -> None:
    for warning in s.ops.warnings(params):
        print(f"warning: {warning.field}: {warning.message}", file=sys.stderr)


def cmd_create(s: Session, args: argparse.Namespace) -> int:
    negative = args.negative
    if negative is None and args.model:
        from backend.operations import NotFound

        try:
            negative = s.ops.default_params(args.model).negative_prompt
        except NotFound:
            raise CliError(EXIT_USAGE, f"--model {args.model}: no such model (`cosmos "
                           "models` lists them)") from None
    prompt = s.ops.create_prompt(args.text, negative, args.name)
    if _json(args):
        fmt.dump({"prompt": prompt})
    else:
        print(prompt["id"])
    return EXIT_OK


def cmd_run(s: Session, args: argparse.Namespace) -> int:
    from backend.accounts import LAUNCH

    owner = s.require(LAUNCH)
    text, negative, prompt_id = _prompt_source(s, args.prompt, args.prompt_id)
    params = _params(s, args, text, negative)
    if args.batch_with and not args.dry_run:
        raise CliError(EXIT_USAGE, "--batch-with only goes with --dry-run (the queue batches "
                       "real runs by itself when [scheduler] batching is on)")
    if args.dry_run:
        others = []
        for video in args.batch_with:
            other = _params(s, args, text, negative)
            other.input_video = video
            others.append(other)
        plan = s.ops.dry_run(params, args.host, batch_with=others, owner=owner)
        if _json(args):
            fmt.dump({"dry_run": plan})
            return EXIT_OK
        print(f"# dry run ({plan['model']}): nothing was queued. Owner {plan['owner']}. Run id "
              f"{plan['run_id']}, GPUs "
              f"{','.join(map(str, plan['gpus']))} and port {plan['master_port']} are provisional"
              f" (a real launch gets its own).\n# docker command on {plan['host']}:")
        print(plan["command"])
        from backend.models.profile import plan_text

        print(f"# plan: {plan_text(plan['plan'])}")
        print(f"# job script ({plan['files']['job_script']}):")
        print(plan["job_script"], end="")
        folder = plan["files"]["run_dir"]
        for name, content in plan["spec_files"].items():
            print(f"# {name} ({folder}/{name}):")
            print(content, end="" if content.endswith("\n") else "\n")
        for warning in plan["warnings"]:
            print(f"warning: {warning['field']}: {warning['message']}", file=sys.stderr)
        return EXIT_OK
    if args.wait:  # the worker (and its webhooks) hear the run's `queued` too
        s.ensure_worker()
    run = s.ops.launch(params, name=args.name, host=args.host, prompt_id=prompt_id,
                       with_upscale=args.with_upscale, priority=args.priority, owner=owner,
                       shot=getattr(args, "shot", ""))
    _warn(s, params)
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


def cmd_upscale(s: Session, args: argparse.Namespace) -> int:
    from backend.accounts import UPSCALE

    owner = s.require(UPSCALE)
    _, run_id = _resolve(s, args.run)
    run = s.ops.upscale(run_id, args.weight, model=args.model, owner=owner)
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
    from backend.accounts import ENHANCE

    owner = s.require(ENHANCE)
    try:
        kind, prompt_id = s.ops.resolve_id(args.prompt, kinds=("prompt",))
    except KeyError:
        prompt_id = None
    except ValueError:  # an ambiguous prefix is prompt text here
        prompt_id = None
    text, negative, prompt_id = _prompt_source(s, args.prompt, prompt_id)
    params = _params(s, args, text, negative)
    run = s.ops.enhance(params, host=args.host, name=args.name, prompt_id=prompt_id,
                        owner=owner)
    _warn(s, params)
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


def cmd_models(s: Session, args: argparse.Namespace) -> int:
    models = s.ops.models()
    if args.id:
        models = [m for m in models if m["id"] == args.id]
        if not models:
            raise CliError(3, f"no model {args.id}; `cosmos models` lists them")
    if _json(args):
        fmt.dump({"models": models})
        return EXIT_OK
    fmt.table(fmt.model_rows(models), fmt.MODEL_HEADERS, sys.stdout)
    if args.id:
        fmt.print_model(models[0], sys.stdout)
    return EXIT_OK
