"""Things going wrong at random moments: the app SIGKILLed, the sshd restarted, containers
killed from outside the app.

Why a schedule with deferral rather than fire-and-forget: each event only means something in
a state where it can hurt. An app kill waits until the app serves again (killing a
half-started app twice tests nothing new) and some run is in flight; an sshd restart waits
until the last one is back and a run on the SSH box is in flight; a container kill waits for
a container that is mid-run (before its diffusion has finished, so the kill cannot race a
natural exit and the expected outcome, `failed`, is certain).
"""

from __future__ import annotations

import random
import subprocess
from dataclasses import dataclass, field
from typing import Callable

from tests.soak.app import App
from tests.soak.boxes import Box, RestartableSshd

APP_KILL, APP_START = "app-kill", "app-start"
SSHD_STOP, SSHD_START = "sshd-stop", "sshd-start"
CONTAINER_KILL = "container-kill"
#: Written by the fake Cosmos once diffusion is over; a container past it is not killed.
LATE_MARKER = b"Completed diffusion sampling"


@dataclass(order=True)
class Event:
    at: float  # seconds since the soak started
    kind: str = field(compare=False)


@dataclass
class Chaos:
    """Runs due events on each `tick`; what it did is in the counters and `killed`."""

    app: App
    sshd: RestartableSshd
    boxes: list[Box]
    rng: random.Random
    say: Callable[[str], None]
    clock: Callable[[], float]  # seconds since the soak started; read fresh for each event
    ours: Callable[[str], bool]  # is this run id one the harness queued?
    busy: Callable[[str | None], int]  # runs staging/running/collecting (on one host, or all)
    sshd_host: str = "ssh"  # the config's name of the box behind the sshd
    pending: list[Event] = field(default_factory=list)
    app_kills: int = 0
    sshd_restarts: int = 0
    killed: dict[str, dict] = field(default_factory=dict)  # run id -> what was killed, when
    raced: list[dict] = field(default_factory=list)  # kills that found the run already ending
    unexpected_exits: list[dict] = field(default_factory=list)
    _next_kill_try: float = 0.0

    def plan(self, window: float, app_kills: int, sshd_restarts: int, kills: int) -> None:
        """Spread the events uniformly over (5% .. 100%) of the submission window."""
        for kind, count in ((APP_KILL, app_kills), (SSHD_STOP, sshd_restarts),
                            (CONTAINER_KILL, kills)):
            self.pending += [Event(self.rng.uniform(0.05, 1.0) * window, kind)
                             for _ in range(count)]
        self.pending.sort()

    def waiting_for_runs(self) -> bool:
        """Nothing is left but events that need runs in flight (no restart is half done)."""
        return not any(e.kind in (APP_START, SSHD_START) for e in self.pending)

    def tick(self) -> None:
        self._watch_app(self.clock())
        for event in [e for e in self.pending if e.at <= self.clock()]:
            # fresh time per event: a container kill takes a few engine calls
            if self._fire(event, self.clock()):
                self.pending.remove(event)

    # -- the app ------------------------------------------------------------------------------
    def _watch_app(self, now: float) -> None:
        """An app that died without our SIGKILL is a finding; it is started again."""
        app_down = any(e.kind == APP_START for e in self.pending)
        if self.app.proc is not None and not self.app.alive and not app_down:
            code = self.app.proc.returncode
            self.unexpected_exits.append({"at": round(now, 1), "exit_code": code,
                                          "incarnation": self.app.incarnations})
            self.say(f"APP EXITED BY ITSELF (exit {code}, app-{self.app.incarnations}.log); "
                     "starting it again")
            self.app.start()
        self.app.poll_ready()

    def _fire(self, event: Event, now: float) -> bool:
        """Carry an event out if the system is in a state where it means something."""
        if event.kind == APP_KILL:
            if not self.app.poll_ready() or not self.busy(None):
                return False  # a kill with nothing in flight tests only the start-up
            pid = self.app.proc.pid if self.app.proc else None
            self.app.sigkill()
            self.app_kills += 1
            pause = self.rng.uniform(0.5, 3.0)
            self.pending.append(Event(now + pause, APP_START))
            self.say(f"app SIGKILLed (pid {pid}, kill {self.app_kills}); back in {pause:.1f}s")
            return True
        if event.kind == APP_START:
            self.app.start()
            self.say(f"app started again (incarnation {self.app.incarnations})")
            return True
        if event.kind == SSHD_STOP:
            if (not self.sshd.up or any(e.kind == SSHD_START for e in self.pending)
                    or not self.busy(self.sshd_host)):
                return False
            self.sshd.stop()
            down = self.rng.uniform(1.0, 4.0)
            self.pending.append(Event(now + down, SSHD_START))
            self.say(f"sshd stopped: connections dropped, new ones refused for {down:.1f}s")
            return True
        if event.kind == SSHD_START:
            self.sshd.start()
            self.sshd_restarts += 1
            self.say(f"sshd back on port {self.sshd.server.port} (restart {self.sshd_restarts})")
            return True
        if event.kind == CONTAINER_KILL:
            if now < self._next_kill_try:
                return False
            self._next_kill_try = now + 1.0
            return self._kill_a_container(now)
        raise ValueError(event.kind)

    # -- containers ---------------------------------------------------------------------------
    def _candidates(self) -> dict[str, list[tuple[Box, str, str]]]:
        """Per box: (box, container, run id) of our runs' containers that are mid-run."""
        found: dict[str, list[tuple[Box, str, str]]] = {}
        for box in self.boxes:
            try:
                names = box.containers()
            except (RuntimeError, subprocess.TimeoutExpired) as exc:
                self.say(f"cosmos-sim ps on {box.name} failed ({exc}); trying again later")
                continue
            for name in names:
                run_id = name.removeprefix("cosmos-")
                if name == run_id or run_id in self.killed or not self.ours(run_id):
                    continue
                log = box.run_log(run_id)
                if log is not None and LATE_MARKER not in log:
                    found.setdefault(box.name, []).append((box, name, run_id))
        return found

    def _kill_a_container(self, now: float) -> bool:
        candidates = self._candidates()
        if not candidates:
            return False
        # a box first, then one of its containers: kills land on both boxes, not mostly on
        # the one whose runs are longer
        box, name, run_id = self.rng.choice(candidates[self.rng.choice(sorted(candidates))])
        done, code = box.kill(name)
        if not done:
            return False  # it ended between ps and kill: try another one later
        record = {"run_id": run_id, "host": box.name, "container": name, "exit_code": code,
                  "at": round(now, 1)}
        if code not in (137, None):
            self.raced.append(record)  # not a kill after all; its run keeps its own outcome
            self.say(f"container {name} on {box.name} had already exited {code}; not counted")
            return False
        self.killed[run_id] = record
        self.say(f"killed container {name} on {box.name} from outside "
                 f"(exit {code}; {len(self.killed)} so far)")
        return True

