"""File operations over one SFTP client, with the semantics of LocalShell.

Split from ssh.py so the connection logic and the file semantics can be read separately.
Transfers keep Paramiko's defaults on purpose: `putfo` is already pipelined and `get`
prefetches with unlimited concurrency; `max_concurrent_prefetch_requests` (4.8 MB/s) and big
windows (2-4 MB/s at 100% CPU) were measured to be 20x slower (test-infrastructure.md §2).
"""

from __future__ import annotations

import errno
import os
import posixpath
import secrets
from pathlib import Path
from typing import Callable

import paramiko

Progress = Callable[[int, int], None]
#: Reads larger than this are pipelined (readv) instead of one 32 KiB request at a time.
READV_ABOVE = 256 << 10


def is_missing(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno == errno.ENOENT


def makedirs(sftp: paramiko.SFTPClient, path: str) -> None:
    """`mkdir -p` (one stat when the folder exists, as it usually does)."""
    if path in ("", "/", "."):
        return
    try:
        sftp.stat(path)
        return
    except OSError as exc:
        if not is_missing(exc):
            raise
    makedirs(sftp, posixpath.dirname(path.rstrip("/")))
    try:
        sftp.mkdir(path)
    except OSError as exc:
        try:
            sftp.stat(path)  # created concurrently by someone else: fine
        except OSError:
            if exc.filename is None:
                exc.filename = path
            raise exc from None  # the mkdir's reason (permission denied), not the stat's


def read_from(sftp: paramiko.SFTPClient, path: str, offset: int, limit: int) -> bytes:
    """Bytes of `path` from `offset`, at most `limit`; empty if the file does not exist yet."""
    try:
        fh = sftp.open(path, "rb")
    except OSError as exc:
        if is_missing(exc):
            return b""
        raise
    with fh:
        size = fh.stat().st_size or 0
        count = min(limit, size - offset)
        if count <= 0:
            return b""
        if count > READV_ABOVE:
            return b"".join(fh.readv([(offset, count)]))
        fh.seek(offset)
        return fh.read(count)


def write_atomic(sftp: paramiko.SFTPClient, path: str, data: bytes, mode: int) -> None:
    """`<path>.part`, chmod, then posix-rename: a reader never sees half a file."""
    makedirs(sftp, posixpath.dirname(path))
    tmp = f"{path}.part-{secrets.token_hex(4)}"  # two writers of one path never share it
    with sftp.open(tmp, "wb") as fh:
        fh.set_pipelined(True)
        fh.write(data)
    sftp.chmod(tmp, mode)
    sftp.posix_rename(tmp, path)


def put(sftp: paramiko.SFTPClient, local: Path, remote: str,
        progress: Progress | None = None, resume: bool = False,
        started: Callable[[int], None] | None = None) -> None:
    """Upload to `<remote>.part` (pipelined), then rename over `remote`.

    With `resume`, a `<remote>.part` left by an interrupted upload of the same content (the
    caller names it by content hash and verifies the hash afterwards) is continued from its
    size instead of being sent again from the start.
    """
    makedirs(sftp, posixpath.dirname(remote))
    tmp = remote + ".part"
    total = os.path.getsize(local)
    offset = 0
    if resume:
        try:
            offset = sftp.stat(tmp).st_size or 0
        except OSError:
            offset = 0
        if not 0 < offset < total:
            offset = 0
    if started is not None:
        started(offset)  # where this attempt begins (bytes already on the box)
    with open(local, "rb") as fh:
        if offset == 0:
            sftp.putfo(fh, tmp, file_size=total, callback=progress, confirm=True)
        else:
            fh.seek(offset)
            with sftp.open(tmp, "r+b") as out:
                out.set_pipelined(True)
                out.seek(offset)
                sent = offset
                for block in iter(lambda: fh.read(1 << 20), b""):
                    out.write(block)
                    sent += len(block)
                    if progress is not None:
                        progress(sent, total)
            if sftp.stat(tmp).st_size != total:
                raise OSError(f"resumed upload of {local.name} ended at the wrong size")
    sftp.posix_rename(tmp, remote)


def prepare_put(sftp: paramiko.SFTPClient, remote: str, resume_below: int) -> int:
    """Make the parent folder; return the size of a resumable `<remote>.part` (else 0)."""
    makedirs(sftp, posixpath.dirname(remote))
    if resume_below <= 0:
        return 0
    try:
        size = sftp.stat(remote + ".part").st_size or 0
    except OSError:
        return 0
    return size if 0 < size < resume_below else 0


def finish_put(sftp: paramiko.SFTPClient, part: str, remote: str, size: int) -> bool:
    """Rename a complete `<remote>.part` over `remote`; False if it is not the right size."""
    if sftp.stat(part).st_size != size:
        return False
    sftp.posix_rename(part, remote)
    return True


def get(sftp: paramiko.SFTPClient, remote: str, local: Path,
        progress: Progress | None = None) -> None:
    """Download into `<local>.part` (prefetching, size-checked), then rename over `local`."""
    local.parent.mkdir(parents=True, exist_ok=True)
    tmp = local.with_name(local.name + ".part")
    try:
        sftp.get(remote, str(tmp), callback=progress)
        os.replace(tmp, local)
    finally:
        tmp.unlink(missing_ok=True)


def exists(sftp: paramiko.SFTPClient, path: str) -> bool:
    """Like os.path.lexists: a dangling symlink exists."""
    try:
        sftp.lstat(path)
        return True
    except OSError as exc:
        if is_missing(exc):
            return False
        raise
