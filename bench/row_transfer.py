"""Row 1, transfer: our SFTP layer vs OpenSSH `sftp -b` with the same cipher, and a re-upload.

Ours: `SshShell.put_file` / `get_file` (backend/remote/ssh.py) on an open connection, the calls
the executor stages inputs and collects outputs with. Baseline: OpenSSH's `sftp -b` forced to
the cipher and MAC Paramiko negotiated (read from the live transport), with its connection
set-up (measured alone as an `sftp -b` that only runs `pwd`) subtracted, so both sides are
timed on an open connection. Runs alternate ours/OpenSSH so machine noise hits both alike.

Re-upload: the same file staged a second time through the executor's content-addressed cache
(`RunExecutor._stage_input`) on a fresh connection; we count the file bytes handed to the
transfer layer (and, for the record, the bytes the SSH transport sent). Goal: 0.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import time
from pathlib import Path

from bench.common import Context, Line, missing, open_ssh_shell, try_import
from bench.stats import Goal

NAME = "transfer"
TITLE = "1 transfer"
GOAL_THROUGHPUT = Goal("ratio", ">=", 0.9)
GOAL_BYTES = Goal("ours", "<=", 0, "B")
ROW_UP, ROW_DOWN, ROW_AGAIN = "1 transfer up", "1 transfer down", "1 re-upload bytes"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _random_file(path: Path, size: int) -> None:
    with open(path, "wb") as fh:
        left = size
        while left:
            chunk = min(left, 8 << 20)
            fh.write(os.urandom(chunk))
            left -= chunk


class CountingShell:
    """Passes everything to the real shell and counts the file bytes handed to it to send."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.sent = 0
        self.uploads = 0

    def put_file(self, local, remote, *args, **kwargs):
        self.sent += Path(local).stat().st_size
        self.uploads += 1
        return self.inner.put_file(local, remote, *args, **kwargs)

    def write_file(self, path, data, *args, **kwargs):
        self.sent += len(data)
        return self.inner.write_file(path, data, *args, **kwargs)

    def __getattr__(self, name):
        return getattr(self.inner, name)


def _transport(shell):
    main = getattr(shell, "_main", None)  # the main Connection (older versions: _transports)
    transports = main.transports if main is not None else getattr(shell, "_transports", None)
    return transports[-1] if transports else None


def _wire_sent(shell) -> int | None:
    """Bytes the SSH transport has sent since its keys were set (Paramiko's rekey counter)."""
    transport = _transport(shell)
    packetizer = getattr(transport, "packetizer", None)
    return getattr(packetizer, "_Packetizer__sent_bytes", None)


class Sftp:
    """OpenSSH's sftp client in batch mode against the suite's sshd."""

    def __init__(self, ctx: Context, cipher: str, mac: str | None) -> None:
        server = ctx.sshd()
        self.folder = ctx.scratch("sftp")
        known = self.folder / "known_hosts"
        known.write_text(server.known_hosts_line())
        self.argv = ["sftp", "-q", "-F", "/dev/null", "-P", str(server.port),
                     "-i", str(server.client_key), "-c", cipher,
                     "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes",
                     "-o", "StrictHostKeyChecking=yes", "-o", f"UserKnownHostsFile={known}",
                     "-o", "GlobalKnownHostsFile=/dev/null", "-o", "Compression=no"]
        if mac:
            self.argv += ["-o", f"MACs={mac}"]
        self.target = f"{server.user}@{server.host}"
        self._n = 0

    def batch(self, *commands: str) -> float:
        """Run the commands in one sftp session; return its wall time in seconds."""
        self._n += 1
        batch = self.folder / f"batch-{self._n}"
        batch.write_text("\n".join(commands) + "\n")
        started = time.perf_counter()
        result = subprocess.run(self.argv + ["-b", str(batch), self.target],
                                capture_output=True, text=True, stdin=subprocess.DEVNULL)
        elapsed = time.perf_counter() - started
        if result.returncode != 0:
            raise RuntimeError(f"sftp failed ({result.returncode}): "
                               f"{(result.stderr or result.stdout).strip()[-500:]}")
        return elapsed


def run(ctx: Context) -> list[Line]:
    ssh = try_import("backend.remote.ssh")
    if ssh is None or missing(ssh, "SshShell") or missing(ssh.SshShell, "put_file", "get_file"):
        reason = "backend/remote/ssh.py SshShell.put_file/get_file missing"
        return [Line.not_built(ROW_UP, "B/s", GOAL_THROUGHPUT, reason),
                Line.not_built(ROW_DOWN, "B/s", GOAL_THROUGHPUT, reason),
                Line.not_built(ROW_AGAIN, "B", GOAL_BYTES, reason)]
    size = (64 if ctx.quick else 256) << 20
    reps = 2 if ctx.quick else 3
    folder = ctx.scratch("transfer")
    remote_root = ctx.remote_dir("transfer")
    shell = open_ssh_shell(ctx, remote_root)
    lines: list[Line] = []
    try:
        shell.run(["true"]).check("connecting")
        transport = _transport(shell)
        cipher = getattr(transport, "local_cipher", None) or "aes128-ctr"
        mac = getattr(transport, "local_mac", None)
        try:  # large files go through OpenSSH sftp when installed: compare like with like
            from backend.remote import openssh
            if openssh.sftp_exe() and size >= openssh.BULK_THRESHOLD:
                cipher = openssh.CIPHERS.split(",")[0]
        except ImportError:
            pass
        if "gcm" in cipher or "poly1305" in cipher:
            mac = None  # AEAD ciphers have no separate MAC
        ctx.log(f"transfer: {size >> 20} MiB x {reps}, cipher {cipher} / {mac}")
        src = folder / "payload.bin"
        _random_file(src, size)
        digest = _sha256(src)
        sftp = Sftp(ctx, cipher, mac)
        connect = sorted(sftp.batch("pwd") for _ in range(3))[1]
        ups, downs, sftp_ups, sftp_downs = [], [], [], []
        for rep in range(reps):
            remote_ours = f"{remote_root}/up/ours-{rep}.bin"
            remote_theirs = f"{remote_root}/up/sftp-{rep}.bin"
            shell.run(["mkdir", "-p", f"{remote_root}/up"]).check("mkdir")
            started = time.perf_counter()
            shell.put_file(src, remote_ours)
            ups.append(size / (time.perf_counter() - started))
            elapsed = sftp.batch(f'put "{src}" "{remote_theirs}"') - connect
            sftp_ups.append(size / max(elapsed, 1e-3))
            local_ours = folder / f"down-ours-{rep}.bin"
            local_theirs = folder / f"down-sftp-{rep}.bin"
            started = time.perf_counter()
            shell.get_file(remote_ours, local_ours)
            downs.append(size / (time.perf_counter() - started))
            elapsed = sftp.batch(f'get "{remote_theirs}" "{local_theirs}"') - connect
            sftp_downs.append(size / max(elapsed, 1e-3))
            if rep == 0:  # the bytes must be right, or the speed means nothing
                for path in (local_ours, local_theirs):
                    if _sha256(path) != digest:
                        raise RuntimeError(f"{path.name} differs from what was uploaded")
            for path in (local_ours, local_theirs):
                path.unlink(missing_ok=True)
            shell.run(["rm", "-f", remote_ours, remote_theirs])
        common = {"size_bytes": size, "cipher": cipher, "mac": mac,
                  "sftp_connect_seconds_subtracted": connect, "repeats": reps}
        lines.append(Line.measured(
            ROW_UP, "B/s", GOAL_THROUGHPUT, ups, sftp_ups, paired=True,
            ours_label="SshShell.put_file",
            baseline_label=f"sftp -b put -c {cipher}", details=common,
            note=f"{size >> 20} MiB, {cipher}"))
        lines.append(Line.measured(
            ROW_DOWN, "B/s", GOAL_THROUGHPUT, downs, sftp_downs, paired=True,
            ours_label="SshShell.get_file", baseline_label=f"sftp -b get -c {cipher}",
            details=common, note=f"{size >> 20} MiB, {cipher}"))
        lines.append(_reupload(ctx, shell, src, size, remote_root, reps))
    finally:
        shell.close()
    return lines


def _reupload(ctx: Context, shell, src: Path, size: int, remote_root: str, reps: int) -> Line:
    staging = try_import("backend.runs.staging")
    if staging is None or missing(staging, "Stager") or missing(staging.Stager, "stage_input"):
        return Line.not_built(ROW_AGAIN, "B", GOAL_BYTES,
                              "Stager.stage_input (content-addressed staging) missing")
    from backend.hosts.runtime import HostRuntime
    from backend.store import Store

    folder = ctx.scratch("staging")
    store = Store(folder / "bench.db")
    sent, wire, seconds = [], [], []
    try:
        def stage(target_shell, run_name: str) -> float:
            stager = staging.Stager(store, HostRuntime(shell.host, target_shell, store=store))
            run_dir = f"{remote_root}/runs/{run_name}"
            target_shell.run(["mkdir", "-p", f"{run_dir}/inputs"]).check("mkdir run dir")
            started = time.perf_counter()
            stager.stage_input(src, run_dir, "input.bin")
            return time.perf_counter() - started

        first = stage(shell, "first")  # fills the box's cache
        for rep in range(reps):
            fresh = open_ssh_shell(ctx, remote_root)
            try:
                fresh.run(["true"]).check("connecting")
                counting = CountingShell(fresh)
                before = _wire_sent(fresh)
                seconds.append(stage(counting, f"again-{rep}"))
                after = _wire_sent(fresh)
                sent.append(counting.sent)
                if before is not None and after is not None and after >= before:
                    wire.append(after - before)
            finally:
                fresh.close()
    finally:
        store.close()
    return Line.measured(
        ROW_AGAIN, "B", GOAL_BYTES, sent, [size] * len(sent),
        ours_label="file bytes sent staging the same input again (Stager.stage_input)",
        baseline_label="a plain re-upload (the file size)",
        note="2nd staging of the same input",
        details={"first_staging_seconds": first,
                 "first_staging_throughput_Bps": size / first if first else None,
                 "again_seconds": seconds, "ssh_wire_bytes_sent_again": wire})
