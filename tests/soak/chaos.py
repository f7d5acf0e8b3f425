"""Things going wrong at random moments: the app SIGKILLed, the sshd restarted, containers
killed from outside the app.

Why each event is tied to a random *run* rather than to a clock time: an event only tests
something while work is in flight, and the queue drains at a speed nobody can predict on a
shared 2-core machine; clock-timed events starved when the queue happened to be empty. So
every event waits for its run (picked at random by submission order) to be in flight, plus a
random delay (app, sshd) or until the run's log has a random number of lines (container).
A run that ends before its event fired hands the event on to a run that has not started.
App kills and sshd restarts may land in any in-flight phase (staging, running, collecting).

A container is killed with `cosmos-sim kill -s STOP` and then `cosmos-sim kill` (SIGKILL):
a stopped container cannot exit by itself, so the kill never races a natural exit and the
expected outcome (`failed`, exit 137) is certain wherever in the run it lands.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Callable

from tests.soak.app import App
from tests.soak.boxes import Box, RestartableSshd
from tests.soak.check import Submitted, split_log

APP_KILL, SSHD_STOP, CONTAINER_KILL = "app-kill", "sshd-stop", "container-kill"


@dataclass
class Trigger:
    """One planned event, waiting for run number `index` (submission order) to be in flight."""

    kind: str
    index: int
    delay: float = 0.0  # app / sshd: seconds after the run was first seen in flight
    lines: int = 1  # container: kill once the run's log has this many lines
    seen_at: float | None = None


@dataclass
class Chaos:
    """Fires due triggers on each `tick`; what it did is in the counters and `killed`."""

    app: App
    sshd: RestartableSshd
    boxes: dict[str, Box]
    rng: random.Random
    say: Callable[[str], None]
    clock: Callable[[], float]  # seconds since the soak started
    submitted: Callable[[int], Submitted | None]  # run number -> the queued run, once queued
    host_of: dict[int, str]  # run number -> the host it is queued on (known from the plan)
    sshd_host: str = "ssh"
    triggers: list[Trigger] = field(default_factory=list)
    app_back_at: float | None = None  # the app is down until then
    sshd_back_at: float | None = None
    app_kills: int = 0
    sshd_restarts: int = 0
    killed: dict[str, dict] = field(default_factory=dict)  # run id -> what was killed, when
    handed_on: int = 0  # triggers whose run ended first and were given to another run
    unexpected_exits: list[dict] = field(default_factory=list)

    def plan(self, app_kills: int, sshd_restarts: int, kills: int) -> None:
        """Random runs for each event, from the first 90% (the last ones must be left)."""
        pool = sorted(self.host_of)[: max(1, int(len(self.host_of) * 0.9))]
        ssh_pool = [i for i in pool if self.host_of[i] == self.sshd_host]
        self.triggers += [Trigger(APP_KILL, i, delay=self.rng.uniform(0, 4))
                          for i in self.rng.sample(pool, min(app_kills, len(pool)))]
        self.triggers += [Trigger(SSHD_STOP, i, delay=self.rng.uniform(0, 4))
                          for i in self.rng.sample(ssh_pool, min(sshd_restarts, len(ssh_pool)))]
        self.triggers += [Trigger(CONTAINER_KILL, i, lines=self.rng.randint(1, 75))
                          for i in self.rng.sample(pool, min(kills, len(pool)))]

    def restarting(self) -> bool:
        """The app or the sshd is down on purpose and not back yet."""
        return self.app_back_at is not None or self.sshd_back_at is not None

    def tick(self, active: set[str], in_flight: set[str]) -> None:
        """From the store: `active` runs are not terminal yet, `in_flight` ones are staging,
        running or collecting."""
        self._restarts()
        for trigger in list(self.triggers):
            sub = self.submitted(trigger.index)
            if sub is None:
                continue  # not queued yet
            if sub.run_id not in active:
                self._hand_on(trigger, active, in_flight)
            elif sub.run_id in in_flight and self._fire(trigger, sub):
                self.triggers.remove(trigger)

    # -- restarts and the app's health ----------------------------------------------------------
    def _restarts(self) -> None:
        now = self.clock()
        if self.app_back_at is not None and now >= self.app_back_at:
            self.app_back_at = None
            self.app.start()
            self.say(f"app started again (incarnation {self.app.incarnations})")
        if self.sshd_back_at is not None and now >= self.sshd_back_at:
            self.sshd_back_at = None
            self.sshd.start()
            self.sshd_restarts += 1
            self.say(f"sshd back on port {self.sshd.server.port} (restart {self.sshd_restarts})")
        if self.app_back_at is None and self.app.proc is not None and not self.app.alive:
            code = self.app.proc.returncode  # died without our SIGKILL: a finding
            self.unexpected_exits.append({"at": round(now, 1), "exit_code": code,
                                          "incarnation": self.app.incarnations})
            self.say(f"APP EXITED BY ITSELF (exit {code}, app-{self.app.incarnations}.log); "
                     "starting it again")
            self.app.start()
        self.app.poll_ready()

    def _hand_on(self, trigger: Trigger, active: set[str], in_flight: set[str]) -> None:
        """The run ended before the event fired: give the event to a run not started yet."""
        taken = {t.index for t in self.triggers if t.kind == trigger.kind}
        later = []
        for index, host in self.host_of.items():
            if index in taken or (trigger.kind == SSHD_STOP and host != self.sshd_host):
                continue
            sub = self.submitted(index)
            if sub is None or (sub.run_id in active and sub.run_id not in in_flight):
                later.append(index)  # not queued yet, or queued and not started
        if later:
            trigger.index, trigger.seen_at = self.rng.choice(later), None
            self.handed_on += 1

    # -- firing ---------------------------------------------------------------------------------
    def _fire(self, trigger: Trigger, sub: Submitted) -> bool:
        """Carry the event out if its moment has come; True when done."""
        now = self.clock()
        if trigger.seen_at is None:
            trigger.seen_at = now
        if trigger.kind == CONTAINER_KILL:
            log = self.boxes[sub.host].run_log(sub.run_id)
            if log is None or len(split_log(log)) < trigger.lines:
                return False
            return self._kill_container(sub, now)
        if now < trigger.seen_at + trigger.delay or self.restarting():
            return False
        if trigger.kind == APP_KILL:
            if not self.app.poll_ready():
                return False
            pid = self.app.proc.pid if self.app.proc else None
            self.app.sigkill()
            self.app_kills += 1
            pause = self.rng.uniform(0.5, 3.0)
            self.app_back_at = now + pause
            self.say(f"app SIGKILLed (pid {pid}, kill {self.app_kills}) while run "
                     f"{sub.run_id} is in flight; back in {pause:.1f}s")
            return True
        if trigger.kind == SSHD_STOP:
            self.sshd.stop()
            down = self.rng.uniform(1.0, 4.0)
            self.sshd_back_at = now + down
            self.say(f"sshd stopped while run {sub.run_id} is in flight: connections dropped, "
                     f"new ones refused for {down:.1f}s")
            return True
        raise ValueError(trigger.kind)

    def _kill_container(self, sub: Submitted, now: float) -> bool:
        box, name = self.boxes[sub.host], f"cosmos-{sub.run_id}"
        if box.cosmos_sim("kill", "-s", "STOP", name).returncode != 0:
            return False  # not running (yet, or any more): the hand-on logic deals with it
        lines = len(split_log(box.run_log(sub.run_id) or b""))
        done, code = box.kill(name)
        if not done:
            raise RuntimeError(f"SIGKILL of the stopped container {name} failed")
        self.killed[sub.run_id] = {"run_id": sub.run_id, "host": box.name, "container": name,
                                   "exit_code": code, "log_lines_then": lines,
                                   "at": round(now, 1)}
        self.say(f"killed container {name} on {box.name} from outside at log line {lines} "
                 f"(exit {code}; {len(self.killed)} so far)")
        return True
