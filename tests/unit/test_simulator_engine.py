"""cosmos-sim's docker-compatible engine, driven as a real CLI with real detached processes.

Each test gets its own state root, so tests never see each other's containers; a fixture
force-removes whatever a test left running.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers import STATE_CHANGES, wait_for

ROOT = Path(__file__).resolve().parents[2]


class Sim:
    """Runs `python -m backend.simulator.engine --root <tmp> ...` like a user would."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("COSMOS_SIM_")}
        self.env["PYTHONPATH"] = str(ROOT)

    def argv(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "backend.simulator.engine", "--root", str(self.root), *args]

    def __call__(self, *args: str, timeout: float = 30, env: dict | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(self.argv(*args), capture_output=True, text=True, timeout=timeout,
                              cwd=ROOT, env={**self.env, **(env or {})})

    def ok(self, *args: str, **kw) -> str:
        result = self(*args, **kw)
        assert result.returncode == 0, (args, result.stdout, result.stderr)
        return result.stdout

    def inspect(self, ref: str) -> dict:
        return json.loads(self.ok("inspect", ref))[0]

    def wait_log(self, ref: str, text: str, timeout: float = STATE_CHANGES) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            out = self("logs", ref).stdout
            if text in out:
                return out
            time.sleep(0.05)
        raise AssertionError(f"{text!r} never appeared in the logs of {ref}")


@pytest.fixture
def sim(tmp_path: Path):
    engine = Sim(tmp_path / "engine")
    yield engine
    leftovers = engine("ps", "-aq", "--no-trunc").stdout.split()
    if leftovers:
        engine("rm", "-f", *leftovers)


def test_run_detached_returns_at_once_and_container_outlives_caller(sim: Sim) -> None:
    cid = sim.ok("run", "-d", "--name", "sleeper", "img", "sleep", "30").strip()
    assert re.fullmatch(r"[0-9a-f]{64}", cid)
    info = sim.inspect("sleeper")  # the `run` process has exited; the container has not
    assert info["State"]["Status"] == "running" and info["State"]["Running"] is True
    os.kill(info["State"]["Pid"], 0)
    assert sim.ok("ps", "-q").split() == [cid[:12]]
    assert sim.ok("ps", "-q", "--no-trunc").split() == [cid]


def test_duplicate_name_fails_like_docker(sim: Sim) -> None:
    cid = sim.ok("run", "-d", "--name", "dup", "img", "sleep", "30").strip()
    result = sim("run", "-d", "--name", "dup", "img", "true")
    assert result.returncode == 125
    assert (f'Error response from daemon: Conflict. The container name "/dup" is already in use '
            f'by container "{cid}"') in result.stderr


def test_concurrent_runs_with_one_name_only_one_wins(sim: Sim) -> None:
    procs = [subprocess.Popen(sim.argv("run", "-d", "--name", "race", "img", "sleep", "30"),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
                              env=sim.env) for _ in range(2)]
    codes = sorted(p.wait(timeout=30) for p in procs)
    assert codes == [0, 125]
    assert len(sim.ok("ps", "-aq").split()) == 1


def test_ps_filters_by_label_and_formats(sim: Sim) -> None:
    a = sim.ok("run", "-d", "--name", "job-a", "--label", "cosmos.run=aaa", "--label", "app=x",
               "img", "sleep", "30").strip()
    sim.ok("run", "-d", "--name", "job-b", "--label=cosmos.run=bbb", "img", "sleep", "30")
    sim.ok("run", "-d", "--name", "job-c", "img", "true")
    out = sim.ok("ps", "--filter", "label=cosmos.run=aaa",
                 "--format", r'{{.ID}}\t{{.Names}}\t{{.Label "cosmos.run"}}\t{{.State}}')
    assert out == f"{a[:12]}\tjob-a\taaa\trunning\n"
    names = sim.ok("ps", "-a", "--filter", "label=cosmos.run", "--format", "{{.Names}}").split()
    assert sorted(names) == ["job-a", "job-b"]
    rows = [json.loads(line) for line in
            sim.ok("ps", "-a", "--no-trunc", "--filter", "name=job-a", "--format", "{{json .}}").splitlines()]
    assert rows[0]["ID"] == a and rows[0]["Labels"] == "app=x,cosmos.run=aaa"
    assert rows[0]["Status"].startswith("Up ")
    sim.ok("wait", "job-c")
    exited = sim.ok("ps", "--filter", "status=exited", "--format", "{{.Names}} {{.Status}}")
    assert re.fullmatch(r"job-c Exited \(0\) .* ago\n", exited)
    table = sim.ok("ps").splitlines()
    assert table[0].split()[:2] == ["CONTAINER", "ID"] and len(table) == 3  # header + 2 running


def test_inspect_has_dockers_fields(sim: Sim, tmp_path: Path) -> None:
    vol = tmp_path / "vol"
    vol.mkdir()
    sim.ok("run", "-d", "--name", "insp", "--label", "k=v", "-v", f"{vol}:{vol}:ro", "-w", str(vol),
           "-e", "FOO=bar", "-e", "FROM_CALLER", "img", "sleep", "30", env={"FROM_CALLER": "copied"})
    info = sim.inspect("insp")
    assert re.fullmatch(r"[0-9a-f]{64}", info["Id"]) and info["Name"] == "/insp"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z", info["Created"])
    state = info["State"]
    assert set(state) == {"Status", "Running", "Paused", "Restarting", "OOMKilled", "Dead", "Pid",
                          "ExitCode", "Error", "StartedAt", "FinishedAt"}
    assert state["FinishedAt"] == "0001-01-01T00:00:00Z"
    cfg = info["Config"]
    assert cfg["Image"] == "img" and cfg["Labels"] == {"k": "v"} and cfg["Cmd"] == ["sleep", "30"]
    assert cfg["WorkingDir"] == str(vol)
    assert "FOO=bar" in cfg["Env"] and "FROM_CALLER=copied" in cfg["Env"]
    assert info["HostConfig"]["Binds"] == [f"{vol}:{vol}:ro"]
    assert sim.ok("inspect", "--format", "{{.State.Status}} {{.Name}}", "insp") == "running /insp\n"
    assert json.loads(sim.ok("inspect", "-f", "{{json .State}}", "insp"))["Running"] is True
    missing = sim("inspect", "nope")
    assert missing.returncode == 1 and "Error: No such object: nope" in missing.stderr


def test_container_env_is_clean_with_gpus_and_shims(sim: Sim) -> None:
    sim.ok("run", "-d", "--name", "envy", "--gpus", '"device=1,3"', "img", "env",
           env={"LEAKY_SECRET": "x"})
    sim.ok("wait", "envy")
    env = dict(line.split("=", 1) for line in sim.ok("logs", "envy").splitlines())
    assert "LEAKY_SECRET" not in env
    assert env["NVIDIA_VISIBLE_DEVICES"] == "1,3" and env["CUDA_VISIBLE_DEVICES"] == "0,1"
    assert env["PATH"].split(":")[0].endswith("backend/simulator/shims")
    assert env["COSMOS_SIM_PYTHON"] == sys.executable and env["LANG"]


def test_logs_follow_until_exit_then_wait(sim: Sim) -> None:
    sim.ok("run", "-d", "--name", "talker", "img", "sh", "-c",
           "for i in 1 2 3; do echo line $i; sleep 0.2; done; echo oops >&2; exit 3")
    out = sim.ok("logs", "-f", "talker", timeout=20)
    assert out.splitlines() == ["line 1", "line 2", "line 3", "oops"]
    assert sim.ok("wait", "talker") == "3\n"
    assert sim.ok("logs", "--tail", "1", "talker") == "oops\n"


def test_stop_graceful_handler_exits_143(sim: Sim) -> None:
    script = ("import signal, sys, time\n"
              "signal.signal(signal.SIGTERM, lambda *a: (print('graceful', flush=True), sys.exit(143)))\n"
              "print('ready', flush=True)\ntime.sleep(60)\n")
    sim.ok("run", "-d", "--name", "polite", "img", sys.executable, "-c", script)
    sim.wait_log("polite", "ready")
    assert sim.ok("stop", "-t", "5", "polite") == "polite\n"
    info = sim.inspect("polite")
    assert info["State"]["Status"] == "exited" and info["State"]["ExitCode"] == 143
    assert "graceful" in sim.ok("logs", "polite")
    assert sim.ok("stop", "polite") == "polite\n"  # stopping an exited container is a no-op


def test_stop_of_a_process_ignoring_sigterm_kills_after_timeout(sim: Sim) -> None:
    sim.ok("run", "-d", "--name", "stubborn", "img", "sh", "-c", "trap '' TERM; echo ready; sleep 30")
    sim.wait_log("stubborn", "ready")
    started = time.monotonic()
    sim.ok("stop", "--time=1", "stubborn")
    assert time.monotonic() - started >= 0.9  # it gave the process its second to stop
    assert sim.inspect("stubborn")["State"]["ExitCode"] == 137


def test_kill_gives_137_and_refuses_a_stopped_container(sim: Sim) -> None:
    cid = sim.ok("run", "-d", "--name", "victim", "img", "sleep", "30").strip()
    assert sim.ok("kill", "victim") == "victim\n"
    state = sim.inspect("victim")["State"]
    assert (state["Status"], state["ExitCode"]) == ("exited", 137)
    again = sim("kill", "victim")
    assert again.returncode == 1
    assert (f"Error response from daemon: Cannot kill container: victim: Container {cid} is not "
            "running") in again.stderr


def test_rm_needs_force_for_running_and_frees_the_name(sim: Sim) -> None:
    cid = sim.ok("run", "-d", "--name", "keeper", "img", "sleep", "30").strip()
    refused = sim("rm", cid[:8])  # a unique id prefix works like a name
    assert refused.returncode == 1 and "You cannot remove a running container" in refused.stderr
    assert sim.ok("rm", "-f", "keeper") == "keeper\n"
    assert sim.ok("ps", "-aq") == ""
    gone = sim("rm", "keeper")
    assert gone.returncode == 1 and "No such container: keeper" in gone.stderr
    sim.ok("run", "-d", "--name", "keeper", "img", "true")  # the name is free again


def test_auto_remove_and_wait_still_reports_the_exit_code(sim: Sim, tmp_path: Path) -> None:
    # The container exits only when the test says so: `wait` must have found it first (as
    # with docker, a wait that starts after an auto-removal finds no container).
    gate = tmp_path / "exit-now"
    sim.ok("run", "-d", "--rm", "--name", "shortlived", "img", "sh", "-c",
           f"while [ ! -e {gate} ]; do sleep 0.05; done; exit 4")
    waiter = _waiting(sim, "shortlived")  # blocked on the running container
    gate.touch()
    out, err = waiter.communicate(timeout=30)
    assert (waiter.returncode, out) == (0, "4\n"), err
    wait_for(lambda: not sim.ok("ps", "-aq"), interval=0.05, what="the container to go")
    assert sim.ok("ps", "-aq") == ""


def test_attached_run_streams_output_and_returns_the_exit_code(sim: Sim) -> None:
    result = sim("run", "--rm", "img", "sh", "-c", "echo attached; exit 7")
    assert result.returncode == 7 and result.stdout == "attached\n"


def test_volume_must_map_a_path_to_itself(sim: Sim, tmp_path: Path) -> None:
    bad = sim("run", "-d", "-v", f"{tmp_path}/a:{tmp_path}/b", "img", "true")
    assert bad.returncode == 125
    assert ("cosmos-sim runs containers as host processes; a volume must map a path to itself: "
            f"{tmp_path}/a:{tmp_path}/b") in bad.stderr
    sim.ok("run", "-d", "-v", f"{tmp_path}/a:{tmp_path}/a", "img", "true")
    assert (tmp_path / "a").is_dir()  # docker creates a missing bind source too


def test_supervisor_death_does_not_hide_the_truth(sim: Sim) -> None:
    cid = sim.ok("run", "-d", "--name", "orphan", "img", "sleep", "30").strip()
    state = json.loads((sim.root / "containers" / cid / "state.json").read_text())
    os.kill(state["SupervisorPid"], 9)
    time.sleep(0.2)
    assert sim.inspect("orphan")["State"]["Status"] == "running"  # the process still runs
    os.killpg(state["Pid"], 9)
    # the killed process is an orphan now: it is a zombie until PID 1 reaps it
    wait_for(lambda: sim.inspect("orphan")["State"]["Status"] != "running",
             what="the engine to see the process gone")
    info = sim.inspect("orphan")["State"]
    assert (info["Status"], info["ExitCode"]) == ("exited", 137) and "vanished" in info["Error"]
    assert sim.ok("wait", "orphan") == "137\n"


def test_cli_errors_use_dockers_exit_codes(sim: Sim) -> None:
    assert sim("frobnicate").returncode == 1
    bad_flag = sim("run", "--frobnicate", "img", "true")
    assert bad_flag.returncode == 125 and "unknown flag: --frobnicate" in bad_flag.stderr
    assert sim("ps", "--nope").returncode == 125
    missing = sim("run", "-d", "img", "no-such-program-xyz")
    assert missing.returncode == 127 and "executable file not found in $PATH" in missing.stderr
    assert sim("stop").returncode == 1
    assert sim("wait", "ghost").returncode == 1


def test_version_info_images_say_cosmos_sim(sim: Sim) -> None:
    assert "cosmos-sim" in sim.ok("version")
    assert sim.ok("version", "--format", "{{.Server.Version}}").strip()
    assert "cosmos-sim" in sim.ok("info")
    assert "cosmos-sim/transfer1" in sim.ok("images")
    image = json.loads(sim.ok("image", "inspect", "anything/at-all:v1"))
    assert image[0]["RepoTags"] == ["anything/at-all:v1"]


# ---- wait: prompt, with the right exit code ------------------------------------------------
# How soon `wait` answers is measured by bench/streams_latency.py, not asserted here (a unit
# test holds no timing threshold: a loaded machine would make it fail for nothing).


def _holds_pidfd(pid: int) -> bool:
    """Has the process opened a pidfd, i.e. is `wait` in its event loop on the container?

    (The event to wait for before timing the answer; Linux >= 5.3, which these machines run.)
    """
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return False
    for fd in fds:
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}") == "anon_inode:[pidfd]":
                return True
        except OSError:
            continue
    return False


def _waiting(sim: Sim, ref: str) -> subprocess.Popen:
    """`wait REF`, once it is blocked on the running container (not still starting up)."""
    proc = subprocess.Popen(sim.argv("wait", ref), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=ROOT, env=sim.env)
    deadline = time.monotonic() + 20
    while not _holds_pidfd(proc.pid):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "wait never started waiting"
        time.sleep(0.005)
    return proc


def _answer(proc: subprocess.Popen) -> tuple[str, float]:
    line = proc.stdout.readline()  # printed, flushed, then the process exits
    at = time.monotonic()
    assert proc.wait(10) == 0, proc.stderr.read()
    return line, at


def test_wait_returns_promptly_with_the_exit_code(sim: Sim, tmp_path: Path) -> None:
    go = tmp_path / "go"
    os.mkfifo(go)
    sim.ok("run", "-d", "--name", "worker", "img", "sh", "-c", 'read x < "$1"; exit 3', "sh",
           str(go))
    waiter = _waiting(sim, "worker")
    with open(go, "w") as fifo:
        fifo.write("done\n")
    line, _ = _answer(waiter)  # the container exits as soon as it has read the line
    assert line == "3\n"


@pytest.mark.parametrize("verb, code", [("stop", "143"), ("kill", "137")])
def test_wait_returns_promptly_after_stop_and_kill(sim: Sim, verb: str, code: str) -> None:
    sim.ok("run", "-d", "--name", "target", "img", "sleep", "300")
    waiter = _waiting(sim, "target")
    assert sim.ok(verb, "target") == "target\n"  # returns once the container has exited
    line, _ = _answer(waiter)
    assert line == code + "\n"  # TERM -> 128+15 (cosmos-sim runs no PID 1 ignoring it); 137


def test_wait_notices_an_exit_after_the_supervisor_died(sim: Sim) -> None:
    cid = sim.ok("run", "-d", "--name", "orphan2", "img", "sleep", "300").strip()
    state = json.loads((sim.root / "containers" / cid / "state.json").read_text())
    waiter = _waiting(sim, "orphan2")
    os.kill(state["SupervisorPid"], 9)  # nobody will record the exit: wait must infer it
    os.killpg(state["Pid"], 9)
    line, _ = _answer(waiter)
    assert line == "137\n"
