"""The prune's cache eviction spares a file a run used after the prune listed it.

A prune lists the cache, picks the least recently used files, then deletes them. A run staged
in between touches its cache file and links it into its folder (backend/runs/staging.py); if
the delete still took that file, the run's input would be a dangling link. The delete is one
`find` that takes a file only if its mtime is still the one listed. Run here with the real
GNU find on a real folder.
"""

from __future__ import annotations

import os
import subprocess
import time

from backend.runs.prune import evict_command


def _listing(folder) -> dict[str, str]:
    out = subprocess.run(["find", str(folder), "-maxdepth", "1", "-type", "f", "-printf",
                          "%T@ %f\\n"], capture_output=True, text=True, check=True).stdout
    return {name: stamp for stamp, name in (line.split(" ", 1) for line in out.splitlines())}


def test_a_file_touched_after_the_listing_stays_the_others_go(tmp_path):
    old = time.time() - 3600
    for name in ("a.mp4", "b.mp4", "c.mp4"):
        (tmp_path / name).write_bytes(b"x")
        os.utime(tmp_path / name, (old, old))
    stamps = _listing(tmp_path)
    evicted = [{"name": n, "bytes": 1, "last_used": float(stamps[n])}
               for n in ("a.mp4", "b.mp4")]
    os.utime(tmp_path / "b.mp4")  # a run staged b.mp4 after the listing (touch -c)
    subprocess.run(evict_command(str(tmp_path), evicted, stamps), check=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.mp4", "c.mp4"]


def test_names_are_arguments_never_patterns_of_a_shell(tmp_path):
    """A file name reaches find as one argument: a name with spaces or a quote matches only
    itself."""
    for name in ("x y.mp4", "x'y.mp4", "xy.mp4"):
        (tmp_path / name).write_bytes(b"x")
    stamps = _listing(tmp_path)
    evicted = [{"name": "x y.mp4", "bytes": 1, "last_used": float(stamps["x y.mp4"])},
               {"name": "x'y.mp4", "bytes": 1, "last_used": float(stamps["x'y.mp4"])}]
    subprocess.run(evict_command(str(tmp_path), evicted, stamps), check=True)
    assert [p.name for p in tmp_path.iterdir()] == ["xy.mp4"]
