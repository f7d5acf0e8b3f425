"""GPU leases on the box itself: how two installations of the app never share a GPU.

Each installation's database only knows its own runs, so the claim of a GPU is also written
where every installation can see it: one file per GPU under `<remote_root>/leases/`, taken
over the box's shell (SSH or local) by one constant POSIX-sh script. The script holds a
mutex while it looks and writes (`mkdir` of a lock folder, atomic on POSIX; a lock folder
older than STALE_LOCK_SECONDS is left from a holder that died and is taken over), so taking
the leases of a run's GPUs is all-or-nothing and two installations racing for GPU 0 get one
winner. A lease file says which installation, which run, until when and for whom:

    <installation id> <run id> <expires, epoch seconds> <owner>

The holder renews it while the run is active; a lease past its expiry is stale (its holder
crashed or lost the box) and is taken over by the next installation that asks. Every value
passed to the script is an id, a GPU index, a number or a checked user name, as separate
arguments: nothing reaches the shell as text to interpret.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Iterable, Sequence

from backend.remote.shell import RemoteError, Shell

log = logging.getLogger(__name__)

STALE_LOCK_SECONDS = 10
_SAFE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")

#: $1 folder, $2 op (take|renew|release|list), $3 installation, $4 run, $5 ttl, $6 owner,
#: then GPU indexes. Exit 3: some GPU is leased by another installation (lines "taken ...").
LEASE_SCRIPT = r"""
set -u
dir=$1; op=$2; me=$3; run=$4; ttl=$5; owner=$6; shift 6
mkdir -p "$dir" || exit 4
lock="$dir/.lock"
tries=0
until mkdir "$lock" 2>/dev/null; do
  tries=$((tries + 1))
  born=$(stat -c %Y "$lock" 2>/dev/null || echo 0)
  if [ "$born" -gt 0 ] && [ $(( $(date +%s) - born )) -gt STALE ]; then
    rmdir "$lock" 2>/dev/null
  fi
  if [ "$tries" -gt 600 ]; then echo "lock $lock busy"; exit 5; fi
  sleep 0.02
done
trap 'rmdir "$lock" 2>/dev/null' EXIT
trap 'exit 6' INT TERM HUP
now=$(date +%s)
if [ "$op" = list ]; then
  for f in "$dir"/gpu-*; do
    [ -f "$f" ] || continue
    printf '%s %s\n' "${f##*/gpu-}" "$(head -n 1 "$f")"
  done
  exit 0
fi
if [ "$op" = take ]; then
  taken=0
  for g in "$@"; do
    f="$dir/gpu-$g"
    [ -f "$f" ] || continue
    read -r inst held exp who < "$f" || true
    if [ "${inst:-}" != "$me" ] && [ "${exp:-0}" -gt "$now" ]; then
      echo "taken $g ${inst:-?} ${held:-?} ${exp:-0} ${who:-}"; taken=1
    fi
  done
  [ "$taken" = 0 ] || exit 3
fi
for g in "$@"; do
  f="$dir/gpu-$g"
  if [ "$op" != take ]; then
    [ -f "$f" ] || continue
    read -r inst held exp who < "$f" || true
    [ "${inst:-}" = "$me" ] && [ "${held:-}" = "$run" ] || continue
  fi
  if [ "$op" = release ]; then
    rm -f "$f"
  else
    printf '%s %s %s %s\n' "$me" "$run" $((now + ttl)) "$owner" > "$f.$$"
    mv -f "$f.$$" "$f"
  fi
done
echo ok
""".replace("STALE", str(STALE_LOCK_SECONDS))


@dataclass(frozen=True)
class Lease:
    gpu: int
    installation: str
    run_id: str
    expires_at: float
    owner: str = ""

    @property
    def stale(self) -> bool:
        return self.expires_at <= time.time()


class LeaseTaken(RemoteError):
    """Another installation holds a lease on one of the GPUs asked for."""

    def __init__(self, leases: Sequence[Lease]) -> None:
        self.leases = list(leases)
        super().__init__("; ".join(f"GPU {lease.gpu} is leased by another installation ("
                                   f"{lease.owner or 'someone'}'s run {lease.run_id[-8:]})"
                                   for lease in self.leases))


def _parse(line: str, skip: int = 0) -> Lease | None:
    parts = line.split()[skip:]
    if len(parts) < 4 or not parts[0].isdigit():
        return None
    try:
        return Lease(int(parts[0]), parts[1], parts[2], float(parts[3]),
                     parts[4] if len(parts) > 4 else "")
    except ValueError:
        return None


class Leases:
    """The lease folder of one box, reached through its shell."""

    def __init__(self, shell: Shell, remote_root: str, installation: str) -> None:
        self.shell = shell
        self.dir = str(PurePosixPath(remote_root) / "leases")
        self.installation = installation

    def _run(self, op: str, run_id: str, gpus: Iterable[int], ttl: float = 0,
             owner: str = "") -> tuple[int, str]:
        for value in (run_id or "-", owner or "-", self.installation):
            if not _SAFE.match(value):
                raise ValueError(f"{value!r} cannot be written into a lease")
        argv = ["sh", "-c", LEASE_SCRIPT, "cosmos-lease", self.dir, op, self.installation,
                run_id or "-", str(int(ttl)), owner or "-",
                *(str(int(g)) for g in gpus)]
        result = self.shell.run(argv, timeout=60)
        if result.exit_code not in (0, 3):
            raise RemoteError(f"GPU leases in {self.dir} on {self.shell.name}: "
                              + (result.err.strip() or result.out.strip()
                                 or f"exit {result.exit_code}"))
        return result.exit_code, result.out

    def take(self, run_id: str, gpus: Sequence[int], ttl: float, owner: str) -> None:
        """Lease these GPUs for `run_id`, all or none; LeaseTaken names who holds them."""
        if not gpus:
            return
        code, out = self._run("take", run_id, gpus, ttl, owner)
        if code == 3:
            raise LeaseTaken([lease for lease in (_parse(line, 1) for line in out.splitlines()
                                                  if line.startswith("taken "))
                              if lease is not None])
        log.info("leased GPU(s) %s on %s for run %s", ",".join(map(str, gpus)),
                 self.shell.name, run_id)

    def renew(self, run_id: str, gpus: Sequence[int], ttl: float, owner: str) -> None:
        if gpus:
            self._run("renew", run_id, gpus, ttl, owner)

    def release(self, run_id: str, gpus: Sequence[int]) -> None:
        """Give the run's leases back (only leases this installation holds for that run)."""
        if gpus:
            self._run("release", run_id, gpus)
            log.info("released GPU lease(s) %s on %s of run %s", ",".join(map(str, gpus)),
                     self.shell.name, run_id)

    def list(self) -> list[Lease]:
        _, out = self._run("list", "", ())
        return [lease for lease in (_parse(line) for line in out.splitlines()) if lease]
