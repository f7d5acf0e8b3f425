"""The verbs that change or follow a container: run, stop, kill, rm, wait, logs.

Signals go to the container's process group (the supervisor made the container command a
group leader), so torchrun, the fake Cosmos and its ffmpeg all get them, and nothing outside
the container does. Every wait is a short poll of the state file, which the supervisor
rewrites atomically; polling keeps the engine a plain CLI with no daemon to keep alive.
"""

from __future__ import annotations

import logging
import os
import secrets
import signal
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import IO, Any

from . import supervisor
from .cliopts import FLAG, VALUE, build_table, parse
from .errors import CliError, NoSuchContainer
from .exit_watch import ExitWatch
from .names import random_name
from .runargs import container_env, parse_run
from .state import Store, is_active, is_alive, new_state, now_rfc3339

log = logging.getLogger(__name__)

#: Fallback poll of the state file when a process exit cannot be waited for directly.
POLL_SECONDS = 0.02


# ---- helpers ---------------------------------------------------------------------------------
def signal_container(state: dict[str, Any], sig: int) -> bool:
    """Send `sig` to the container's process group; False if it is not running."""
    pid = state.get("Pid")
    if state.get("Status") != "running" or not is_alive(pid, state.get("PidStart")):
        return False
    try:
        os.killpg(int(pid), sig)  # type: ignore[arg-type]
    except (ProcessLookupError, PermissionError):
        return False
    return True


def wait_exit(store: Store, cid: str, timeout: float | None) -> dict[str, Any] | None:
    """Block until the container is no longer active; returns its last known state.

    Wakes when the supervisor writes the state (inotify) or a container process exits
    (pidfds), so the exit is seen within a few ms, with nothing done while the container
    runs. A container removed meanwhile (`--rm`, `rm -f`) answers from its tombstone.
    """
    deadline = None if timeout is None else time.monotonic() + timeout
    with ExitWatch(store.dir(cid), POLL_SECONDS) as watch:
        while True:
            state = store.current_state(cid)
            if state is None:
                return store.tombstone(cid)
            if not is_active(state):
                return state
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                return state
            watch.follow(state)
            watch.pause(None if deadline is None else deadline - now)


def parse_signal(text: str) -> int:
    """`KILL`, `SIGKILL`, `kill` or `9` -> 9; docker's error for anything else."""
    name = text.strip().upper()
    if name.isdigit():
        number = int(name)
        if number in {s.value for s in signal.Signals}:
            return number
    else:
        sig = getattr(signal, name if name.startswith("SIG") else "SIG" + name, None)
        if isinstance(sig, signal.Signals):
            return int(sig)
    raise CliError(f"Error response from daemon: Invalid signal: {text}", 1)


def _write(out: IO[bytes], data: bytes) -> None:
    try:
        out.write(data)
        out.flush()
    except BrokenPipeError:
        raise SystemExit(0) from None


def _require_args(verb: str, refs: list[str]) -> None:
    if not refs:
        raise CliError(
            f"\"docker {verb}\" requires at least 1 argument.\nSee 'docker {verb} --help'.", 1
        )


def _for_each(refs: list[str], action: Any) -> int:
    """Run `action(ref)` for each ref, printing docker-style errors; exit 1 if any failed."""
    code = 0
    for ref in refs:
        try:
            line = action(ref)
        except CliError as exc:
            print(exc.message, file=sys.stderr)
            code = 1
            continue
        if line is not None:
            print(line, flush=True)
    return code


# ---- run -------------------------------------------------------------------------------------
def cmd_run(store: Store, args: list[str]) -> int:
    """`run [-d] ...`: create the container, start its supervisor, print the id or attach."""
    request = parse_run(args, dict(os.environ))
    store.ensure()
    cid = secrets.token_hex(32)
    name = request.name or random_name(lambda n: (store.names / n).exists())
    store.reserve_name(name, cid)
    try:
        config = request.config
        config["Name"] = "/" + name
        config["Created"] = now_rfc3339()
        env = container_env(cid, config, request.env, supervisor.shims_dir(store), dict(os.environ))
        config["Env"] = [f"{k}={v}" for k, v in env.items()]
        os.makedirs(config["WorkingDir"], exist_ok=True)  # docker creates a missing workdir
        store.create(cid, config, new_state())
    except BaseException:
        store.release_name(name, cid)
        raise
    log.info("created container %s (%s)", cid[:12], name)
    if request.detach:
        supervisor.spawn(store, cid)
        print(cid, flush=True)
        return 0
    # Attached: open the log before the container starts, as docker attaches before it starts.
    # A short `--rm` container may otherwise exit and be removed before we look, losing its
    # output and its exit code (the open file outlives the removal; the code is in the
    # tombstone).
    log_file = open(store.log_path(cid), "ab+")
    supervisor.spawn(store, cid)
    return _attach(store, cid, log_file)


def _attach(store: Store, cid: str, log_file: IO[bytes]) -> int:
    """Foreground `run`: stream the output, proxy SIGINT/SIGTERM, return the exit code."""

    def proxy(signum: int, _frame: Any) -> None:
        state = store.current_state(cid)
        if state:
            signal_container(state, signum)

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, proxy)
    log_file.seek(0)
    _follow(store, cid, tail=None, follow=True, fh=log_file)
    state = wait_exit(store, cid, None) or {}
    return int(state.get("ExitCode", 0))


# ---- stop / kill / rm / wait -------------------------------------------------------------
STOP_TABLE = build_table([("--time|-t", VALUE, "time"), ("--signal|-s", VALUE, "signal")])
KILL_TABLE = build_table([("--signal|-s", VALUE, "signal")])
RM_TABLE = build_table(
    [("--force|-f", FLAG, "force"), ("--volumes|-v", FLAG, "volumes"), ("--link|-l", FLAG, "link")]
)


def cmd_stop(store: Store, args: list[str]) -> int:
    """`stop [-t S] [-s SIG]`: signal, wait up to S seconds (default 10), then SIGKILL."""
    opts, refs = parse("stop", args, STOP_TABLE)
    _require_args("stop", refs)
    try:
        grace = float(opts.get("time", 10))  # type: ignore[arg-type]
    except ValueError:
        raise CliError(f"invalid argument \"{opts['time']}\" for \"-t, --time\" flag", 125) from None
    sig = parse_signal(str(opts.get("signal", "TERM")))

    def stop_one(ref: str) -> str:
        cid = store.resolve(ref)
        state = store.current_state(cid)
        if state and signal_container(state, sig):
            state = wait_exit(store, cid, max(grace, 0.0))
            if state and is_active(state):
                log.info("container %s ignored signal %d for %ss; killing", cid[:12], sig, grace)
                signal_container(state, signal.SIGKILL)
                wait_exit(store, cid, 10.0)
        elif state and is_active(state):
            wait_exit(store, cid, 2.0)  # exited a moment ago; let the supervisor record it
        return ref

    if len(refs) == 1:
        return _for_each(refs, stop_one)
    results: list[tuple[str, CliError | None]] = []

    def guarded(ref: str) -> tuple[str, CliError | None]:
        try:
            return stop_one(ref), None
        except CliError as exc:
            return ref, exc

    with ThreadPoolExecutor(max_workers=min(8, len(refs))) as pool:
        results = list(pool.map(guarded, refs))
    code = 0
    for ref, exc in results:
        if exc:
            print(exc.message, file=sys.stderr)
            code = 1
        else:
            print(ref, flush=True)
    return code


def cmd_kill(store: Store, args: list[str]) -> int:
    """`kill [-s SIG]` (default SIGKILL); a container that is not running is an error."""
    opts, refs = parse("kill", args, KILL_TABLE)
    _require_args("kill", refs)
    sig = parse_signal(str(opts.get("signal", "KILL")))

    def kill_one(ref: str) -> str:
        try:
            cid = store.resolve(ref)
        except NoSuchContainer:
            raise CliError(
                f"Error response from daemon: Cannot kill container: {ref}: "
                f"No such container: {ref}", 1
            ) from None
        state = store.current_state(cid)
        if not state or not signal_container(state, sig):
            raise CliError(
                f"Error response from daemon: Cannot kill container: {ref}: "
                f"Container {cid} is not running", 1
            )
        if sig == signal.SIGKILL:
            wait_exit(store, cid, 5.0)  # SIGKILL cannot be caught: report the exit promptly
        return ref

    return _for_each(refs, kill_one)


def cmd_rm(store: Store, args: list[str]) -> int:
    """`rm [-f]`: remove; a running container needs -f (then it is killed first)."""
    opts, refs = parse("rm", args, RM_TABLE)
    _require_args("rm", refs)

    def rm_one(ref: str) -> str:
        cid = store.resolve(ref)
        state = store.current_state(cid)
        if state and is_active(state):
            if not opts.get("force"):
                raise CliError(
                    f"Error response from daemon: You cannot remove a running container {cid}. "
                    "Stop the container before attempting removal or force remove", 1
                )
            signal_container(state, signal.SIGKILL)
            wait_exit(store, cid, 10.0)
        store.remove(cid)
        return ref

    return _for_each(refs, rm_one)


def cmd_wait(store: Store, args: list[str]) -> int:
    """`wait`: block until each container exits; print its exit code."""
    _, refs = parse("wait", args, {})
    _require_args("wait", refs)

    def wait_one(ref: str) -> str:
        cid = store.resolve(ref)
        state = wait_exit(store, cid, None) or {}
        return str(state.get("ExitCode", 0))

    return _for_each(refs, wait_one)


# ---- logs ------------------------------------------------------------------------------------
LOGS_TABLE = build_table(
    [
        ("--follow|-f", FLAG, "follow"),
        ("--tail|-n", VALUE, "tail"),
        ("--timestamps|-t", FLAG, "timestamps"),
        ("--since", VALUE, "since"),
        ("--until", VALUE, "until"),
        ("--details", FLAG, "details"),
    ]
)


def cmd_logs(store: Store, args: list[str]) -> int:
    """`logs [-f] [--tail N] C`: the container's combined output; -f follows until exit."""
    opts, refs = parse("logs", args, LOGS_TABLE)
    if len(refs) != 1:
        raise CliError("\"docker logs\" requires exactly 1 argument.\nSee 'docker logs --help'.", 1)
    for unsupported in ("timestamps", "since", "until"):
        if opts.get(unsupported):
            raise CliError(f"cosmos-sim: logs --{unsupported} is not supported", 125)
    tail_text = str(opts.get("tail", "all"))
    tail: int | None = None
    if tail_text != "all":
        try:
            tail = int(tail_text)
        except ValueError:
            raise CliError(f"invalid argument \"{tail_text}\" for \"-n, --tail\" flag", 125) from None
        tail = None if tail < 0 else tail
    cid = store.resolve(refs[0])
    _follow(store, cid, tail, bool(opts.get("follow")))
    return 0


def _follow(store: Store, cid: str, tail: int | None, follow: bool,
            fh: IO[bytes] | None = None) -> None:
    """Print the log (last `tail` lines) and, when following, new output until the exit;
    from `fh` when the caller opened the log already."""
    out = sys.stdout.buffer
    if fh is None:
        try:
            fh = open(store.log_path(cid), "rb")
        except FileNotFoundError:
            raise NoSuchContainer(cid) from None
    with fh:
        data = fh.read()
        if tail is not None:
            lines = data.splitlines(keepends=True)
            data = b"".join(lines[-tail:]) if tail else b""
        _write(out, data)
        while follow:
            chunk = fh.read()
            if chunk:
                _write(out, chunk)
                continue
            state = store.current_state(cid)
            if state is None or not is_active(state):
                _write(out, fh.read())  # whatever arrived before the exit was recorded
                return
            time.sleep(POLL_SECONDS * 2)
