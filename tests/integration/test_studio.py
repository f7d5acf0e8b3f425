"""A studio of many artists (issue 16), with real parts: a box over a real SSH server whose
engine is the simulator (its nvidia-smi reports what its containers use), real processes for
separate installations, the real scheduler and store.

* two installations (separate data dirs) on one box with one GPU: never on it at once, and
  the second says why it waits;
* a container that is not ours holding a GPU keeps our runs off it;
* a live lease of another installation keeps us off; a stale one is taken over;
* owners: filters, and the per-owner limits under a burst of 30 runs from 3 users.
"""

from __future__ import annotations

import json
import pwd
import subprocess
import threading
import time
from pathlib import Path

import pytest

from backend import store as st
from backend.config import load_config
from backend.hosts.leases import Leases
from backend.media import make_test_clip
from backend.store.history import RunFilter
from backend.wiring import start_backend
from tests.helpers import ROOT, STATE_CHANGES, wait_for
from tests.integration.conftest import sim_box_table, write_app_config
from tests.integration.remote_helpers import params, start_worker, stop_worker, wait_terminal

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    return make_test_clip(tmp_path_factory.mktemp("clip") / "shot.mp4", width=320,
                          height=180, frames=25)


def box(sshd, remote_root, remote_python, **over) -> dict:
    return sim_box_table(sshd, remote_root, remote_python, **over)


def as_box_user(sshd, remote_python: str, remote_root: str, *args: str) -> str:
    """Run the box's engine (cosmos-sim) as the SSH user, as someone on the box would."""
    return subprocess.run(
        ["runuser", "-u", sshd.user, "--", remote_python, "-m", "backend.simulator.engine",
         "--root", f"{remote_root}/engine", *args], capture_output=True, text=True, check=True,
        cwd="/").stdout


def windows(run: st.Run) -> tuple[float, float]:
    """When the run held its GPU: from staging (claim) to collecting (container gone)."""
    times = {t.status: t.at for t in st.RunTransition.select()
             .where(st.RunTransition.run == run.id)}
    return times[st.STAGING], times.get(st.COLLECTING, run.finished_at)


QUEUE = """
import json, sys
from backend.config import load_config
from backend.models.transfer1.params import GenerationParams
from backend.wiring import start_backend
b = start_backend(load_config(sys.argv[1]), with_scheduler=False)
p = GenerationParams(prompt=sys.argv[3], negative_prompt="blurry", input_video=sys.argv[2],
                     weights={"edge": 1.0})
print(b.ops.launch(p, host="box", owner=sys.argv[4]).id)
b.close()
"""

READ = """
import json, sys
from backend import store as st
s = st.Store(sys.argv[1])
out = []
for r in st.Run.select():
    times = {t.status: t.at for t in st.RunTransition.select().where(st.RunTransition.run == r.id)}
    out.append({"id": r.id, "status": r.status, "gpus": r.gpu_list(), "owner": r.owner,
                "cause": r.failure_cause, "wait": r.wait_reason, "times": times})
print(json.dumps(out))
"""


def _py(script: str, *args: str) -> str:
    return subprocess.run([__import__("sys").executable, "-c", script, *args], cwd=str(ROOT),
                          capture_output=True, text=True, check=True).stdout


def test_two_installations_never_share_the_box_s_one_gpu(tmp_path, sshd, remote_root,
                                                          remote_python, clip, no_user_ssh):
    table = box(sshd, remote_root, remote_python, gpus=[0], max_concurrent=1, seconds=3)
    configs = []
    for name in ("studio-a", "studio-b"):
        folder = tmp_path / name
        folder.mkdir()
        configs.append(write_app_config(folder, {"box": table}, trust_sshd=sshd))
    for config, owner in zip(configs, ("ann", "bob")):
        _py(QUEUE, str(config), str(clip), f"a shot by {owner}", owner)
    workers = [start_worker(c) for c in configs]  # both claim GPU 0 at the same moment
    dbs = [str(c.parent / "data" / "cosmos.db") for c in configs]
    reasons: set[str] = set()
    try:
        def done():
            rows = [json.loads(_py(READ, db))[0] for db in dbs]
            reasons.update(r["wait"] for r in rows if r["status"] == "queued" and r["wait"])
            return all(r["status"] in st.TERMINAL for r in rows) and rows
        rows = wait_for(done, timeout=240, interval=0.3, what="both installations' runs")
    finally:
        for w in workers:
            stop_worker(w)
    assert [r["status"] for r in rows] == ["completed", "completed"], rows
    assert [r["gpus"] for r in rows] == [[0], [0]]
    (a0, a1), (b0, b1) = [(r["times"]["staging"], r["times"]["collecting"]) for r in rows]
    assert a1 <= b0 or b1 <= a0, rows  # one after the other, never both on GPU 0
    # the one that waited said it was the other installation's GPU
    assert any("another installation" in why for why in reasons), reasons
    assert Leases(_local_shell(), remote_root, "x").list() == []  # both gave the GPU back


def _local_shell():
    from backend.remote.shell import LocalShell

    return LocalShell("box")


@pytest.fixture
def backend(tmp_path, sshd, remote_root, remote_python, no_user_ssh):
    started = []

    def start(extra: str = "", **table):
        config = write_app_config(tmp_path, {"box": box(sshd, remote_root, remote_python,
                                                        **table)}, trust_sshd=sshd)
        if extra:
            config.write_text(config.read_text() + "\n" + extra + "\n")  # tables go last
        b = start_backend(load_config(config))
        started.append(b)
        return b

    yield start
    for b in started:
        b.close()


def test_a_foreign_container_on_a_gpu_keeps_our_runs_off_it(backend, sshd, remote_root,
                                                            remote_python, clip):
    as_box_user(sshd, remote_python, remote_root, "run", "-d", "--gpus", "device=0",
                "--name", "someones-notebook", "jupyter/base:latest", "sleep", "300")
    try:
        b = backend(gpus=[0, 1], max_concurrent=2, seconds=1)
        wait_for(lambda: b.scheduler.runtime("box").box.taken(), timeout=30,
                 what="the look at the box")
        small = [b.ops.launch(params(clip, f"small {i}"), host="box").id for i in range(2)]
        both = b.ops.launch(params(clip, "needs both", num_gpus=2), host="box").id
        for run_id in small:
            run = wait_terminal(b, run_id, timeout=120)
            assert run.status == st.COMPLETED and run.gpu_list() == [1], (run.gpus,
                                                                         run.failure_cause)
        why = wait_for(lambda: b.store.get_run(both).wait_reason, timeout=30)
        assert b.store.get_run(both).status == st.QUEUED
        assert "GPU 0" in why and "not started by this installation" in why, why
        overview = next(h for h in b.ops.hosts_overview() if h["name"] == "box")
        notebook = next(c for c in overview["box_containers"]
                        if c["name"] == "someones-notebook")
        assert notebook["whose"] == "not started by Cosmos"
        assert "0" in overview["taken"]
    finally:
        as_box_user(sshd, remote_python, remote_root, "rm", "-f", "someones-notebook")
    run = wait_terminal(b, both, timeout=120)  # the GPU is free again: it runs on both
    assert run.status == st.COMPLETED and run.gpu_list() == [0, 1]


def test_a_live_lease_keeps_us_off_and_a_stale_one_is_taken_over(backend, sshd, remote_root,
                                                                  clip):
    leases = Path(remote_root) / "leases"
    leases.mkdir(exist_ok=True)
    owner = pwd.getpwnam(sshd.user)
    live = leases / "gpu-0"
    live.write_text(f"otherinstall0000000000000 01otherrun {int(time.time()) + 600} carl\n")
    __import__("os").chown(leases, owner.pw_uid, owner.pw_gid)
    __import__("os").chown(live, owner.pw_uid, owner.pw_gid)
    b = backend(gpus=[0], max_concurrent=1, seconds=1)
    run_id = b.ops.launch(params(clip), host="box").id
    why = wait_for(lambda: b.store.get_run(run_id).wait_reason, timeout=60)
    assert "leased by another installation" in why and "carl" in why, why
    assert b.store.get_run(run_id).status == st.QUEUED
    # its holder died: the lease ran out long ago and nobody renews it
    live.write_text(f"otherinstall0000000000000 01otherrun {int(time.time()) - 60} carl\n")
    run = wait_terminal(b, run_id, timeout=120)
    assert run.status == st.COMPLETED and run.gpu_list() == [0]
    # ours, taken over, and given back once the run has ended (the job's thread releases it
    # over the box's shell just after the run's last status change)
    wait_for(lambda: not live.exists(), timeout=STATE_CHANGES, what="the lease to be released")


def test_owner_filters_and_limits_hold_under_a_burst_of_30_runs(backend, clip):
    people = ("ann", "bob", "cat")
    terms = "\n".join(f"[fair_share.users.{p}]\nmax_gpus = 1\nmax_queued = 10" for p in people)
    b = backend(extra=f"[fair_share]\nshare = 1\n{terms}", gpus=[0, 1, 2, 3], max_concurrent=4,
                seconds=0.3)
    ids: dict[str, list[str]] = {p: [] for p in people}
    lock = threading.Lock()

    def burst(person: str) -> None:
        for i in range(10):
            run = b.ops.launch(params(clip, f"{person} shot {i}"), host="box", owner=person)
            with lock:
                ids[person].append(run.id)

    threads = [threading.Thread(target=burst, args=(p,)) for p in people]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    runs = [wait_terminal(b, i, timeout=300) for p in people for i in ids[p]]
    assert all(r.status == st.COMPLETED for r in runs), [r.failure_cause for r in runs
                                                         if r.status != st.COMPLETED]
    for person in people:  # never more than one GPU at a time per person
        mine = sorted((windows(r) for r in runs if r.owner == person))
        assert len(mine) == 10
        assert all(a[1] <= b_[0] for a, b_ in zip(mine, mine[1:])), (person, mine)
    # people did run side by side (the limit is per person, not for the farm)
    spans = [windows(r) for r in runs]
    assert any(a[0] < b_[1] and b_[0] < a[1] and ra.owner != rb.owner
               for ra, a in zip(runs, spans) for rb, b_ in zip(runs, spans))
    # owner filters: the store's, the operation's and the CLI's
    page, total = b.ops.find_runs(RunFilter(owners=("bob",)), limit=50)
    assert total == 10 and {r.owner for r in page} == {"bob"}
    assert sorted(b.store.run_owners()) == list(people)
    usage = {row["key"]: row for row in b.ops.usage(by="user")["rows"]}
    assert {k: usage[k]["runs"] for k in people} == {p: 10 for p in people}
    assert all(usage[p]["gpu_hours"] > 0 for p in people)
