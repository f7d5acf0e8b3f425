"""Staging: a run's inputs onto the box, once per content, resumably, verified.

Inputs are content-addressed: `<remote_root>/cache/<sha256>.<ext>`, uploaded once per host and
linked into each run folder (`inputs/`), so a second run with the same clip sends no bytes.
An upload is named by its hash, so one cut by a dropped connection or a restart continues
where it stopped; the sha256 is checked on the box before the file enters the cache.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from pathlib import Path
from typing import Any

from backend.events.types import UploadProgress
from backend.hosts.runtime import HostRuntime
from backend.remote.shell import RemoteError
from backend.runs.plan import VIDEO_NAME

log = logging.getLogger(__name__)

#: Least time between two `transfer` progress events of one upload (the last one always goes).
TRANSFER_EVENT_EVERY = 0.25


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


_upload_locks: dict[str, threading.Lock] = {}
_upload_locks_guard = threading.Lock()


def _upload_lock(digest: str) -> threading.Lock:
    with _upload_locks_guard:
        return _upload_locks.setdefault(digest, threading.Lock())


class Stager:
    """Puts one host's inputs in place for runs (one per host runtime and lifecycle)."""

    def __init__(self, store: Any, runtime: HostRuntime) -> None:
        self.store = store
        self.rt = runtime

    def transfer_progress(self, run_id: str, name: str, total: int):
        """A put_file progress callback that publishes `transfer` events, a few per second."""
        last = [0.0]

        def report(sent: int, _total: int) -> None:
            now = time.monotonic()
            if sent < total and now - last[0] < TRANSFER_EVENT_EVERY:
                return
            last[0] = now
            self.store.bus.publish(UploadProgress(run_id, file=name, sent=sent, total=total,
                                                  host=self.rt.host.name))
            if run_id:  # the run view and `cosmos run --wait` show the run's progress row
                self.store.update_run(run_id, progress=json.dumps({
                    "phase": f"uploading {name}", "fraction": 0.0,
                    "detail": f"{sent / 1e6:.1f} of {total / 1e6:.1f} MB "
                              f"({100 * sent / max(total, 1):.0f}%) to {self.rt.host.name}"}))
        return report

    def stage_input(self, local: Path, run_dir: str, link_name: str, run_id: str = "") -> str:
        """Upload `local` once into the box's content cache and link it into the run folder.

        Only an upload publishes `transfer` events (progress, then sent == total): an input the
        box already has costs one `stat`, and no event says otherwise.
        """
        shell = self.rt.shell
        digest = sha256_file(local)
        suffix = local.suffix.lower() or ".bin"
        cached = f"{self.rt.cache_dir()}/{digest}{suffix}"
        # Mark the use first, then look: its mtime is its last use (the cache is evicted least
        # recently used first), and a prune deletes a file only if it was not touched since
        # the prune listed it (backend/runs/prune.py), so a file seen here after the touch
        # stays for this run's link.
        shell.run(["touch", "-c", "--", cached])
        if not shell.exists(cached):
            with _upload_lock(digest):  # one upload of a content at a time in this process
                if not shell.exists(cached):
                    self._upload(local, digest, cached, link_name, run_id)
        link = f"{run_dir}/inputs/{link_name}"
        shell.run(["ln", "-sfn", f"../../../cache/{digest}{suffix}", link]).check(
            "linking an input into the run folder")
        return link

    def _upload(self, local: Path, digest: str, cached: str, link_name: str,
                run_id: str) -> None:
        """Send one input into the cache: resumable, verified on the box, then moved in place.

        The upload's name is derived from the content hash, so an upload cut by a dropped
        connection or a restart continues where it stopped; the sha256 check on the box
        catches anything that does not fit together.
        """
        shell = self.rt.shell
        part = f"{cached}.upload"
        shell.run(["mkdir", "-p", self.rt.cache_dir()]).check("creating the input cache")
        total = local.stat().st_size
        report = self.transfer_progress(run_id, link_name, total)
        report(0, total)
        try:
            shell.put_file(local, part, progress=report, resume=True)
        except RemoteError as exc:
            # SFTP says only "Failure" (or paramiko "size mismatch") when the disk is full, so
            # ask how much room is left; a full disk gets its partial file removed, anything
            # else (a dropped connection) keeps it for the next attempt to resume
            try:
                cause = self._disk_full_cause(self.rt.cache_dir(), total)
                if cause is not None:
                    shell.run(["rm", "-f", "--", part, f"{part}.part"])
            except RemoteError:  # the connection is gone: its own error says enough
                raise exc from None
            if cause is None:
                raise
            raise RemoteError(cause) from exc
        # Another process (a second worker) may be sending the same content to the same part
        # file (the lock above is per process): the bytes are the same at the same offsets,
        # and whichever finishes first moves it in place. Finding it in the cache then is
        # this upload done, not a failure (seen in CI: "sha256sum: ...upload: No such file").
        checked = shell.run(["sha256sum", part])
        if not checked.ok and shell.exists(cached):
            report(total, total)
            return
        remote_hash = checked.check("verifying an upload").out.split()
        if not remote_hash or remote_hash[0] != digest:
            shell.run(["rm", "-f", part])
            raise RemoteError(f"upload of {local.name} arrived corrupted (sha256 mismatch)")
        moved = shell.run(["mv", "-f", part, cached])
        if not moved.ok and not shell.exists(cached):
            moved.check("storing an upload in the cache")
        report(total, total)

    def explain_error(self, exc: Exception) -> Exception:
        """A file operation that failed without saying why ("Failure" is all SFTP reports for
        a full disk) gets the box's free space checked; anything else is kept as it is."""
        from backend.remote.ssh_connect import ConnectError

        if not isinstance(exc, RemoteError) or isinstance(exc, ConnectError) or "disk" in str(exc):
            return exc
        host = self.rt.host
        if "permission denied" in str(exc).lower() and "docker" not in str(exc).lower():
            user = f"user {host.user}" if host.user else "the user the app logs in as"
            return RemoteError(f"{exc}. On host {host.name}, {user} must be able to write "
                               f"remote_root ({host.remote_root}) and read cosmos_checkout "
                               f"({host.cosmos_checkout}); fix the owner/permissions there or "
                               "point remote_root at a folder of that user")
        if "failed: failure" not in str(exc).lower():
            return exc
        try:
            cause = self._disk_full_cause(self.rt.host.remote_root)
        except Exception:  # the box is gone too: the original error says enough
            return exc
        return RemoteError(cause) if cause else exc

    def _disk_full_cause(self, folder: str, need: int = 0) -> str | None:
        """'the disk is full' with figures, if `folder`'s filesystem lacks room for `need` bytes
        (or is down to its last MiB); None if there is room or the box cannot say."""
        result = self.rt.shell.run(["df", "-Pk", "--", folder], timeout=30)
        try:
            free_kib = int(result.out.splitlines()[-1].split()[3])
        except (IndexError, ValueError):
            return None
        if free_kib * 1024 >= max(need, 1 << 20):
            return None
        wanted = f"; {need / 1e6:.1f} MB were to be uploaded" if need else ""
        return (f"the disk of host {self.rt.host.name} is full: {folder} has "
                f"{free_kib} KiB free{wanted}. Free space there (old runs live in "
                f"{self.rt.host.remote_root}/runs) and run again")

    def stage_parent_output(self, run, run_dir: str) -> str:
        """An upscale's input: the parent's video already on the box, linked, never re-sent."""
        parent = self.store.get_run(run.parent_id) if run.parent_id else None
        if parent is None:
            raise RemoteError("the run to upscale was deleted; nothing to upscale")
        remote = f"{self.rt.run_dir(parent.id)}/outputs/{VIDEO_NAME}.mp4"
        link = f"{run_dir}/inputs/input.mp4"
        if self.rt.shell.exists(remote):
            self.rt.shell.run(["ln", "-sfn", f"../../{parent.id}/outputs/{VIDEO_NAME}.mp4",
                               link]).check("linking the video to upscale")
            return link
        if parent.output_path and Path(parent.output_path).exists():  # box was cleaned up
            return self.stage_input(Path(parent.output_path), run_dir, "input.mp4", run.id)
        raise RemoteError(f"the video of run {parent.id} is neither on {self.rt.host.name} nor "
                          "here any more; re-run it first")
