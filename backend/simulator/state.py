"""On-disk container records of the cosmos-sim engine.

Layout under the state root (one engine = one root, so tests and hosts never share state):

    containers/<64-hex id>/config.json     written once, before the supervisor starts
    containers/<64-hex id>/state.json      docker's State, rewritten atomically (tmp + replace)
    containers/<64-hex id>/container.log   the container's combined stdout + stderr
    containers/<64-hex id>/supervisor.log  the supervisor's own errors (not the container's)
    names/<name>                            the id owning a name (created O_EXCL: no two
                                            concurrent `run --name N` can both win)
    tombstones/<id>.json                    last state of a removed container, so `wait` on an
                                            `--rm` container still learns the exit code

A container folder appears atomically (built as `.new-<id>` then renamed) and disappears
atomically (renamed to `.rm-<id>-<rand>` then deleted), so a concurrent `ps` sees whole
containers only.

Truth-telling when the supervisor is gone: the supervisor is the only process that can learn
the container's exit status (it is the parent). If it was killed, `current_state` checks the
recorded pids (with their /proc start times, so a reused pid is not mistaken for ours, and a
zombie counts as dead): a live container process is still `running`; a dead one with no
recorded exit becomes `exited` with ExitCode 137 (what a SIGKILL of the whole container gives,
the usual way both die together) and an `Error` text saying the status is unknown. The
inferred state is written back so later calls agree on FinishedAt.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from pathlib import Path
from typing import Any

from .errors import CliError, NoSuchContainer

log = logging.getLogger(__name__)

ZERO_TIME = "0001-01-01T00:00:00Z"
_ID_RE = re.compile(r"^[0-9a-f]{64}$")
#: A name file whose container folder never appeared is stale after this long.
_STALE_NAME_SECONDS = 10.0
#: A container still `created` with no supervisor record after this long lost its supervisor.
_START_GRACE_SECONDS = 30.0
#: Tombstones older than this are pruned.
_TOMBSTONE_TTL_SECONDS = 3600.0
VANISHED_EXIT_CODE = 137
VANISHED_ERROR = (
    "cosmos-sim: the container's supervisor vanished before recording the exit status; "
    "reported as 137 (killed)"
)


def now_rfc3339() -> str:
    """Current UTC time as docker writes it: RFC3339 with nanoseconds."""
    ns = time.time_ns()
    secs, frac = divmod(ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + f".{frac:09d}Z"


def parse_rfc3339(text: str | None) -> float | None:
    """Epoch seconds of a docker timestamp, None for the zero time or garbage."""
    if not text or text.startswith("0001-"):
        return None
    m = re.match(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?Z$", text)
    if not m:
        return None
    import calendar

    secs = calendar.timegm(time.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S"))
    frac = float("0." + m.group(2)) if m.group(2) else 0.0
    return secs + frac


def process_start_time(pid: int) -> str | None:
    """The kernel's start time of `pid` (jiffies since boot), None if gone or a zombie.

    Comparing it with the recorded value tells our process apart from a reused pid.
    """
    try:
        data = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return None
    except OSError:
        return _fallback_alive(pid)
    fields = data[data.rindex(")") + 2 :].split()
    if fields[0] in ("Z", "X", "x"):
        return None
    return fields[19]


def _fallback_alive(pid: int) -> str | None:
    """Without /proc (not Linux) we can only ask whether the pid exists."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return "?"
    return "?"


def is_alive(pid: int | None, start: str | None) -> bool:
    """True if `pid` runs and is the same process that had start time `start`."""
    if not pid:
        return False
    if not Path("/proc").is_dir():
        return _fallback_alive(pid) is not None
    current = process_start_time(pid)
    if current is None:
        return False
    return start in (None, "?") or current == start


def write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    """Write JSON so readers see the old or the new file, never a torn one."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=1)
    os.replace(tmp, path)


def read_json(path: Path) -> dict[str, Any] | None:
    """Read a JSON file, None if it does not exist (e.g. removed concurrently)."""
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except (FileNotFoundError, NotADirectoryError):
        return None


class Store:
    """All container records under one state root."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.containers = root / "containers"
        self.names = root / "names"
        self.tombstones = root / "tombstones"

    def ensure(self) -> None:
        """Create the folders (idempotent; safe for concurrent callers)."""
        for folder in (self.containers, self.names, self.tombstones):
            folder.mkdir(parents=True, exist_ok=True)

    # ---- paths and raw records -------------------------------------------------------------
    def dir(self, cid: str) -> Path:
        return self.containers / cid

    def log_path(self, cid: str) -> Path:
        return self.dir(cid) / "container.log"

    def config(self, cid: str) -> dict[str, Any] | None:
        return read_json(self.dir(cid) / "config.json")

    def raw_state(self, cid: str) -> dict[str, Any] | None:
        return read_json(self.dir(cid) / "state.json")

    def write_state(self, cid: str, state: dict[str, Any]) -> bool:
        """Replace the state; False if the container was removed meanwhile."""
        try:
            write_json_atomic(self.dir(cid) / "state.json", state)
        except (FileNotFoundError, NotADirectoryError):
            return False
        return True

    def ids(self) -> list[str]:
        """Ids of all existing containers (unordered)."""
        try:
            entries = os.listdir(self.containers)
        except FileNotFoundError:
            return []
        return [e for e in entries if _ID_RE.match(e)]

    # ---- creation ----------------------------------------------------------------------------
    def reserve_name(self, name: str, cid: str) -> None:
        """Claim `name` for `cid` or fail like docker's name conflict (exit 125)."""
        self.ensure()
        path = self.names / name
        for _ in range(3):
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                owner = self._name_owner(path)
                if owner is None:
                    continue  # stale reservation removed, try again
                raise CliError(
                    f'Error response from daemon: Conflict. The container name "/{name}" is '
                    f'already in use by container "{owner}". You have to remove (or rename) '
                    "that container to be able to reuse that name.\n"
                    "See 'docker run --help'.",
                    125,
                )
            with os.fdopen(fd, "w") as fh:
                fh.write(cid)
            return
        raise CliError(f"Error response from daemon: could not reserve name {name}", 125)

    def _name_owner(self, path: Path) -> str | None:
        """The id holding a name, or None after clearing a stale reservation."""
        try:
            owner = path.read_text().strip()
            age = time.time() - path.stat().st_mtime
        except FileNotFoundError:
            return None
        if self.dir(owner).is_dir() or age < _STALE_NAME_SECONDS:
            return owner
        log.info("clearing stale name reservation %s -> %s", path.name, owner)
        self.release_name(path.name, owner)
        return None

    def release_name(self, name: str, cid: str) -> None:
        """Drop the name reservation if `cid` still owns it."""
        path = self.names / name
        try:
            if path.read_text().strip() == cid:
                path.unlink()
        except FileNotFoundError:
            pass

    def create(self, cid: str, config: dict[str, Any], state: dict[str, Any]) -> None:
        """Make the container folder appear atomically with its config, state and log."""
        self.ensure()
        tmp = self.containers / f".new-{cid}"
        tmp.mkdir()
        write_json_atomic(tmp / "config.json", config)
        write_json_atomic(tmp / "state.json", state)
        (tmp / "container.log").touch()
        os.rename(tmp, self.dir(cid))

    # ---- lookup ------------------------------------------------------------------------------
    def resolve(self, ref: str) -> str:
        """Docker's lookup order: full id, exact name, then unique id prefix."""
        ref_name = ref[1:] if ref.startswith("/") else ref
        if _ID_RE.match(ref) and self.dir(ref).is_dir():
            return ref
        if ref_name and "/" not in ref_name:
            try:
                owner = (self.names / ref_name).read_text().strip()
            except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
                owner = ""
            if owner and self.dir(owner).is_dir():
                return owner
        if ref and re.match(r"^[0-9a-f]+$", ref):
            matches = [cid for cid in self.ids() if cid.startswith(ref)]
            if len(matches) == 1:
                return matches[0]
            if len(matches) > 1:
                raise CliError(
                    f"Error response from daemon: Multiple IDs found with provided prefix: {ref}",
                    1,
                )
        raise NoSuchContainer(ref)

    # ---- state with liveness -------------------------------------------------------------
    def current_state(self, cid: str) -> dict[str, Any] | None:
        """The state, corrected if the supervisor died without recording the exit."""
        state = self.raw_state(cid)
        if state is None or not is_active(state):
            return state
        if state.get("SupervisorPid") is None:
            created = parse_rfc3339((self.config(cid) or {}).get("Created")) or 0.0
            if time.time() - created < _START_GRACE_SECONDS:
                return state  # supervisor still starting
        elif is_alive(state["SupervisorPid"], state.get("SupervisorStart")):
            return state
        # The supervisor is gone. It may have written the final state just now: re-read.
        state = self.raw_state(cid)
        if state is None or not is_active(state):
            return state
        if state.get("Pid") and is_alive(state["Pid"], state.get("PidStart")):
            return state  # the container outlived its supervisor
        log.info("container %s lost its supervisor; marking exited", cid[:12])
        state.update(
            Status="exited",
            Running=False,
            Pid=0,
            ExitCode=VANISHED_EXIT_CODE,
            Error=VANISHED_ERROR,
            FinishedAt=now_rfc3339(),
        )
        self.write_state(cid, state)
        return state

    # ---- removal -------------------------------------------------------------------------
    def remove(self, cid: str) -> None:
        """Remove a container (any state); tolerant of a concurrent remover."""
        import shutil  # here, not at the top: most engine calls never remove (~3 ms a start)

        config = self.config(cid) or {}
        state = self.raw_state(cid)
        if state is not None:
            self.write_tombstone(cid, state)
        trash = self.containers / f".rm-{cid}-{os.urandom(4).hex()}"
        try:
            os.rename(self.dir(cid), trash)
        except FileNotFoundError:
            return
        name = str(config.get("Name", "")).lstrip("/")
        if name:
            self.release_name(name, cid)
        shutil.rmtree(trash, ignore_errors=True)

    def write_tombstone(self, cid: str, state: dict[str, Any]) -> None:
        self.ensure()
        write_json_atomic(self.tombstones / f"{cid}.json", state)
        self._prune_tombstones()

    def tombstone(self, cid: str) -> dict[str, Any] | None:
        return read_json(self.tombstones / f"{cid}.json")

    def _prune_tombstones(self) -> None:
        cutoff = time.time() - _TOMBSTONE_TTL_SECONDS
        try:
            entries = list(self.tombstones.iterdir())
        except FileNotFoundError:
            return
        for entry in entries:
            try:
                if entry.stat().st_mtime < cutoff:
                    entry.unlink()
            except FileNotFoundError:
                pass


def is_active(state: dict[str, Any]) -> bool:
    """Running, or created and still expected to start (not a failed start)."""
    status = state.get("Status")
    return status == "running" or (status == "created" and not state.get("Error"))


def new_state() -> dict[str, Any]:
    """Docker's State of a freshly created container (plus our private supervisor fields)."""
    return {
        "Status": "created",
        "Running": False,
        "Paused": False,
        "Restarting": False,
        "OOMKilled": False,
        "Dead": False,
        "Pid": 0,
        "ExitCode": 0,
        "Error": "",
        "StartedAt": ZERO_TIME,
        "FinishedAt": ZERO_TIME,
        "SupervisorPid": None,
        "SupervisorStart": None,
        "PidStart": None,
    }


#: Fields of State that `inspect` shows (the rest is private bookkeeping).
PUBLIC_STATE_KEYS = (
    "Status",
    "Running",
    "Paused",
    "Restarting",
    "OOMKilled",
    "Dead",
    "Pid",
    "ExitCode",
    "Error",
    "StartedAt",
    "FinishedAt",
)
