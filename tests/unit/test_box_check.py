"""GPU leases on the box (the real script through a real shell) and what a look at a box
makes of nvidia-smi, containers and leases."""

from __future__ import annotations

import threading
import time

import pytest

from backend.hosts.boxcheck import describe_container, judge, parse_apps, parse_gpu_memory
from backend.hosts.leases import Lease, Leases, LeaseTaken
from backend.remote.shell import LocalShell


@pytest.fixture
def root(tmp_path):
    return str(tmp_path / "box")


def test_a_lease_is_exclusive_all_or_nothing_and_released_by_its_holder(root):
    a = Leases(LocalShell("box"), root, "installa")
    b = Leases(LocalShell("box"), root, "installb")
    a.take("runa", [0, 1], 60, "ann")
    with pytest.raises(LeaseTaken) as taken:
        b.take("runb", [1, 2], 60, "bob")
    assert [(lease.gpu, lease.installation, lease.run_id, lease.owner) for lease in taken.value.leases] == [
        (1, "installa", "runa", "ann")]
    assert {lease.gpu for lease in a.list()} == {0, 1}  # nothing of b's half-taken
    b.release("runa", [0, 1])  # not b's to give back
    assert {lease.gpu for lease in a.list()} == {0, 1}
    a.release("runa", [0, 1])
    assert a.list() == []
    b.take("runb", [1, 2], 60, "bob")
    assert {(lease.gpu, lease.installation) for lease in a.list()} == {(1, "installb"), (2, "installb")}


def test_a_stale_lease_is_taken_over_and_renewal_keeps_one_alive(root):
    crashed = Leases(LocalShell("box"), root, "crashed")
    crashed.take("old", [0], 1, "ann")  # expires in a second: its holder died
    live = Leases(LocalShell("box"), root, "live")
    live.take("keep", [1], 2, "cat")
    time.sleep(2.2)
    live.renew("keep", [1], 60, "cat")
    other = Leases(LocalShell("box"), root, "other")
    other.take("new", [0], 60, "bob")  # the stale lease gives way
    with pytest.raises(LeaseTaken):
        other.take("new2", [1], 60, "bob")  # the renewed one does not
    assert {(lease.gpu, lease.installation) for lease in other.list()} == {(0, "other"), (1, "live")}


def test_racing_installations_get_one_winner(root):
    winners: list[str] = []
    lock = threading.Lock()

    def race(name: str) -> None:
        try:
            Leases(LocalShell("box"), root, name).take("run" + name, [0], 60, name)
        except LeaseTaken:
            return
        with lock:
            winners.append(name)

    threads = [threading.Thread(target=race, args=(f"inst{i}",)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(winners) == 1
    [lease] = Leases(LocalShell("box"), root, "x").list()
    assert lease.installation == winners[0]


def test_nothing_but_ids_reaches_the_script(root):
    with pytest.raises(ValueError):
        Leases(LocalShell("box"), root, "inst").take("run; rm -rf /", [0], 60, "ann")
    with pytest.raises(ValueError):
        Leases(LocalShell("box"), root, "inst").take("run", [0], 60, "$(id)")


def test_judge_names_every_kind_of_user_of_a_gpu():
    memory = parse_gpu_memory("0, GPU-a, 4, 81559\n1, GPU-b, 61000, 81559\n"
                              "2, GPU-c, 300, 81559\n3, GPU-d, 70000, 81559\n4, GPU-e, 9, 81559\n")
    apps = parse_apps("GPU-b, 4242, 61000\n")
    containers = [
        describe_container({"Names": "cosmos-x", "State": "running", "Labels":
                            "cosmos.app=other,cosmos.run=01abcdefgh,cosmos.owner=bob,"
                            "cosmos.gpus=2"}, "me"),
        describe_container({"Names": "cosmos-mine", "State": "running", "Labels":
                            "cosmos.app=me,cosmos.gpus=3"}, "me"),
    ]
    leases = [Lease(4, "other", "01leasedrun", time.time() + 60, "cat"),
              Lease(0, "other", "01stale", time.time() - 5, "dan")]
    taken = judge(installation="me", gpus=[0, 1, 2, 3, 4], ours=[3], memory=memory, apps=apps,
                  containers=containers, leases=leases, busy_mb=1024, vram_mb=0,
                  now=time.time())
    assert set(taken) == {1, 2, 4}  # 0: only a stale lease; 3: our own run's memory
    assert "pid 4242" in taken[1]
    assert "bob's run" in taken[2] and "another installation" in taken[2]
    assert "cat's run" in taken[4]
    assert containers[0]["whose"] == "another installation" and containers[0]["owner"] == "bob"
    assert containers[1]["whose"] == "ours"
    vram = judge(installation="me", gpus=[2], ours=[], memory=memory, apps=[], containers=[],
                 leases=[], busy_mb=1024, vram_mb=81400, now=time.time())
    assert vram[2].startswith("VRAM:")


def test_the_monitors_one_gpu_query_gives_the_look_the_same_memory_as_its_own_query():
    """The host monitor reads each GPU's uuid with its telemetry (WATCH_GPU_FIELDS) and hands
    the look that memory instead of a second nvidia-smi: the same answer as the look's own
    query (GPU_MEMORY_FIELDS) of the same GPUs."""
    from backend.hosts.boxcheck import memory_of
    from backend.hosts.telemetry import GPU_FIELDS, WATCH_GPU_FIELDS, parse_gpu_csv

    assert WATCH_GPU_FIELDS.split(",") == GPU_FIELDS.split(",") + ["uuid"]
    watch = "0, H100, 12, 40000, 81559, 51, GPU-aaa\n1, H100, [N/A], 3, 81559, 40, GPU-bbb\n"
    own = "0, GPU-aaa, 40000, 81559\n1, GPU-bbb, 3, 81559\n"
    rows = parse_gpu_csv(watch, with_uuid=True)
    assert memory_of(rows) == parse_gpu_memory(own) == {
        0: ("GPU-aaa", 40000.0, 81559.0), 1: ("GPU-bbb", 3.0, 81559.0)}
    assert rows[1]["utilization"] is None and rows[1]["uuid"] == "GPU-bbb"
    # the doctor's query has no uuid column: those rows are not mistaken for the watch's
    assert parse_gpu_csv(watch) == [] and parse_gpu_csv(watch, with_uuid=True) == rows
    assert [g["index"] for g in parse_gpu_csv("0, H100, 12, 40000, 81559, 51\n")] == [0]
