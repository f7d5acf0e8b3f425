"""Watching a run from the terminal: `run --wait`'s progress bar and `status --stream`'s log.

Both read the store when the run's events say it changed (the scheduler that drives the run
may be this process, the app, or a `cosmos worker`: events of every process arrive here
through the relay), so they show exactly what the UI shows, as soon as it does. On a terminal
the bar is one line redrawn with \\r; into a file or a pipe it prints a plain line whenever
something visible changes (status, phase, clip, or another 10%), so logs stay readable.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
import time
from typing import IO, Any, Callable

from backend.cli import format as fmt
from backend.cli.format import PHASE_LABELS, STATUS_LABELS, duration
from backend.operations import Operations, RunSummary

#: Longest wait for an event before the store is read anyway (a missed event costs this).
FALLBACK = 1.0
BAR_WIDTH = 24
CLIP_PHASES = ("clip_encode", "clip_diffuse", "clip_decode")
#: After this long in the queue, `run --wait` says why it may be stuck.
QUEUED_HINT_AFTER = 30.0
EXIT_OK, EXIT_FAILED = 0, 1

log = logging.getLogger("cosmos.cli")


def estimate_eta(run: RunSummary, now: float | None = None) -> float | None:
    """Cosmos' own estimate once a clip is done; before that, elapsed time over progress."""
    p = run.progress or {}
    if p.get("eta_seconds") is not None:
        return float(p["eta_seconds"])
    fraction = float(p.get("fraction") or 0)
    if run.started_at and 0.05 <= fraction < 1:
        elapsed = (now or time.time()) - run.started_at
        return elapsed * (1 - fraction) / fraction
    return None


def bar_text(run: RunSummary, width: int | None = None, now: float | None = None, *,
             with_id: bool = True) -> str:
    """One line: `<id> running [#####-----]  42%  diffusing clip 1/2  ETA 0:12`."""
    p = run.progress or {}
    fraction = 1.0 if run.status == "completed" else min(1.0, float(p.get("fraction") or 0))
    filled = int(round(fraction * BAR_WIDTH))
    parts = [run.id] if with_id else []
    parts += [run.status, "[" + "#" * filled + "-" * (BAR_WIDTH - filled) + "]",
              f"{round(fraction * 100):3d}%"]
    if run.status in ("running", "staging") and p:
        phase = PHASE_LABELS.get(p.get("phase"), p.get("phase") or "")
        if p.get("phase") in CLIP_PHASES and p.get("clip") and p.get("n_clips"):
            phase += f" clip {p['clip']}/{p['n_clips']}"
        parts.append(phase + (f" ({p['detail']})" if p.get("detail") else ""))
    elif run.status in STATUS_LABELS:
        parts.append(STATUS_LABELS[run.status])
    elif run.status == "queued":
        parts.append("waiting for a worker and free GPUs")
    if not run.is_terminal and fraction < 0.99:
        eta = estimate_eta(run, now)
        if eta is not None:
            parts.append(f"ETA {duration(eta)}")
    text = "  ".join(parts)
    if width and len(text) > width - 1:
        text = text[:width - 2] + "…"
    return text


class ProgressBar:
    def __init__(self, out: IO[str], tty: bool | None = None) -> None:
        self.out = out
        self.tty = out.isatty() if tty is None else tty
        self._last_key: tuple | None = None
        self._drawn = False

    def update(self, run: RunSummary) -> None:
        p = run.progress or {}
        if self.tty:
            width = shutil.get_terminal_size((100, 20)).columns
            if not self._drawn:
                self.out.write(f"run {run.id} on {run.host}\n")
            self.out.write("\r" + bar_text(run, width, with_id=False) + "\x1b[K")
            self.out.flush()
            self._drawn = True
            return
        key = (run.status, p.get("phase"), p.get("clip"), int(10 * float(p.get("fraction") or 0)))
        if key != self._last_key:
            self._last_key = key
            self.out.write(bar_text(run) + "\n")
            self.out.flush()

    def finish(self) -> None:
        if self.tty and self._drawn:
            self.out.write("\n")
            self.out.flush()
            self._drawn = False


def wait_for_run(ops: Operations, run_id: str, bar: ProgressBar | None, *,
                 tick: Callable[[RunSummary], None] | None = None) -> RunSummary:
    """Show the run each time one of its events arrives, until it ends; `tick` runs each
    round (e.g. to start a worker)."""
    with ops.bus.listen(run_id=run_id) as events:
        try:
            while True:
                run = ops.get_run(run_id)
                if bar is not None:
                    bar.update(run)
                if run.is_terminal:
                    return run
                if tick is not None:
                    tick(run)
                events.wait(FALLBACK)
        finally:
            if bar is not None:
                bar.finish()


def wait_for_child(ops: Operations, run_id: str, run_type: str,
                   timeout: float = 15.0) -> RunSummary | None:
    """The run made from `run_id` (a chained upscale), which appears just after it ends."""
    deadline = time.monotonic() + timeout
    with ops.bus.listen(kinds=("status",)) as events:
        while True:
            children = [c for c in ops.children_of(run_id) if c.run_type == run_type]
            if children:
                return children[-1]
            if time.monotonic() > deadline:
                return None
            events.wait(min(FALLBACK, max(0.0, deadline - time.monotonic())))


def stream_log(ops: Operations, run_id: str, out: IO[str], *, as_json: bool = False,
               tick: Callable[[RunSummary], None] | None = None) -> RunSummary:
    """Print the run's stored log from the start and follow it until the run has ended,
    printing new lines as their events arrive.

    `as_json` prints JSON Lines instead: `{"seq": n, "line": text}` per log line.
    """
    seq = -1
    with ops.bus.listen(run_id=run_id) as events:
        while True:
            run = ops.get_run(run_id)  # the status first: lines stored before it ended count
            while True:
                lines = ops.log_since(run_id, seq, limit=2000)
                for seq, text in lines:
                    text = text.rstrip("\r\n")
                    out.write((json.dumps({"seq": seq, "line": text}, ensure_ascii=False)
                               if as_json else text) + "\n")
                if lines:
                    out.flush()
                if len(lines) < 2000:
                    break
            if run.is_terminal:
                return run
            if tick is not None:
                tick(run)
            events.wait(FALLBACK)


# -- one command's backend, and waiting for runs from it ----------------------------------
class Session:
    """The backend for one command: settings, store, operations and maybe a scheduler."""

    def __init__(self, args: argparse.Namespace) -> None:
        from backend.config import load_config
        from backend.wiring import start_backend

        self.args = args
        self.settings = load_config(args.config, data_dir=args.data_dir)
        self.backend = start_backend(self.settings, with_scheduler=False)
        self.ops = self.backend.ops
        self.owns_scheduler = False
        self._who = None

    @property
    def who(self):
        """Who this command acts as (README "Owners"): the CLI user, with their account's
        role when that name is an account."""
        if self._who is None:
            from backend import accounts

            try:
                name = self.ops.local_user
            except ValueError as exc:  # a malformed $COSMOS_USER
                from backend.cli.common import EXIT_USAGE, CliError

                raise CliError(EXIT_USAGE, str(exc)) from None
            self._who = accounts.cli_identity(name)
        return self._who

    def require(self, action: str) -> str:
        """The CLI user's name, if their role may do `action` (else exit 1 with why)."""
        from backend import accounts
        from backend.cli.common import EXIT_FAILED, CliError

        try:
            accounts.require(self.who, action)
        except accounts.Forbidden:
            raise CliError(EXIT_FAILED, f"{self.who.username} is a {self.who.role} account and "
                           f"may not {action}; ask an operator, or run as another user "
                           "(COSMOS_USER or [cli] user)") from None
        return self.who.username

    def ensure_worker(self) -> bool:
        """Start a scheduler here unless one is live somewhere; True if this one was started."""
        if self.backend.scheduler is not None or self.ops.live_workers():
            return False
        self.backend.worker.start()
        self.owns_scheduler = True
        log.info("no worker was running: started one in this process")
        return True

    def close(self) -> None:
        scheduler = self.backend.scheduler
        if scheduler is not None:
            left = [r.id for r in self.backend.store.runs_of_worker(scheduler.worker_id)]
            if left:
                print(f"note: {len(left)} other run(s) started here keep running on their boxes;"
                      " the next worker (`cosmos worker` or the app) follows them.",
                      file=sys.stderr)
            if not self.backend.worker.drain_notices():
                print("note: some webhook notices were not sent before this command ended "
                      "(`cosmos webhooks log RUN`)", file=sys.stderr)
        self.backend.close()


def follow(s: Session, run_id: str, *, bar: bool = True) -> Any:
    """Wait for a run with a progress bar on stderr, starting a worker if none is live."""
    from backend.cli.progress import ProgressBar, wait_for_run

    s.ensure_worker()
    state = {"checked": time.monotonic(), "hinted": False, "since": time.monotonic()}

    def tick(run) -> None:
        now = time.monotonic()
        if s.backend.scheduler is None and now - state["checked"] > 2:
            state["checked"] = now  # the worker we relied on may have gone: take over
            s.ensure_worker()
        if run.status != "queued":
            state["since"] = now
        elif now - state["since"] > QUEUED_HINT_AFTER and not state["hinted"]:
            state["hinted"] = True
            print(f"\nstill queued after {QUEUED_HINT_AFTER:.0f} s: the host's GPUs are busy, or "
                  f"no worker serves host {run.host} (see `cosmos status`)", file=sys.stderr)

    return wait_for_run(s.ops, run_id, ProgressBar(sys.stderr) if bar else None, tick=tick)


def ended(run) -> int:
    """Report how a waited-for run ended; the exit code."""
    if run.status == "completed":
        where = f": {run.output_path}" if run.output_path else ""
        print(f"run {run.id} completed{where}", file=sys.stderr)
        return EXIT_OK
    cause = run.failure_cause or "no cause recorded"
    print(f"run {run.id} {run.status}: {cause}", file=sys.stderr)
    if run.failure_evidence:
        print(f"  evidence: {fmt.short(run.failure_evidence, 300)}", file=sys.stderr)
    return EXIT_FAILED


def queued_note(s: Session, run) -> None:
    if not s.ops.live_workers():
        print(f"queued run {run.id}; no worker is running, so it starts when the app or "
              "`cosmos worker` runs (or use --wait)", file=sys.stderr)
