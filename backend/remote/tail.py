"""Following a growing file on a box: its bytes from an offset on, as they are written.

Why `tail -F` over the open connection instead of re-reading from an offset every 0.1 s: the
bytes arrive when they are written (GNU tail waits on inotify), with no round trip per poll and
nothing read twice. `tail -c +N` counts bytes, not lines, so the result is binary-safe: `\\r`
progress bars, partial lines and non-UTF-8 bytes pass through exactly.

Why the small `sh` wrapper: GNU tail falls back to polling once a second, for the whole life of
the process, when the file does not exist at its start (measured with coreutils 9.1: the file
then appears ~1 s late and every later write too, up to a second late). So the wrapper waits
for the file to exist (checking every 50 ms, only until it appears) and then `exec`s tail,
which finds the file and uses inotify. The path and offset are passed as arguments to a fixed
script: user text never becomes shell code.
"""

from __future__ import annotations

from backend.remote.command_stream import CommandStream
from backend.remote.shell import Shell

#: $1 = path, $2 = 1-based start byte. `exec` so that a TERM reaches tail itself.
_FOLLOW = 'while [ ! -e "$1" ]; do sleep 0.05; done; exec tail -c "+$2" -F -- "$1"'


def follow_argv(path: str, offset: int) -> list[str]:
    """The command that prints `path` from byte `offset` (0-based) on, forever."""
    if offset < 0:
        raise ValueError(f"offset must be >= 0, not {offset}")
    return ["sh", "-c", _FOLLOW, "follow_file", path, str(offset + 1)]


def follow_file(shell: Shell, path: str, offset: int) -> CommandStream:
    """Yield the bytes of `path` from byte `offset` (0-based) on, as they are appended, forever.

    The file need not exist yet: its bytes come once it appears. Chunks are exactly the file's
    bytes, in order, none lost or doubled, cut wherever the writes and the network cut them.

    It never ends by itself: the caller stops it by closing the returned stream
    (`stream.close()`, which is safe from another thread while one is blocked reading; or
    `with follow_file(...) as stream:`). It raises RemoteError when the connection to the box
    drops; the caller keeps the byte offset it has received so far (offset + the lengths of
    the chunks) and starts a new `follow_file` from there, which reconnects.

    The file is followed by name and assumed append-only (a run's log is): if it is replaced
    or truncated, or is shorter than `offset`, tail starts again from its new beginning.
    """
    return shell.stream(follow_argv(path, offset))
