"""Latency of the streamed log and of cosmos-sim wait (not a table row: a standalone report).

    .venv/bin/python -m bench.streams_latency [--lines 100] [--waits 20] [--engine-code DIR]

1. follow_file over the loopback sshd: another process appends timestamped lines to a file on
   the box at random 50-150 ms intervals; the time from the write to the chunk reaching the
   caller through `follow_file(SshShell, ...)` (same host clock), p50/p95. For comparison,
   today's follower: `read_from` of the same file from a stored offset every 0.1 s.
2. cosmos-sim wait: a container blocked on a fifo exits when the fifo is written; the time
   from the container process's exit (its pidfd) to `wait`'s answer on its stdout, and from
   the supervisor's recording of the exit (state.json renamed in: inotify) to the answer,
   p50/p95; and the CPU the waiting `wait` process spent in 2 s of waiting. `--engine-code DIR` runs the engine from another source
   tree (e.g. `git archive <old commit> backend | tar -x -C DIR`) to compare.

Needs root (the test sshd). Prints a small table.
"""

from __future__ import annotations

import argparse
import json
import os
import select
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

ROOT = Path(__file__).resolve().parent.parent

WRITER = r"""
import os, random, sys, time
path, count = sys.argv[1], int(sys.argv[2])
rng = random.Random(20261124)
fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
for i in range(count):
    time.sleep(rng.uniform(0.05, 0.15))
    os.write(fd, ("LAT %d %.6f\n" % (i, time.time())).encode())
os.close(fd)
"""


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def describe(values: list[float]) -> str:
    ms = [v * 1000 for v in values]
    return (f"p50 {statistics.median(ms):7.2f} ms  p95 {pct(ms, 0.95):7.2f} ms  "
            f"max {max(ms):7.2f} ms  (n={len(ms)})")


def _arrivals(text_chunks: list[tuple[float, bytes]]) -> dict[int, float]:
    """Line number -> when the chunk completing that line arrived (epoch seconds)."""
    seen: dict[int, float] = {}
    buffer = b""
    for at, chunk in text_chunks:
        buffer += chunk
        *lines, buffer = buffer.split(b"\n")
        for line in lines:
            if line.startswith(b"LAT "):
                seen.setdefault(int(line.split()[1]), at)
    return seen


def _writes(path: Path) -> dict[int, float]:
    return {int(parts[1]): float(parts[2]) for parts in
            (line.split() for line in path.read_text().splitlines()) if parts[0] == "LAT"}


def measure_follow(shell, folder: Path, lines: int) -> tuple[list[float], list[float]]:
    """(follow_file latencies, read_from-every-0.1-s latencies) of the same lines."""
    from backend.remote.tail import follow_file

    path = folder / "latency.log"
    path.write_bytes(b"")
    streamed: list[tuple[float, bytes]] = []
    polled: list[tuple[float, bytes]] = []
    stream = follow_file(shell, str(path), 0)
    stop = threading.Event()

    def follow() -> None:
        for chunk in stream:
            streamed.append((time.time(), chunk))

    def poll() -> None:  # the executor's follower today
        offset = 0
        while not stop.is_set():
            data = shell.read_from(str(path), offset, 4 << 20)
            if data:
                polled.append((time.time(), data))
                offset += len(data)
            time.sleep(0.1)

    threads = [threading.Thread(target=follow, daemon=True),
               threading.Thread(target=poll, daemon=True)]
    for thread in threads:
        thread.start()
    writer = subprocess.run([sys.executable, "-c", WRITER, str(path), str(lines)], check=True)
    assert writer.returncode == 0
    time.sleep(0.3)  # the last line reaches both readers
    stop.set()
    stream.close()
    for thread in threads:
        thread.join(5)
    writes = _writes(path)
    got, old = _arrivals(streamed), _arrivals(polled)
    missing = [i for i in writes if i not in got]
    if missing:
        raise SystemExit(f"follow_file lost lines {missing[:5]}")
    return ([got[i] - writes[i] for i in sorted(writes)],
            [old[i] - writes[i] for i in sorted(writes) if i in old])


def _cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat", "rb") as fh:
        fields = fh.read().rsplit(b")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class _Moments:
    """When the container process exits (its pidfd), when the supervisor records that
    (state.json renamed into place: inotify), and when `wait` answers (its stdout). Set up
    before the container is told to exit, so no moment is missed."""

    def __init__(self, container_pid: int, folder: Path, answer_fd: int) -> None:
        from backend.simulator.exit_watch import _inotify

        self.pidfd = os.pidfd_open(container_pid)
        notify = _inotify(folder)
        assert notify is not None
        self.notify = notify
        self.names = {self.pidfd: "exit", answer_fd: "answer", notify: "state"}

    def collect(self) -> dict[str, float]:
        poller = select.poll()
        for fd in self.names:
            poller.register(fd, select.POLLIN)
        seen: dict[str, float] = {}
        try:
            while "answer" not in seen or "exit" not in seen:
                for fd, _ in poller.poll(10_000):
                    now = time.monotonic()
                    name = self.names[fd]
                    if name == "state":
                        os.read(self.notify, 4096)
                        seen["state"] = now  # the last write before the answer counts
                        continue
                    seen.setdefault(name, now)
                    poller.unregister(fd)
        finally:
            os.close(self.pidfd)
            os.close(self.notify)
        return seen


def measure_wait(count: int, code_root: Path
                 ) -> tuple[list[float], list[float], list[float]]:
    """cosmos-sim wait: (container exit -> answer, state recorded -> answer, CPU seconds per
    2 s of waiting). The container exits when the test writes its fifo."""
    work = Path(tempfile.mkdtemp(prefix="bench-wait-"))
    env = dict(os.environ, PYTHONPATH=str(code_root))
    engine = [sys.executable, "-m", "backend.simulator.engine", "--root", str(work / "engine")]
    exit_to_answer: list[float] = []
    state_to_answer: list[float] = []
    cpu: list[float] = []
    try:
        for i in range(count):
            go = work / f"go-{i}"
            os.mkfifo(go)
            cid = subprocess.run([*engine, "run", "-d", "--name", f"w{i}", "img", "sh", "-c",
                                  'read x < "$1"; exit 3', "sh", str(go)], check=True,
                                 env=env, capture_output=True, text=True, cwd="/").stdout.strip()
            folder = work / "engine" / "containers" / cid
            pid = json.loads((folder / "state.json").read_text())["Pid"]
            waiter = subprocess.Popen([*engine, "wait", f"w{i}"], stdout=subprocess.PIPE,
                                      text=True, env=env, cwd="/")
            time.sleep(0.6 if i else 2.5)  # past its start-up (it cannot tell us otherwise)
            if i < 3:
                before = _cpu_seconds(waiter.pid)
                time.sleep(2.0)
                cpu.append(_cpu_seconds(waiter.pid) - before)
            moments = _Moments(pid, folder, waiter.stdout.fileno())
            with open(go, "w") as fifo:
                fifo.write("x\n")
            seen = moments.collect()
            line = waiter.stdout.readline()
            waiter.wait(10)
            assert line == "3\n", line
            exit_to_answer.append(seen["answer"] - seen["exit"])
            state_to_answer.append(seen["answer"] - seen.get("state", seen["exit"]))
    finally:
        subprocess.run([*engine, "rm", "-f", *[f"w{i}" for i in range(count)]], env=env,
                       capture_output=True, cwd="/")
        shutil.rmtree(work, ignore_errors=True)
    return exit_to_answer, state_to_answer, cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=100)
    parser.add_argument("--waits", type=int, default=20)
    parser.add_argument("--engine-code", type=Path, default=ROOT,
                        help="source tree whose backend/ runs cosmos-sim (default: this one)")
    args = parser.parse_args()

    from backend.config import HostConfig
    from backend.remote.ssh import SshShell
    from tests.sshd import SshServer, ensure_user_can_execute

    server = SshServer.start()
    folder = Path(tempfile.mkdtemp(prefix="bench-follow-", dir="/tmp"))
    shutil.chown(folder, server.user)
    ensure_user_can_execute(server.user, sys.executable)
    known = folder / "known_hosts"
    known.write_text(server.known_hosts_line())
    host = HostConfig(name="benchbox", kind="ssh", docker=("docker",), remote_root=str(folder),
                      cosmos_checkout=str(folder), image="x", gpus=(0,), max_concurrent=1,
                      simulated=True, same_paths_in_container=True, hostname=server.host,
                      port=server.port, user=server.user, identity_file=str(server.client_key))
    shell = SshShell(host, app_known_hosts=known, ssh_config=folder / "no-ssh-config",
                     user_known_hosts=[], use_agent=False, look_for_keys=False)
    try:
        streamed, polled = measure_follow(shell, folder, args.lines)
    finally:
        shell.close()
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)
    waits, after_state, cpu = measure_wait(args.waits, args.engine_code.resolve())
    print(f"log line -> caller, follow_file over loopback sshd : {describe(streamed)}")
    print(f"log line -> caller, read_from every 0.1 s (today)  : {describe(polled)}")
    print(f"container exit -> cosmos-sim wait answers          : {describe(waits)}")
    print(f"  of which: exit recorded (state.json) -> answer   : {describe(after_state)}")
    print("CPU of a waiting `wait` per 2 s of waiting         : "
          + ", ".join(f"{c * 1000:.0f} ms" for c in cpu))
    return 0


if __name__ == "__main__":
    sys.exit(main())
