"""cosmos-sim stand-in for PyTorch's `torchrun` launcher (single node, CPU only).

Why it exists: the orchestrator launches Cosmos exactly as the docs do
(`torchrun --nproc_per_node=N --master_port P ... transfer.py ...`). On a simulated box this
shim keeps that command line working and keeps its observable behaviour:

* the torchrun options are parsed (both `--opt=v` and `--opt v`, `_` or `-` spellings);
* the master port is bound on 127.0.0.1 for the job's lifetime, so two concurrent jobs with
  the same `--master_port` collide with torchrun's EADDRINUSE error, as on a real box;
* rank 0 of the script runs with the env torchrun sets (RANK, LOCAL_RANK, WORLD_SIZE,
  MASTER_ADDR/PORT, ...). Other ranks are not started; the fake Cosmos prints their lines;
* SIGTERM/SIGINT/SIGHUP are forwarded to the worker, and the exit status is the worker's
  (128+signal when it died of a signal); a failed worker gets torchrun's failure summary.

STDLIB ONLY: it may run under any python3 (COSMOS_SIM_PYTHON).
"""

from __future__ import annotations

import argparse
import errno
import os
import signal
import socket
import subprocess
import sys
import time
import uuid

_received: list = []


def _glog(level: str, where: str, message: str) -> None:
    """A line in torch's glog style: `W1124 06:43:00.123000 1234 file:line] message`."""
    now = time.time()
    stamp = time.strftime("%m%d %H:%M:%S", time.localtime(now)) + ".%06d" % int((now % 1) * 1e6)
    sys.stderr.write("%s%s %d %s] %s\n" % (level, stamp, os.getpid(), where, message))
    sys.stderr.flush()


def build_parser() -> argparse.ArgumentParser:
    """torchrun's options (the ones that exist in torch 2.7), both spellings."""
    p = argparse.ArgumentParser(prog="torchrun", allow_abbrev=False,
                                description="cosmos-sim torchrun (single node, rank 0 only)")
    p.add_argument("--nnodes", default="1")
    p.add_argument("--nproc_per_node", "--nproc-per-node", default="1")
    p.add_argument("--node_rank", "--node-rank", type=int, default=0)
    p.add_argument("--master_addr", "--master-addr", default="127.0.0.1")
    p.add_argument("--master_port", "--master-port", type=int, default=29500)
    p.add_argument("--rdzv_backend", "--rdzv-backend", default="static")
    p.add_argument("--rdzv_endpoint", "--rdzv-endpoint", default="")
    p.add_argument("--rdzv_id", "--rdzv-id", default="none")
    p.add_argument("--rdzv_conf", "--rdzv-conf", default="")
    p.add_argument("--standalone", action="store_true")
    p.add_argument("--max_restarts", "--max-restarts", type=int, default=0)
    p.add_argument("--monitor_interval", "--monitor-interval", type=float, default=0.1)
    p.add_argument("--start_method", "--start-method", default="spawn")
    p.add_argument("--role", default="default")
    p.add_argument("-m", "--module", action="store_true")
    p.add_argument("--no_python", "--no-python", action="store_true")
    p.add_argument("--run_path", "--run-path", action="store_true")
    p.add_argument("--log_dir", "--log-dir", default=None)
    p.add_argument("-r", "--redirects", default="0")
    p.add_argument("-t", "--tee", default="0")
    p.add_argument("--local_ranks_filter", "--local-ranks-filter", default="")
    p.add_argument("--local_addr", "--local-addr", default=None)
    p.add_argument("training_script")
    p.add_argument("training_script_args", nargs=argparse.REMAINDER)
    return p


def visible_gpu_count() -> int:
    """GPUs this 'node' has: CUDA_VISIBLE_DEVICES if set, else COSMOS_SIM_GPUS (default 8)."""
    cvd = os.environ.get("CUDA_VISIBLE_DEVICES")
    if cvd is not None:
        return len([d for d in cvd.split(",") if d.strip()])
    try:
        return int(os.environ.get("COSMOS_SIM_GPUS", "8"))
    except ValueError:
        return 8


def nproc(text: str) -> int:
    """--nproc_per_node: an int, or auto/gpu (number of GPUs), cpu (number of CPUs)."""
    if text in ("auto", "gpu"):
        return max(1, visible_gpu_count())
    if text == "cpu":
        return os.cpu_count() or 1
    try:
        value = int(text)
    except ValueError:
        raise SystemExit("torchrun: error: invalid --nproc_per_node %r" % text)
    if value < 1:
        raise SystemExit("torchrun: error: --nproc_per_node must be >= 1")
    return value


def bind_master_port(port: int) -> socket.socket:
    """Hold the rendezvous port like torch's TCPStore does (loopback only)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(("127.0.0.1", port))
        sock.listen(16)
    except OSError as exc:
        sock.close()
        _port_failure(port, exc)
    return sock


def _port_failure(port: int, exc: OSError) -> None:
    code = exc.errno or 0
    name = errno.errorcode.get(code, "UNKNOWN")
    text = os.strerror(code) if code else str(exc)
    sys.stderr.write(
        "[W socket.cpp:755] [c10d] The server socket has failed to bind to 127.0.0.1:%d "
        "(errno: %d - %s).\n" % (port, code, text)
    )
    message = ("The server socket has failed to listen on any local network address. "
               "port: %d, useIpv6: 0, code: -%d, name: %s, message: %s"
               % (port, code, name, text.lower()))
    sys.stderr.write("[E socket.cpp:793] [c10d] %s\n" % message)
    sys.stderr.write(
        "Traceback (most recent call last):\n"
        '  File "/usr/local/bin/torchrun", line 8, in <module>\n'
        "    sys.exit(main())\n"
        '  File "/usr/local/lib/python3.12/dist-packages/torch/distributed/run.py", line 892, '
        "in main\n    run(args)\n"
        '  File "/usr/local/lib/python3.12/dist-packages/torch/distributed/launcher/api.py", '
        "line 261, in launch_agent\n    result = agent.run()\n"
        '  File "/usr/local/lib/python3.12/dist-packages/torch/distributed/rendezvous/'
        'static_tcp_rendezvous.py", line 55, in next_rendezvous\n'
        "    self._store = TCPStore(  # type: ignore[call-arg]\n"
        "torch.distributed.DistNetworkError: %s\n" % message
    )
    sys.stderr.flush()
    raise SystemExit(1)


def child_env(args: argparse.Namespace, world: int, local_world: int) -> dict:
    """The environment torchrun gives worker rank 0."""
    env = dict(os.environ)
    rank = args.node_rank * local_world
    env.update({
        "RANK": str(rank),
        "LOCAL_RANK": "0",
        "GROUP_RANK": str(args.node_rank),
        "ROLE_RANK": str(rank),
        "ROLE_NAME": args.role,
        "LOCAL_WORLD_SIZE": str(local_world),
        "WORLD_SIZE": str(world),
        "GROUP_WORLD_SIZE": str(world // local_world),
        "ROLE_WORLD_SIZE": str(world),
        "MASTER_ADDR": args.master_addr,
        "MASTER_PORT": str(args.master_port),
        "TORCHELASTIC_RESTART_COUNT": "0",
        "TORCHELASTIC_MAX_RESTARTS": str(args.max_restarts),
        "TORCHELASTIC_RUN_ID": args.rdzv_id if args.rdzv_id != "none" else uuid.uuid4().hex,
        "TORCHELASTIC_USE_AGENT_STORE": "True",
        "TORCH_NCCL_ASYNC_ERROR_HANDLING": "1",
        # torchelastic gives each worker a file to write its error to (real torchrun too)
        "TORCHELASTIC_ERROR_FILE": os.path.join(os.environ.get("TMPDIR", "/tmp"),
                                                "torchelastic_%s_error.json" % os.getpid()),
    })
    if local_world > 1 and "OMP_NUM_THREADS" not in os.environ:
        env["OMP_NUM_THREADS"] = "1"
    return env


def _failure_summary(script: str, code: int, pid: int) -> None:
    """torchrun's ChildFailedError report, so log parsers see the real shape."""
    when = time.strftime("%Y-%m-%d_%H:%M:%S")
    _glog("E", "torch/distributed/elastic/multiprocessing/api.py:874",
          "failed (exitcode: %d) local_rank: 0 (pid: %d) of binary: %s" % (code, pid, sys.executable))
    bar = "=" * 60
    sys.stderr.write(
        "Traceback (most recent call last):\n"
        '  File "/usr/local/bin/torchrun", line 8, in <module>\n'
        "    sys.exit(main())\n"
        "torch.distributed.elastic.multiprocessing.errors.ChildFailedError: \n"
        "%s\n%s FAILED\n%s\nFailures:\n  <NO_OTHER_FAILURES>\n%s\n"
        "Root Cause (first observed failure):\n[0]:\n"
        "  time      : %s\n  host      : %s\n  rank      : 0 (local_rank: 0)\n"
        "  exitcode  : %d (pid: %d)\n  error_file: <N/A>\n"
        "  traceback : To enable traceback see: https://pytorch.org/docs/stable/elastic/errors.html\n"
        "%s\n" % (bar, script, "-" * 60, "-" * 60, when, socket.gethostname(), code, pid, bar)
    )
    sys.stderr.flush()


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if args.standalone:
        args.master_addr = "127.0.0.1"
    nnodes = int(str(args.nnodes).split(":")[-1])
    if nnodes != 1:
        sys.stderr.write("torchrun (cosmos-sim): only single-node runs are simulated "
                         "(--nnodes=%s)\n" % args.nnodes)
        return 1
    local_world = nproc(str(args.nproc_per_node))
    world = local_world * nnodes
    if local_world > 1:
        star = "*" * 41
        omp = ("Setting OMP_NUM_THREADS environment variable for each process to be 1 in "
               "default, to avoid your system being overloaded, please further tune the variable "
               "for optimal performance in your application as needed. ")
        for line in ("", star, omp, star):
            _glog("W", "torch/distributed/run.py:792", line)
    store = bind_master_port(args.master_port)
    if args.no_python:
        cmd = [args.training_script] + args.training_script_args
    elif args.module:
        cmd = [sys.executable, "-m", args.training_script] + args.training_script_args
    else:
        cmd = [sys.executable, args.training_script] + args.training_script_args
    try:
        child = subprocess.Popen(cmd, env=child_env(args, world, local_world))
    except OSError as exc:
        sys.stderr.write("torchrun: cannot start %s: %s\n" % (cmd[0], exc))
        store.close()
        return 1

    def forward(signum, _frame):
        _received.append(signum)
        try:
            child.send_signal(signum)
        except ProcessLookupError:
            pass

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, forward)
    while True:
        try:
            rc = child.wait()
            break
        except InterruptedError:
            continue
    store.close()
    code = rc if rc >= 0 else 128 - rc
    if _received:
        _glog("W", "torch/distributed/elastic/agent/server/api.py:719",
              "Received Signals.%s death signal, shutting down workers"
              % signal.Signals(_received[0]).name)
    elif code != 0:
        _failure_summary(args.training_script, rc, child.pid)
    return code


if __name__ == "__main__":
    sys.exit(main())
