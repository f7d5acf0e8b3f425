"""LocalShell.stream with real subprocesses: chunks as written, stopping, reaping, errors."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from backend.remote.shell import LocalShell, RemoteError
from tests.helpers import wait_for
from tests.integration.stream_helpers import Collector, gone_or_zombie, reaped

pytestmark = pytest.mark.integration


@pytest.fixture
def shell() -> LocalShell:
    return LocalShell("local-test")


def test_chunks_arrive_as_written_without_line_buffering(shell: LocalShell, tmp_path: Path):
    go = tmp_path / "go"
    os.mkfifo(go)
    # the command blocks on the fifo after its first write: "first" (no newline) can only
    # arrive now if nothing waits for a line end or for the command to finish
    collector = Collector(shell.stream(
        ["sh", "-c", 'printf first; read x < "$1"; printf "second\\rthird"', "sh", str(go)]))
    collector.wait_for(b"first")
    assert not collector.done
    with open(go, "w") as fifo:
        fifo.write("go\n")
    collector.join()
    assert collector.error is None
    assert collector.data == b"firstsecond\rthird"


def test_close_stops_the_whole_process_group_and_reaps_it(shell: LocalShell):
    stream = shell.stream(["sh", "-c", 'sleep 300 & echo "$$ $!"; wait'])
    leader, child = map(int, next(stream).split())
    started = time.monotonic()
    stream.close()
    assert time.monotonic() - started < 0.9  # TERM was enough: no KILL grace spent
    assert reaped(leader)  # no zombie left behind by us
    wait_for(lambda: gone_or_zombie(child), timeout=5, interval=0.01,
             what="the background child to die with its group")
    assert list(stream) == []  # a closed stream stays closed


def test_close_kills_a_command_that_ignores_term(shell: LocalShell):
    stream = shell.stream(["sh", "-c", "trap '' TERM; echo \"ready $$\"; "
                                       "while :; do sleep 0.05; done"])
    pid = int(next(stream).split()[1])
    started = time.monotonic()
    stream.close()
    took = time.monotonic() - started
    assert 0.9 <= took < 3, took  # TERM ignored, KILL after ~1 s
    assert reaped(pid)


def test_close_from_another_thread_while_the_reader_is_blocked(shell: LocalShell):
    collector = Collector(shell.stream(["sh", "-c", 'echo "pid $$"; exec sleep 300']))
    collector.wait_for(b"\n")
    pid = int(collector.data.split()[1])
    collector.stop()  # the reader sits in next() on a silent command: close() must end it
    assert collector.error is None  # an exit we caused is no error
    assert reaped(pid)


def test_nonzero_exit_raises_with_the_last_stderr_line(shell: LocalShell):
    stream = shell.stream(["sh", "-c", 'echo out; echo noise >&2; echo "the reason" >&2; '
                                       "exit 3"])
    assert next(stream) == b"out\n"
    with pytest.raises(RemoteError, match=r"`sh` on local-test failed \(exit 3\): the reason$"):
        next(stream)
    with pytest.raises(RemoteError, match=r"exit 127"):
        list(shell.stream(["no-such-command-xyz"]))


def test_timeout_raises_and_stops_the_command(shell: LocalShell):
    stream = shell.stream(["sh", "-c", 'echo "$$"; exec sleep 300'], timeout=0.5)
    pid = int(next(stream))
    started = time.monotonic()
    with pytest.raises(RemoteError, match="timed out after 0.5s"):
        next(stream)
    assert time.monotonic() - started < 3
    assert reaped(pid)
