"""Bulk file transfers through the OpenSSH `sftp` client, when it is installed.

Paramiko is CPU-bound in Python: on this kind of machine it moves about half of what OpenSSH's
`sftp` does with the same cipher (bench/ row 1). Large inputs and outputs therefore go through
`sftp -b` when it exists, with the same host-key trust as our Paramiko connection (our
known_hosts files, StrictHostKeyChecking=yes, BatchMode so it never prompts); small files and
anything OpenSSH cannot reach (jump hosts) stay on Paramiko, which is also the fallback.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import subprocess
from pathlib import Path
from typing import Sequence

from backend.remote.ssh_config import Hop

log = logging.getLogger(__name__)

#: Files at least this large are worth a new OpenSSH connection (~0.2 s to set up).
BULK_THRESHOLD = 8 << 20


def sftp_exe() -> str | None:
    return shutil.which("sftp")


def _quote(path: str) -> str:
    """A path as one sftp batch-file argument."""
    return '"' + path.replace("\\", "\\\\").replace('"', '\\"') + '"'


#: AES-GCM first: with AES-NI it is the fastest cipher OpenSSH has (chacha20 is its default).
CIPHERS = "aes128-gcm@openssh.com,aes256-gcm@openssh.com,chacha20-poly1305@openssh.com,aes128-ctr"


def control_dir() -> Path:
    """A private folder for OpenSSH master sockets: later transfers skip the handshake."""
    folder = Path(tempfile.gettempdir()) / f"cosmos-ssh-{os.getuid()}"
    folder.mkdir(mode=0o700, exist_ok=True)
    if folder.stat().st_uid != os.getuid() or folder.stat().st_mode & 0o077:
        raise PermissionError(f"{folder} is not private; remove it")
    return folder


def sftp_argv(hop: Hop, known_hosts: Sequence[Path]) -> list[str]:
    """`sftp -b -` for one box, trusting exactly the known_hosts files we trust."""
    argv = [sftp_exe() or "sftp", "-q", "-b", "-", "-P", str(hop.port), "-c", CIPHERS,
            "-o", "ControlMaster=auto", "-o", f"ControlPath={control_dir()}/%C",
            "-o", "ControlPersist=120",
            "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
            "-o", "UserKnownHostsFile=" + " ".join(str(p) for p in known_hosts),
            "-o", "GlobalKnownHostsFile=/etc/ssh/ssh_known_hosts",
            "-o", "ServerAliveInterval=15", "-o", "ConnectTimeout=10"]
    if hop.host_key_alias:
        argv += ["-o", f"HostKeyAlias={hop.host_key_alias}"]
    for identity in hop.identity_files:
        argv += ["-i", identity]
    if hop.identities_only:
        argv += ["-o", "IdentitiesOnly=yes"]
    argv.append(f"{hop.user}@{hop.hostname}" if hop.user else hop.hostname)
    return argv


def run_batch(argv: Sequence[str], commands: Sequence[str], timeout: float) -> tuple[bool, str]:
    """Run sftp batch commands; (ok, error text)."""
    try:
        proc = subprocess.run(list(argv), input="\n".join(commands).encode() + b"\n",
                              capture_output=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, str(exc)
    return proc.returncode == 0, proc.stderr.decode("utf-8", "replace").strip()


def upload(hop: Hop, known_hosts: Sequence[Path], local: Path, remote_part: str,
           resume: bool, timeout: float = 3600) -> tuple[bool, str]:
    verb = "reput" if resume else "put"
    return run_batch(sftp_argv(hop, known_hosts), [f"{verb} {_quote(str(local))} "
                                                   f"{_quote(remote_part)}"], timeout)


def download(hop: Hop, known_hosts: Sequence[Path], remote: str, local_part: Path,
             timeout: float = 3600) -> tuple[bool, str]:
    return run_batch(sftp_argv(hop, known_hosts), [f"get {_quote(remote)} "
                                                   f"{_quote(str(local_part))}"], timeout)
