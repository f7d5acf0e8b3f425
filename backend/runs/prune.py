"""Retention on the boxes: `cosmos prune` and the scheduler's automatic prune.

What goes, per host: collected run folders (`<remote_root>/runs/<id>`) whose runs all ended
more than N days ago; input-cache files (`<remote_root>/cache/<sha256>.<ext>`), least recently
used first, until the cache is under its cap; and our containers that no run owns.

What never goes: a folder of a run that is queued or still active (or one this database does
not know: another app may share the box); a cache file linked from a folder that stays, or
holding the content of a queued run's input, or still being uploaded (`.upload`); anything on
this machine (local outputs are never pruned). Staging touches a cache file each time a run
uses it, so its mtime is its last use.
"""

from __future__ import annotations

import logging
import posixpath
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from backend.hosts.runtime import HostRuntime
from backend.ids import is_valid_id
from backend.models.params import GenerationParams
from backend.models.profile import UnknownModel, get_profile
from backend.remote.docker import LABEL_APP
from backend.store.models import QUEUED, TERMINAL

log = logging.getLogger(__name__)

DAY = 86400.0
GB = 1 << 30


@dataclass
class PruneReport:
    host: str
    dry_run: bool
    run_folders: list[dict[str, Any]] = field(default_factory=list)
    kept_folders: list[dict[str, Any]] = field(default_factory=list)
    cache_before: int = 0
    cache_after: int = 0
    cache_cap: int | None = None
    stamps: dict[str, str] = field(default_factory=dict, repr=False)  # name -> listed mtime
    evicted: list[dict[str, Any]] = field(default_factory=list)
    protected: int = 0
    containers: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"host": self.host, "dry_run": self.dry_run, "run_folders": self.run_folders,
                "kept_folders": self.kept_folders,
                "cache": {"before_bytes": self.cache_before, "after_bytes": self.cache_after,
                          "cap_bytes": self.cache_cap, "evicted": self.evicted,
                          "protected": self.protected},
                "containers": self.containers, "errors": self.errors}


def _queued_hashes(store: Any, host: str) -> set[str]:
    """sha256 of every local input of the host's queued runs (what staging will look for)."""
    from backend.runs.staging import sha256_file

    digests: set[str] = set()
    for run in store.runs_in((QUEUED,), host=host):
        try:
            profile = get_profile(run.model)
        except UnknownModel:
            continue
        params = GenerationParams.from_dict(run.params_dict())
        try:
            files = profile.input_files(params, run.run_type)
        except Exception:  # an input the profile cannot name: nothing to protect
            continue
        for entry in files:
            path = Path(entry.path)
            if path.is_file():
                digests.add(sha256_file(path))
    return digests


def _folders(store: Any, rt: HostRuntime, cutoff: float | None, report: PruneReport
             ) -> tuple[list[str], list[str]]:
    """(folders to remove, folders kept) under runs/."""
    runs_dir = posixpath.join(rt.host.remote_root, "runs")
    listing = rt.shell.run(["ls", "-1", "--", runs_dir], timeout=60)
    names = [n for n in listing.out.split() if n] if listing.ok else []
    remove, keep = [], []
    for name in names:
        runs = [r for r in (store.get_run(name),) if r] if is_valid_id(name) else []
        runs = runs or (store.batch_members(name) if is_valid_id(name) else [])
        why = None
        if not runs:
            why = "not a run of this database"
        elif any(r.status not in TERMINAL for r in runs):
            why = "queued or in progress"
        elif cutoff is None:
            why = "no --older-than (and no retention_days)"
        elif max(r.finished_at or r.updated_at for r in runs) > cutoff:
            why = "ended recently"
        entry = {"id": name, "finished_at": max((r.finished_at or 0) for r in runs) if runs
                 else None}
        if why:
            keep.append(name)
            report.kept_folders.append(dict(entry, why=why))
        else:
            remove.append(name)
            report.run_folders.append(entry)
    return remove, keep


def _linked(rt: HostRuntime, folders: list[str]) -> set[str]:
    """Cache file names the `inputs/` links of these run folders point at."""
    if not folders:
        return set()
    runs_dir = posixpath.join(rt.host.remote_root, "runs")
    paths = [posixpath.join(runs_dir, f, "inputs") for f in folders]
    found = rt.shell.run(["find", *paths, "-maxdepth", "1", "-type", "l", "-printf", "%l\\n"],
                         timeout=120)
    return {posixpath.basename(line.strip()) for line in found.out.splitlines() if line.strip()}


def prune_host(store: Any, rt: HostRuntime, instance_id: str, *, older_than_days: float | None,
               cache_max_gb: float | None, dry_run: bool) -> PruneReport:
    host = rt.host
    report = PruneReport(host.name, dry_run)
    cutoff = time.time() - older_than_days * DAY if older_than_days is not None else None
    remove, keep = _folders(store, rt, cutoff, report)
    protected = _linked(rt, keep) | {f"{d}" for d in _queued_hashes(store, host.name)}
    # cache: name -> (mtime, size); the oldest use goes first
    cache = rt.cache_dir()
    listing = rt.shell.run(["find", cache, "-maxdepth", "1", "-type", "f", "-printf",
                            "%T@ %s %f\\n"], timeout=120)
    entries = []
    for line in listing.out.splitlines() if listing.ok else []:
        parts = line.split(" ", 2)
        if len(parts) == 3 and parts[1].isdigit():
            entries.append((float(parts[0]), int(parts[1]), parts[2]))
            report.stamps[parts[2]] = parts[0]  # find's own digits: a float would round
    report.cache_before = sum(size for _, size, _ in entries)
    total = report.cache_before
    if cache_max_gb:
        report.cache_cap = int(cache_max_gb * GB)
        for mtime, size, name in sorted(entries):
            if total <= report.cache_cap:
                break
            stem = name.split(".", 1)[0]
            if name.endswith((".upload", ".part")) or name in protected or stem in protected:
                report.protected += 1
                continue
            report.evicted.append({"name": name, "bytes": size, "last_used": mtime})
            total -= size
    report.cache_after = total
    # containers of ours that no run owns
    try:
        ours = rt.engine.list_ours(f"{LABEL_APP}={instance_id}")
    except Exception as exc:
        ours = []
        report.errors.append(f"cannot list containers: {exc}")
    from backend.hosts.telemetry import run_id_of

    ids = [i for i in (run_id_of(c) for c in ours) if i]
    owners = store.container_owners(ids, time.time() - 30)
    report.containers = [c.get("Names", "") for c in ours
                         if not run_id_of(c) or run_id_of(c) not in owners]
    if not dry_run:
        _apply(rt, report, remove)
    return report


def _apply(rt: HostRuntime, report: PruneReport, remove: list[str]) -> None:
    runs_dir = posixpath.join(rt.host.remote_root, "runs")
    for name in remove:
        result = rt.shell.run(["rm", "-rf", "--", posixpath.join(runs_dir, name)], timeout=600)
        if not result.ok:
            report.errors.append(f"runs/{name}: {result.err.strip()}")
    if report.evicted:
        result = rt.shell.run(evict_command(rt.cache_dir(), report.evicted, report.stamps),
                              timeout=600)
        if not result.ok:
            report.errors.append(f"cache: {result.err.strip()}")
    for name in report.containers:
        result = rt.engine.remove(name)
        if not result.ok:
            report.errors.append(f"container {name}: {result.err.strip()}")
    log.info("pruned %s: %d run folder(s), %d cache file(s), %d container(s)", rt.host.name,
             len(remove), len(report.evicted), len(report.containers))


def evict_command(cache_dir: str, evicted: list[dict[str, Any]],
                  stamps: dict[str, str]) -> list[str]:
    """One `find` that deletes each listed cache file only if nobody used it since it was
    listed: a run staged in between touched it (backend/runs/staging.py), so its mtime is
    newer than the listed one and it stays, with the link that run just made to it."""
    expression: list[str] = []
    for entry in evicted:
        if expression:
            expression.append("-o")
        expression += ["(", "-name", entry["name"], "!", "-newermt",
                       "@" + stamps.get(entry["name"], f"{entry['last_used']:.6f}"), ")"]
    return ["find", cache_dir, "-maxdepth", "1", "-type", "f", "(", *expression, ")",
            "-delete"]
