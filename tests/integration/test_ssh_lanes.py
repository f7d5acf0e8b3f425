"""Stream lanes against the real sshd (default MaxSessions 10): long-lived channels on extra
connections, the main connection left free, drops, reconnects and idle lanes closing."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from backend.remote.shell import CommandResult, RemoteError
from backend.remote.ssh import SshShell
from backend.remote.tail import follow_file
from tests.helpers import wait_for
from tests.integration.stream_helpers import Collector, start_writer
from tests.sshd import SshServer

pytestmark = pytest.mark.integration

#: Marks that it runs ($1), then blocks until the release file ($2) exists, like a
#: `docker wait` on a container that is still running.
BLOCKER = ': > "$1"; while [ ! -e "$2" ]; do sleep 0.02; done; echo released'


class LongRun:
    """`run(..., long_lived=True)` of BLOCKER in a thread."""

    def __init__(self, shell: SshShell, folder: Path, index: int) -> None:
        self.marker = folder / f"running-{index}"
        self.release = folder / "release"
        self.result: CommandResult | None = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, args=(shell,), daemon=True)
        self.thread.start()

    def _run(self, shell: SshShell) -> None:
        try:
            self.result = shell.run(["sh", "-c", BLOCKER, "blocker", str(self.marker),
                                     str(self.release)], timeout=None, long_lived=True)
        except BaseException as exc:  # noqa: BLE001 - the test looks at it
            self.error = exc

    def join(self) -> None:
        self.thread.join(15)
        assert not self.thread.is_alive(), "a long-lived run did not return"


def test_twelve_long_lived_channels_and_a_short_command_at_once(ssh_shell: SshShell,
                                                              remote_root: str):
    folder = Path(remote_root)
    streams = []
    for i in range(6):
        (folder / f"log-{i}").write_bytes(b"")
        streams.append(Collector(follow_file(ssh_shell, str(folder / f"log-{i}"), 0)))
    runs = [LongRun(ssh_shell, folder, i) for i in range(6)]
    wait_for(lambda: all(run.marker.exists() for run in runs), timeout=30, interval=0.02,
             what="all six long-lived runs to be running")
    for i, collector in enumerate(streams):  # all six streams deliver, at the same time
        with open(folder / f"log-{i}", "ab") as fh:
            fh.write(b"hello %d\n" % i)
        collector.wait_for(b"hello %d\n" % i)
    # 12 long-lived channels are open; on one connection the server (MaxSessions 10) would
    # refuse some, and the main connection's 8 slots would all be taken
    started = time.monotonic()
    assert ssh_shell.run(["true"]).ok
    assert time.monotonic() - started < 5
    assert ssh_shell.read_from(str(folder / "log-0"), 0) == b"hello 0\n"  # SFTP too
    assert (ssh_shell.connect_count, ssh_shell.lane_connect_count) == (1, 2)
    assert ssh_shell.open_lanes == 2
    assert all(run.thread.is_alive() for run in runs)  # still blocked, channels open
    (folder / "release").write_bytes(b"")
    for run in runs:
        run.join()
        assert run.error is None and run.result is not None and run.result.ok
        assert run.result.out == "released\n"
    for collector in streams:
        collector.stop()
        assert collector.error is None
    assert ssh_shell.lane_connect_count == 2  # nothing reconnected along the way


def test_a_dropped_connection_fails_the_streams_and_a_new_follow_resumes(
        ssh_shell: SshShell, sshd: SshServer, remote_root: str):
    folder = Path(remote_root)
    assert ssh_shell.run(["true"]).ok  # the main connection is up too, and drops with them
    paths = [folder / "a.log", folder / "b.log"]
    writers = [start_writer(str(path), 1500, pause=0.003) for path in paths]
    collectors = [Collector(follow_file(ssh_shell, str(path), 0)) for path in paths]
    blocked = LongRun(ssh_shell, folder, 0)
    wait_for(lambda: blocked.marker.exists(), timeout=30, interval=0.02,
             what="the long-lived run to be running")
    for collector in collectors:
        collector.wait_bytes(200)  # mid-stream: the writers are still appending
    lanes_before = ssh_shell.lane_connect_count
    assert sshd.kill_connections() > 0
    for collector in collectors:
        collector.join()
        assert isinstance(collector.error, RemoteError), collector.error
        assert "lost" in str(collector.error)
    blocked.join()
    assert isinstance(blocked.error, RemoteError) and "lost" in str(blocked.error)
    # the caller's recorded offset is what it received; a new follow reconnects and resumes
    resumed = [Collector(follow_file(ssh_shell, str(path), len(collector.data)))
               for path, collector in zip(paths, collectors)]
    for writer in writers:
        assert writer.wait(60) == 0
    for path, first, second in zip(paths, collectors, resumed):
        final = path.read_bytes()
        offset = len(first.data)
        assert 0 < offset < len(final)  # the drop really happened mid-file
        rest = second.wait_bytes(len(final) - offset)
        second.stop()
        assert second.error is None
        assert first.data + rest == final  # nothing lost, nothing doubled
    assert ssh_shell.lane_connect_count == lanes_before + 1  # the next call reconnected
    assert ssh_shell.run(["true"]).ok and ssh_shell.connect_count == 2  # main: as before


def test_an_idle_lane_is_closed_and_a_busy_one_is_kept(ssh_host, app_known_hosts,
                                                       isolated_ssh, remote_root: str):
    shell = SshShell(ssh_host, app_known_hosts=app_known_hosts, lane_idle=0.3, **isolated_ssh)
    try:
        path = Path(remote_root) / "idle.log"
        path.write_bytes(b"")
        collector = Collector(follow_file(shell, str(path), 0))
        wait_for(lambda: shell.open_lanes == 1 and shell.lane_connect_count == 1, timeout=15,
                 interval=0.01, what="the lane to connect")
        time.sleep(0.6)  # twice the idle time passes: a lane with a channel stays
        with open(path, "ab") as fh:
            fh.write(b"still here\n")
        collector.wait_for(b"still here\n")
        assert shell.open_lanes == 1
        collector.stop()
        wait_for(lambda: shell.open_lanes == 0, timeout=5, interval=0.02,
                 what="the idle lane to be closed")
        assert shell.run(["sh", "-c", "echo again"], long_lived=True).out == "again\n"
        assert (shell.lane_connect_count, shell.connect_count) == (2, 0)  # a new lane
    finally:
        shell.close()


def test_close_from_another_thread_ends_even_a_command_ignoring_term(ssh_shell: SshShell):
    collector = Collector(ssh_shell.stream(
        ["sh", "-c", "trap '' TERM; echo \"ready $$\"; while :; do sleep 0.05; done"]))
    collector.wait_for(b"\n")
    pid = collector.data.split()[1].decode()
    started = time.monotonic()
    collector.stop()  # TERM is ignored: KILL and a closed channel after ~1 s free the reader
    assert 0.9 <= time.monotonic() - started < 4
    assert collector.error is None
    wait_for(lambda: ssh_shell.run(["kill", "-0", pid]).exit_code != 0, timeout=5,
             interval=0.05, what="the remote command to be killed")
    assert ssh_shell.run(["echo", "ok"], long_lived=True).out == "ok\n"  # its slot is free
