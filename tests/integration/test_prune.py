"""`cosmos prune` on a box over real SSH: old runs, a live run, a queued run and a full cache.

The dry run lists what would go and removes nothing; the prune removes the old run folders and
evicts the cache under its cap, least recently used first, while the live run's folder and the
files the live and the queued run need survive (the queued one then runs from the cache). Local outputs
are untouched. What is on the box is read from the box's own files.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from backend import media
from backend import store as st
from backend.config import load_config
from backend.runs.staging import sha256_file
from backend.wiring import start_backend
from tests.helpers import RUN_STARTS, wait_for
from tests.integration.conftest import sim_box_table, write_app_config
from tests.integration.remote_helpers import make_remote_root, params, remove_tree, wait_terminal

pytestmark = pytest.mark.integration


@pytest.fixture
def box_root(sshd):
    root = make_remote_root(sshd.user)
    yield root
    remove_tree(root)


def test_prune_keeps_live_and_queued_files_and_ends_under_the_cap(tmp_path, sshd, box_root,
                                                                  remote_python, no_user_ssh):
    clips = {name: media.make_test_clip(tmp_path / f"{name}.mp4", pattern=pattern, frames=frames)
             for name, pattern, frames in (("a", "testsrc2", 25), ("b", "smptebars", 30),
                                           ("c", "rgbtestsrc", 20))}
    table = sim_box_table(sshd, box_root, remote_python, seconds=1, max_concurrent=1,
                          models=["transfer1"])
    b = start_backend(load_config(write_app_config(tmp_path, {"box": table}, trust_sshd=sshd)))
    try:
        old = [wait_terminal(b, b.ops.launch(params(clips[n]), host="box").id) for n in "ab"]
        assert [r.status for r in old] == [st.COMPLETED, st.COMPLETED]
        long_ago = time.time() - 30 * 86400
        for run in old:
            b.store.update_run(run.id, finished_at=long_ago)
        cache = Path(box_root) / "cache"
        junk = []
        for index in range(3):  # inputs of runs long gone, last used long ago
            path = cache / f"{index:064x}.mp4"
            path.write_bytes(os.urandom(200_000))
            os.utime(path, (long_ago, long_ago))
            junk.append(path.name)
        # the live run hangs until killed (the fake Cosmos' [sim:hang]): no race with its end
        table_live = b.ops.launch(params(clips["c"], "the live one [sim:hang]"), host="box").id
        wait_for(lambda: b.store.get_run(table_live).status == st.RUNNING, timeout=RUN_STARTS,
                 what="the live run to run")
        queued = b.ops.launch(params(clips["a"], "waiting"), host="box").id
        assert b.store.get_run(queued).status == st.QUEUED

        name = {n: f"{sha256_file(c)}.mp4" for n, c in clips.items()}
        before = {p.name: p.stat().st_size for p in cache.iterdir()}
        assert set(before) == {name["a"], name["b"], name["c"], *junk}
        cap = before[name["a"]] + before[name["c"]] + 1000
        cap_gb = cap / (1 << 30)

        [dry] = b.ops.prune(["box"], older_than_days=7, cache_max_gb=cap_gb, dry_run=True)
        assert sorted(f["id"] for f in dry["run_folders"]) == sorted(r.id for r in old)
        kept = {f["id"]: f["why"] for f in dry["kept_folders"]}
        assert kept[table_live] == "queued or in progress"
        assert {e["name"] for e in dry["cache"]["evicted"]} == {name["b"], *junk}
        assert dry["cache"]["after_bytes"] <= cap < dry["cache"]["before_bytes"]
        assert {p.name for p in cache.iterdir()} == set(before)  # nothing removed
        assert all((Path(box_root) / "runs" / r.id).is_dir() for r in old)

        [done] = b.ops.prune(["box"], older_than_days=7, cache_max_gb=cap_gb)
        assert done["errors"] == []
        assert not any((Path(box_root) / "runs" / r.id).exists() for r in old)
        live_dir = Path(box_root) / "runs" / table_live
        assert live_dir.is_dir() and (live_dir / "inputs").is_dir()
        assert all(link.resolve().is_file() for link in (live_dir / "inputs").iterdir())
        left = {p.name: p.stat().st_size for p in cache.iterdir()}
        assert set(left) == {name["a"], name["c"]} and sum(left.values()) <= cap
        assert all(Path(r.output_path).is_file() for r in old)  # local outputs stay

        assert b.store.get_run(table_live).status == st.RUNNING  # pruned under a live run
        b.ops.kill(table_live)
        assert wait_terminal(b, table_live).status == st.CANCELLED
        # the queued run's input stayed in the cache: staged without an upload, and it runs
        assert wait_terminal(b, queued).status == st.COMPLETED
    finally:
        b.close()
