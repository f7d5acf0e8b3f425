"""cosmos-sim: a docker-compatible command whose containers are host processes.

    cosmos-sim [--root DIR] <verb> [options] [args]

Verbs: run, ps, inspect, logs, stop, kill, rm, wait, images, image, pull, version, info, and
`container <verb>` aliases. The state root is `--root`, else env COSMOS_SIM_ROOT, else
`~/.cache/cosmos-sim`. Exit codes follow docker: 0 ok, 1 daemon errors (no such container,
not running, ...), 125 CLI/run errors, 126/127 when the container command cannot start.

It exists so a user without a GPU (and the tests) can run the whole workflow: the
orchestrator's docker layer talks to it exactly as to `docker`, local or over SSH.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from importlib import import_module
from pathlib import Path

from . import SIM_VERSION
from .errors import CliError
from .state import Store

log = logging.getLogger("cosmos_sim")

USAGE = f"""Usage:  cosmos-sim [--root DIR] COMMAND

cosmos-sim {SIM_VERSION}: a docker-compatible engine whose containers are host processes,
with a CPU stand-in for NVIDIA Cosmos-Transfer1 (torchrun + transfer.py).

Commands:
  run       Run a command in a new container (-d to detach)
  ps        List containers
  inspect   Return low-level information on containers
  logs      Fetch the logs of a container (-f to follow)
  stop      Stop one or more running containers (SIGTERM, then SIGKILL after -t seconds)
  kill      Kill one or more running containers (default SIGKILL)
  rm        Remove one or more containers (-f to kill first)
  wait      Block until containers stop, then print their exit codes
  images    List images (the simulator has every image)
  image     image inspect | ls | pull
  pull      Pretend to pull an image
  version   Show the cosmos-sim version
  info      Display system-wide information
  nvidia-smi  The simulated GPUs, answering nvidia-smi's --query-gpu/--format=csv queries

Global options:
  --root DIR   State folder (env COSMOS_SIM_ROOT, default ~/.cache/cosmos-sim)
"""

Verb = Callable[[Store, list[str]], int]
#: verb -> (module, function). A verb's module is imported only when that verb runs: the
#: orchestrator starts this engine thousands of times (nvidia-smi, ps, inspect for every watch
#: round), and importing every verb's code each time was most of a call's ~60 ms.
VERBS: dict[str, tuple[str, str]] = {
    "run": ("lifecycle", "cmd_run"),
    "ps": ("query", "cmd_ps"),
    "inspect": ("query", "cmd_inspect"),
    "logs": ("lifecycle", "cmd_logs"),
    "stop": ("lifecycle", "cmd_stop"),
    "kill": ("lifecycle", "cmd_kill"),
    "rm": ("lifecycle", "cmd_rm"),
    "wait": ("lifecycle", "cmd_wait"),
    "images": ("query", "cmd_images"),
    "image": ("query", "cmd_image"),
    "pull": ("query", "cmd_pull"),
    "version": ("query", "cmd_version"),
    "info": ("query", "cmd_info"),
    "nvidia-smi": ("gpus", "cmd_nvidia_smi"),
}


def verb_handler(verb: str) -> Verb | None:
    """The function that runs `verb`, its module imported now; None for an unknown verb."""
    where = VERBS.get(verb)
    if where is None:
        return None
    module = import_module(f"{__package__}.{where[0]}")
    return getattr(module, where[1])


_CONTAINER_ALIASES = {"ls": "ps", "list": "ps", **{v: v for v in
                      ("run", "inspect", "logs", "stop", "kill", "rm", "wait")}}


def default_root() -> Path:
    """`COSMOS_SIM_ROOT` or `~/.cache/cosmos-sim`."""
    env = os.environ.get("COSMOS_SIM_ROOT")
    return Path(env) if env else Path.home() / ".cache" / "cosmos-sim"


def _split_global(argv: list[str]) -> tuple[Path, list[str]]:
    """Global options come before the verb; only --root (and help/version) exist."""
    root: Path | None = None
    i = 0
    while i < len(argv) and argv[i].startswith("-"):
        tok = argv[i]
        if tok == "--root" and i + 1 < len(argv):
            root, i = Path(argv[i + 1]), i + 2
        elif tok.startswith("--root="):
            root, i = Path(tok.split("=", 1)[1]), i + 1
        elif tok in ("-h", "--help"):
            return root or default_root(), ["help"]
        elif tok in ("-v", "--version"):
            return root or default_root(), ["--version"]
        else:
            raise CliError(f"unknown flag: {tok}\nSee 'cosmos-sim --help'.", 125)
    return (root or default_root()).expanduser().absolute(), argv[i:]


def run(argv: list[str]) -> int:
    """Dispatch one command line; returns the exit status."""
    root, rest = _split_global(argv)
    store = Store(root)
    if not rest or rest[0] in ("help", "--help"):
        sys.stdout.write(USAGE)
        return 0
    verb, args = rest[0], rest[1:]
    if verb == "--version":
        print(f"cosmos-sim version {SIM_VERSION} (docker-compatible simulator)")
        return 0
    if verb == "_supervise":
        from .supervisor import supervise

        logging.basicConfig(level=logging.INFO, force=True,
                            format="%(asctime)s %(name)s %(levelname)s %(message)s")
        return supervise(store, args[0], int(args[1]))
    if verb == "container" and args and args[0] in _CONTAINER_ALIASES:
        verb, args = _CONTAINER_ALIASES[args[0]], args[1:]
    handler = verb_handler(verb)
    if handler is None:
        raise CliError(f"cosmos-sim: '{verb}' is not a docker command supported by cosmos-sim.\n"
                       "See 'cosmos-sim --help'", 1)
    if "--help" in args and verb != "run":
        sys.stdout.write(USAGE)
        return 0
    return handler(store, args)


def main(argv: list[str] | None = None) -> int:
    """Console-script entry point (`cosmos-sim`)."""
    level = os.environ.get("COSMOS_SIM_LOG_LEVEL", "WARNING").upper()
    logging.basicConfig(level=getattr(logging, level, logging.WARNING), stream=sys.stderr,
                        format="cosmos-sim: %(levelname)s %(message)s")
    try:
        return run(sys.argv[1:] if argv is None else argv)
    except CliError as exc:
        print(exc.message, file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
