"""`make soak`: hundreds of short runs on two simulator boxes while things go wrong.

    python -m tests.soak.run [--quick] [--runs N] [--seed S] [--keep] ...

Two boxes (the local simulator and one behind a real sshd on 127.0.0.1), runs queued in
bursts with `cosmos run --json` while `python launch.py` drives them; meanwhile the app is
SIGKILLed and restarted, the sshd is restarted, and running containers are killed from outside.
At the end every run must be terminal and right (killed ones `failed` with a cause, the rest
`completed` with a video), and every run's stored log must equal its `run.log` on the box line
for line. Exit 0 only if all of that holds; the report folder says what did not.

Why outside `make test`: it takes ~20 minutes (`--quick`: ~3) and its value is in volume and
random timing, not in a fixed assertion. The seed is printed so a failure can be replayed.
Only stable interfaces are used: the CLI, launch.py, load_config, Store and the run folders.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from backend.config import load_config
from backend.store import Store
from tests.soak.app import App, child_env, cosmos
from tests.soak.boxes import (
    ROOT,
    Box,
    RestartableSshd,
    kill_processes_mentioning,
    make_boxes,
    remove_dirs,
    write_config,
)
from tests.soak.chaos import Chaos
from tests.soak.check import TERMINAL, Submitted, judge, save_evidence

SAMPLES = sorted(str(p) for p in (ROOT / "assets").glob("sample_*.mp4"))
PROMPTS = ("a rainy neon street at night", "a red car on a mountain road",
           "a lighthouse in a storm", "a quiet forest with morning fog")
IN_FLIGHT = ("staging", "running", "collecting")
ACTIVE = ("queued", *IN_FLIGHT)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="make soak", description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true",
                   help="~3 minutes: 40 runs, 2 app kills, 1 sshd restart, 3 container kills")
    p.add_argument("--runs", type=int, help="runs in all (default 200; quick 40)")
    p.add_argument("--window", type=float,
                   help="seconds over which runs are queued and chaos happens (1200; quick 120)")
    p.add_argument("--drain", type=float,
                   help="seconds after the window until every run must be terminal (900; 240)")
    p.add_argument("--app-kills", type=int, help="app SIGKILL + restart (5; quick 2)")
    p.add_argument("--sshd-restarts", type=int, help="sshd restarts (3; quick 1)")
    p.add_argument("--kills", type=int, help="containers killed from outside (10; quick 3)")
    p.add_argument("--local-seconds", type=float, default=3.0,
                   help="COSMOS_SIM_SECONDS on the local box (default 3)")
    p.add_argument("--ssh-seconds", type=float, default=5.0,
                   help="COSMOS_SIM_SECONDS on the SSH box (default 5)")
    p.add_argument("--seed", type=int, help="random seed (default: from the clock; printed)")
    p.add_argument("--report-dir", type=Path, help="default tests/artifacts/soak-<time>")
    p.add_argument("--keep", action="store_true", help="keep the work folder (boxes, database)")
    args = p.parse_args(argv)
    full = dict(runs=200, window=1200.0, drain=900.0, app_kills=5, sshd_restarts=3, kills=10)
    quick = dict(runs=40, window=120.0, drain=240.0, app_kills=2, sshd_restarts=1, kills=3)
    for key, value in (quick if args.quick else full).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.seed is None:
        args.seed = int(time.time() * 1000) % 1_000_000
    return args


class Submitter(threading.Thread):
    """Queues the runs in bursts through the CLI (no --wait), two CLI calls at a time."""

    def __init__(self, soak: Soak, bursts: list[tuple[float, list[tuple[int, str]]]]) -> None:
        super().__init__(name="submitter", daemon=True)
        self.soak, self.bursts = soak, bursts
        self.submitted: list[Submitted] = []
        self.by_index: dict[int, Submitted] = {}
        self.failures: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self.stop = threading.Event()

    def run(self) -> None:
        with ThreadPoolExecutor(2) as pool:
            for at, items in self.bursts:
                if self.stop.wait(max(0.0, at - self.soak.now())):
                    return
                self.soak.say(f"burst of {len(items)} runs")
                list(pool.map(lambda item: self._submit(*item), items))

    def _submit(self, index: int, host: str) -> None:
        rng = random.Random(self.soak.args.seed * 1000 + index)
        code, out, err = cosmos(
            self.soak.config, self.soak.env, "run", f"{rng.choice(PROMPTS)} #{index}",
            "--input", rng.choice(SAMPLES), "--host", host, "--name", f"soak-{index}")
        with self.lock:
            if code == 0 and out and out.get("run", {}).get("id"):
                sub = Submitted(out["run"]["id"], host, index, time.time())
                self.submitted.append(sub)
                self.by_index[index] = sub
            else:
                self.failures.append({"index": index, "host": host, "exit_code": code,
                                      "stderr": err})
                self.soak.say(f"CLI run #{index} on {host} FAILED (exit {code}): {err[-300:]}")

    def get(self, index: int) -> Submitted | None:
        with self.lock:
            return self.by_index.get(index)


def plan_bursts(rng: random.Random, runs: int, window: float, hosts: list[str]
                ) -> list[tuple[float, list[tuple[int, str]]]]:
    """Runs cut into bursts of 4..15 (under 100 runs: 2..8), at random times in the first 85%
    of the window (the first at once), each run on a random host."""
    high = 15 if runs >= 100 else 8
    sizes: list[int] = []
    while sum(sizes) < runs:
        sizes.append(min(rng.randint(high // 5 + 1, high), runs - sum(sizes)))
    times = sorted([0.0] + [rng.uniform(0, 0.85 * window) for _ in sizes[1:]])
    bursts, index = [], 0
    for at, size in zip(times, sizes):
        bursts.append((at, [(index + i, rng.choice(hosts)) for i in range(size)]))
        index += size
    return bursts


class Soak:
    """Sets everything up, lets it run, judges the result and always cleans up."""

    def __init__(self, args: argparse.Namespace, workdir: Path, report_dir: Path) -> None:
        self.args, self.workdir, self.report_dir = args, workdir, report_dir
        self.rng = random.Random(args.seed)
        self.t0 = time.monotonic()
        self.events: list[str] = []
        self.env = child_env(workdir)
        self.sshd: RestartableSshd | None = None
        self.app: App | None = None
        self.boxes: list[Box] = []
        self.extra_dirs: list[Path] = []
        self.config = workdir / "config.toml"

    def now(self) -> float:
        return time.monotonic() - self.t0

    def say(self, text: str) -> None:
        line = f"[{self.now():7.1f}s] {text}"
        self.events.append(line)
        print(line, flush=True)

    def setup(self) -> None:
        self.sshd = RestartableSshd()
        local, ssh, self.extra_dirs = make_boxes(self.workdir, self.sshd)
        self.boxes = [local, ssh]
        self.config = write_config(self.workdir, local, ssh, self.sshd,
                                   local_seconds=self.args.local_seconds,
                                   ssh_seconds=self.args.ssh_seconds, local_slots=3, ssh_slots=2)
        settings = load_config(self.config)
        self.app = App(self.config, settings.data_dir, self.report_dir, self.env)
        self.app.start()
        deadline = time.monotonic() + 120
        while not self.app.poll_ready():
            if not self.app.alive or time.monotonic() > deadline:
                raise RuntimeError(f"the app did not start: see {self.report_dir}/app-1.log")
            time.sleep(0.2)
        self.store = Store(settings.db_path)
        self.say(f"app serving on port {self.app.port}; sshd on port {self.sshd.server.port}; "
                 f"work folder {self.workdir}")

    def drive(self) -> tuple[Submitter, Chaos]:
        """Queue the bursts, fire the chaos, wait until every run is terminal (or give up)."""
        a = self.args
        bursts = plan_bursts(self.rng, a.runs, a.window, [b.name for b in self.boxes])
        submitter = Submitter(self, bursts)
        chaos = Chaos(self.app, self.sshd, {b.name: b for b in self.boxes}, self.rng, self.say,
                      self.now, submitter.get,
                      {index: host for _, items in bursts for index, host in items})
        chaos.plan(a.app_kills, a.sshd_restarts, a.kills)
        self.t0 = time.monotonic()
        submitter.start()
        deadline, last_progress = a.window + a.drain, 0.0
        while self.now() < deadline:
            submitting = submitter.is_alive()  # before the query: its last run is then seen
            runs = self.store.runs_in(ACTIVE)
            chaos.tick({r.id for r in runs}, {r.id for r in runs if r.status in IN_FLIGHT})
            if self.now() - last_progress >= 20:
                last_progress = self.now()
                self.progress(submitter, chaos)
            if not submitting and not runs and not chaos.restarting():
                break  # all terminal; no event left can still happen
            time.sleep(0.25)
        submitter.stop.set()
        self.progress(submitter, chaos)
        return submitter, chaos

    def progress(self, submitter: Submitter, chaos: Chaos) -> None:
        counts: dict[str, int] = {}
        for run in self.store.runs_in(ACTIVE + TERMINAL):
            counts[run.status] = counts.get(run.status, 0) + 1
        shown = " ".join(f"{k} {v}" for k, v in sorted(counts.items()))
        self.say(f"queued by us {len(submitter.submitted)}/{self.args.runs}: {shown or '-'}; "
                 f"app kills {chaos.app_kills}, sshd restarts {chaos.sshd_restarts}, "
                 f"containers killed {len(chaos.killed)}")

    def judge_and_report(self, submitter: Submitter, chaos: Chaos, started: float) -> bool:
        boxes = {b.name: b for b in self.boxes}
        all_ids = [r.id for r in self.store.runs_in(ACTIVE + TERMINAL)]
        verdict = judge(self.store, submitter.submitted, chaos.killed, boxes, all_ids)
        leftovers = {b.name: b.containers() for b in self.boxes}
        a = self.args
        problems = []
        if submitter.failures:
            problems.append(f"{len(submitter.failures)} CLI submissions failed")
        if len(submitter.submitted) != a.runs:
            problems.append(f"queued {len(submitter.submitted)} runs, planned {a.runs}")
        for what, done, planned in (("app kills", chaos.app_kills, a.app_kills),
                                    ("sshd restarts", chaos.sshd_restarts, a.sshd_restarts),
                                    ("container kills", len(chaos.killed), a.kills)):
            if done != planned:
                problems.append(f"{what}: {done} of {planned} carried out")
        if chaos.unexpected_exits:
            problems.append(f"the app exited by itself {len(chaos.unexpected_exits)} times")
        for name, values in (("lost", verdict.lost), ("unexpected", verdict.unexpected),
                             ("stuck", verdict.stuck), ("in the wrong state", verdict.wrong_state),
                             ("with a log mismatch", verdict.mismatches)):
            if values:
                problems.append(f"{len(values)} runs {name}")
        if any(leftovers.values()):
            problems.append(f"containers still running at the end: {leftovers}")
        finished = [r.finished_at for s in submitter.submitted
                    if (r := self.store.get_run(s.run_id)) and r.finished_at]
        first = min((s.at for s in submitter.submitted), default=time.time())
        span = max(finished, default=first) - first
        report = {
            "ok": not problems, "problems": problems, "seed": a.seed,
            "options": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(a).items()},
            "wall_seconds": round(time.monotonic() - started, 1),
            "runs_per_minute": round(len(finished) / (span / 60), 2) if span > 0 else None,
            "runs": {"planned": a.runs, "queued": len(submitter.submitted),
                     "per_host": verdict.by_host, "per_status": verdict.by_status},
            "app_kills": {"planned": a.app_kills, "done": chaos.app_kills,
                          "incarnations": self.app.incarnations if self.app else 0,
                          "unexpected_exits": chaos.unexpected_exits},
            "sshd_restarts": {"planned": a.sshd_restarts, "done": chaos.sshd_restarts},
            "containers_killed": list(chaos.killed.values()),
            "killed_runs_ended": verdict.killed_outcomes, "runs_without_log": verdict.without_log,
            "events_handed_on": chaos.handed_on,
            "runs_compared": verdict.runs_compared, "lines_compared": verdict.lines_compared,
            "mismatches": verdict.mismatches, "lost": verdict.lost,
            "unexpected": verdict.unexpected, "stuck": verdict.stuck,
            "wrong_state": verdict.wrong_state, "submit_failures": submitter.failures,
            "leftover_containers": leftovers, "events": self.events,
        }
        (self.report_dir / "report.json").write_text(json.dumps(report, indent=2) + "\n")
        if verdict.mismatches:
            save_evidence(self.report_dir, self.store, verdict, boxes)
        self.print_summary(report)
        return report["ok"]

    def print_summary(self, r: dict[str, Any]) -> None:
        print("\n== soak summary ==")
        print(f"seed {r['seed']}; wall {r['wall_seconds']} s; {r['runs_per_minute']} runs/min")
        print(f"runs: {r['runs']['queued']}/{r['runs']['planned']} queued; per host "
              f"{r['runs']['per_host']}; per status {r['runs']['per_status']}")
        print(f"app SIGKILLed+restarted {r['app_kills']['done']}/{r['app_kills']['planned']}, "
              f"sshd restarted {r['sshd_restarts']['done']}/{r['sshd_restarts']['planned']}, "
              f"containers killed {len(r['containers_killed'])}: "
              + ", ".join(k["run_id"] for k in r["containers_killed"]))
        ended = {f"{k['status']} ({k['failure_cause']})" for k in r["killed_runs_ended"]}
        print(f"killed runs ended as: {'; '.join(sorted(ended)) or '-'}")
        print(f"log lines compared: {r['lines_compared']} in {r['runs_compared']} runs; "
              f"mismatches: {len(r['mismatches'])}")
        for m in r["mismatches"][:10]:
            print(f"  {m['run_id']} ({m['host']}): {json.dumps(m)[:300]}")
        for item in (r["stuck"] + r["wrong_state"])[:10]:
            print(f"  {json.dumps(item)[:300]}")
        print("RESULT: " + ("OK" if r["ok"] else "FAILED: " + "; ".join(r["problems"])))
        print(f"report: {self.report_dir / 'report.json'}")

    def cleanup(self, failed: bool) -> None:
        """App, containers, sshd, folders: always, in that order (the app first, so it does
        not start new containers while they are being removed)."""
        if self.app is not None:
            self.app.stop()
        notes = []
        for box in self.boxes:
            left = box.cleanup()
            if left:
                notes.append(f"removed running containers on {box.name}: {left}")
        for folder in (self.workdir, *self.extra_dirs):
            strays = kill_processes_mentioning(str(folder))
            if strays:  # e.g. remote commands whose connection was dropped under them
                notes.append(f"killed {len(strays)} stray processes: {strays}")
        for note in notes:
            print(f"cleanup: {note}")
        (self.report_dir / "cleanup.txt").write_text("".join(n + "\n" for n in notes))
        if self.sshd is not None:
            shutil.copyfile(self.sshd.server.log_path, self.report_dir / "sshd.log")
            self.sshd.close()
        if failed and (self.workdir / "data" / "cosmos.db").exists():
            for db in (self.workdir / "data").glob("cosmos.db*"):
                shutil.copyfile(db, self.report_dir / db.name)  # the evidence
        if self.args.keep:
            print(f"kept the work folder {self.workdir} and {self.extra_dirs}")
        else:
            remove_dirs([self.workdir, *self.extra_dirs])


def _raise_exit(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def _own_network() -> None:
    """Run in a network namespace of our own (as the xdist test workers do, tests/netns.py):
    other suites on the machine then cannot hold a port our runs need (torchrun's master port
    range), so every failure the soak sees is one it caused. COSMOS_SOAK_SHARED_NETWORK=1 or
    a non-root user keeps the machine's network."""
    if os.environ.get("COSMOS_SOAK_SHARED_NETWORK") or not sys.platform.startswith("linux") \
            or os.geteuid() != 0:
        return
    from tests.netns import enter_own_network_namespace

    try:
        enter_own_network_namespace()
    except OSError as exc:
        print(f"soak: sharing the machine's network ({exc})", flush=True)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    _own_network()
    stamp = time.strftime("%Y%m%d-%H%M%S")
    report_dir = args.report_dir or ROOT / "tests" / "artifacts" / f"soak-{stamp}"
    report_dir.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="cosmos-soak-"))
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _raise_exit)
    # Ctrl-C must reach the cleanup even when started with SIGINT ignored (a `&` job of a
    # script ignores it, and Python then installs no KeyboardInterrupt handler)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    print(f"soak: seed {args.seed}, {args.runs} runs over {args.window:.0f} s; "
          f"report folder {report_dir}", flush=True)
    soak, ok, started = Soak(args, workdir, report_dir), False, time.monotonic()
    try:
        soak.setup()
        submitter, chaos = soak.drive()
        ok = soak.judge_and_report(submitter, chaos, started)
    except KeyboardInterrupt:
        print("soak: interrupted; cleaning up", flush=True)
        return 130
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not stop cleanup
        soak.cleanup(failed=not ok)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
