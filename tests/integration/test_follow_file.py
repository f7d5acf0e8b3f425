"""follow_file on a local box and over a real sshd: exactly the bytes, as they are written.

Each test runs on both boxes. The file lives on "the box" (for SSH: the loopback sshd's
machine, a folder owned by its login user) and another process appends to it.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from backend.remote.shell import LocalShell, Shell
from backend.remote.tail import follow_file
from tests.helpers import wait_for
from tests.integration.stream_helpers import Collector, start_writer

pytestmark = pytest.mark.integration


@pytest.fixture(params=["local", "ssh"])
def box(request, tmp_path: Path) -> tuple[Shell, Path]:
    """(shell, folder on the box) for each kind of box."""
    if request.param == "local":
        return LocalShell("local-test"), tmp_path
    return request.getfixturevalue("ssh_shell"), Path(request.getfixturevalue("remote_root"))


def _follower_running(shell: Shell, path: Path) -> bool:
    """Is a follower of `path` running on the box: the wrapper waiting for the file
    (`sh -c ... follow_file PATH N`) or the tail it became (`tail -c +N -F -- PATH`)?

    The brackets match those command lines but not pgrep's own (nor the shell sshd runs it
    with).
    """
    pattern = "([f]ollow_file|[-]F --) " + re.escape(str(path)) + "( |$)"
    return shell.run(["pgrep", "-f", "--", pattern]).exit_code == 0


def test_from_an_offset_of_a_file_being_appended_to(box):
    shell, folder = box
    path = folder / "run.log"
    path.write_bytes(b"".join(b"old line %03d\n" % i for i in range(80)))
    offset = 537  # in the middle of a line
    writer = start_writer(str(path), 600)  # keeps appending while the follower starts
    collector = Collector(follow_file(shell, str(path), offset))
    assert writer.wait(60) == 0
    final = path.read_bytes()
    got = collector.wait_bytes(len(final) - offset)
    collector.stop()
    assert collector.error is None
    assert got == final[offset:]  # nothing lost, nothing doubled, bytes untouched
    wait_for(lambda: not _follower_running(shell, path), timeout=5, interval=0.05,
             what="the remote tail to end after close()")


def test_a_file_that_does_not_exist_yet_then_appears(box):
    shell, folder = box
    path = folder / "later.log"
    collector = Collector(follow_file(shell, str(path), 0))
    wait_for(lambda: _follower_running(shell, path), timeout=10, interval=0.02,
             what="the follower to be waiting for the file")
    assert collector.chunks == [] and not collector.done
    with open(path, "ab", buffering=0) as fh:
        fh.write(b"first\n")
        collector.wait_for(b"first\n", timeout=5)
        # later writes must arrive at once: GNU tail started on a missing file would poll
        # once a second for good (the wrapper waits for the file, so tail uses inotify)
        delays = []
        for i in range(5):
            written = time.monotonic()
            fh.write(b"more %d\n" % i)
            delays.append(collector.wait_for(b"more %d\n" % i, timeout=5) - written)
    collector.stop()
    assert collector.data == b"first\n" + b"".join(b"more %d\n" % i for i in range(5))
    assert max(delays) < 0.5, delays


def test_carriage_return_only_progress_arrives_before_any_newline(box):
    shell, folder = box
    path = folder / "progress.log"
    path.write_bytes(b"")
    collector = Collector(follow_file(shell, str(path), 0))
    expected = b""
    with open(path, "ab", buffering=0) as fh:
        for percent in range(0, 101, 10):
            piece = b"\rprogress %3d%%" % percent
            fh.write(piece)
            expected += piece
            collector.wait_for(piece)  # each piece arrives without a line end after it
    collector.stop()
    assert collector.data == expected and b"\n" not in expected


def test_resuming_at_the_end_gets_only_the_new_bytes(box):
    shell, folder = box
    path = folder / "resume.log"
    path.write_bytes(b"0123456789")
    collector = Collector(follow_file(shell, str(path), 10))  # resuming at the very end
    wait_for(lambda: _follower_running(shell, path), timeout=10, interval=0.02,
             what="the follower to start")
    with open(path, "ab", buffering=0) as fh:
        fh.write(b"abc")
    collector.wait_for(b"abc")
    collector.stop()
    assert collector.data == b"abc"


def test_stream_close_ends_a_reader_on_a_silent_file(box):
    shell, folder = box
    path = folder / "silent.log"
    path.write_bytes(b"x")
    collector = Collector(follow_file(shell, str(path), 0))
    collector.wait_for(b"x")
    started = time.monotonic()
    collector.stop()
    assert time.monotonic() - started < 3
    assert collector.error is None
    wait_for(lambda: not _follower_running(shell, path), timeout=5, interval=0.05,
             what="the remote tail to end after close()")
