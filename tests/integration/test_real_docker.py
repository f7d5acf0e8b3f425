"""Container semantics on a real Docker engine, driven over real SSH.

The engine is our own dockerd (tests/dockerd.py): its own socket and data root, no bridge, no
iptables, a busybox image made with `docker import`, containers with `--network none` and the
host's binaries mounted read-only, the fake Cosmos inside. Assertions about containers ask the
daemon directly (`docker ps` by label), never our own Docker layer.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from backend import store as st
from backend.config import load_config
from backend.ids import new_id
from backend.media import make_test_clip
from backend.remote.docker import LABEL_APP, LABEL_RUN
from backend.wiring import start_backend
from backend.runs.scheduler import instance_id
from tests.helpers import ROOT, RUN_STARTS, wait_for
from tests.integration.conftest import docker_box_table, sim_box_table, write_app_config
from tests.integration.remote_helpers import (Stopwatch, make_remote_root, params, remove_tree,
                                              wait_terminal)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    return make_test_clip(tmp_path_factory.mktemp("clip") / "street.mp4", width=320,
                          height=180, frames=25)


@pytest.fixture
def roots(sshd):
    """Fresh remote roots owned by the SSH user, removed (and unmounted) afterwards."""
    made: list[str] = []

    def make() -> str:
        made.append(make_remote_root(sshd.user))
        return made[-1]

    yield make
    for path in made:
        remove_tree(path)


def test_kill_reaches_only_its_own_container(tmp_path, sshd, dockerd, docker_image, roots,
                                             clip, no_user_ssh):
    # a container of the very same image that is not ours, started first
    bystander = f"bystander-{new_id()}"
    dockerd.cli("run", "-d", "--name", bystander, "--network", "none", docker_image,
                "sleep", "300")
    remote_root = roots()
    config = write_app_config(
        tmp_path, {"box": docker_box_table(sshd, remote_root, dockerd, docker_image,
                                           seconds=8)}, trust_sshd=sshd)
    b = start_backend(load_config(config))
    try:
        victim = b.ops.launch(params(clip, "the one to kill"), host="box").id
        survivor = b.ops.launch(params(clip, "the one that goes on"), host="box").id
        wait_for(lambda: all((r := b.store.get_run(i)).status == st.RUNNING and r.log_lines > 3
                             for i in (victim, survivor)), timeout=RUN_STARTS,
                 what="both running")
        for run_id in (victim, survivor):  # one container per run, found by its full id
            [row] = dockerd.containers(f"label={LABEL_RUN}={run_id}")
            assert row["Names"] == f"cosmos-{run_id}" and row["State"] == "running"
        b.ops.kill(victim)
        killed = wait_terminal(b, victim)
        assert killed.status == st.CANCELLED and killed.exit_code in (143, 137)
        assert killed.log_lines > 3 and killed.output_path is None
        assert (b.settings.runs_dir / victim / "run.log").stat().st_size > 0  # partial log home
        assert dockerd.containers(f"label={LABEL_RUN}={victim}") == []  # collected, removed
        [row] = dockerd.containers(f"label={LABEL_RUN}={survivor}")
        assert row["State"] == "running"
        [row] = dockerd.containers(f"name={bystander}")
        assert row["State"] == "running"
        done = wait_terminal(b, survivor)
        assert done.status == st.COMPLETED, done.failure_cause
        [row] = dockerd.containers(f"name={bystander}")
        assert row["State"] == "running"  # never touched by either run
    finally:
        b.close()
        dockerd.cli("rm", "-f", bystander, check=False)


def test_remote_problems_get_a_cause_a_person_understands(tmp_path, sshd, dockerd, docker_image,
                                                          roots, remote_python, no_user_ssh):
    root_owned = roots()
    os.chown(root_owned, 0, 0)
    os.chmod(root_owned, 0o755)  # the SSH user may read it, not write it
    full = roots()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=384k,mode=0755", "tmpfs", full],
                   check=True)
    subprocess.run(["chown", sshd.user, full], check=True)
    boxes = {
        "nodocker": sim_box_table(sshd, roots(), remote_python,
                                  docker="/opt/no-such-dir/bin/docker"),
        "forbidden": docker_box_table(sshd, roots(), dockerd, docker_image, private_socket=True),
        "noimage": docker_box_table(sshd, roots(), dockerd, "cosmos-test/no-such-image:1.0"),
        "readonly": docker_box_table(sshd, root_owned, dockerd, docker_image),
        "full": docker_box_table(sshd, full, dockerd, docker_image),
    }
    config = write_app_config(tmp_path, boxes, trust_sshd=sshd)
    b = start_backend(load_config(config))
    try:
        # 550 kB: more than the full disk has left once the checkout is there
        big = ROOT / "assets" / "sample_mandelbrot_640x360.mp4"
        clock = Stopwatch()
        ids = {name: b.ops.launch(params(big if name == "full" else ROOT / "assets" /
                                         "sample_testcard_640x360.mp4"), host=name).id
               for name in boxes}
        runs = {name: wait_terminal(b, run_id) for name, run_id in ids.items()}
        took = clock()
        causes = {name: run.failure_cause or "" for name, run in runs.items()}
        assert all(run.status == st.FAILED for run in runs.values()), causes
        assert "'/opt/no-such-dir/bin/docker' is not installed" in causes["nodocker"]
        assert "permission denied on the Docker socket" in causes["forbidden"]
        assert "'docker' group" in causes["forbidden"]
        assert "image is missing" in causes["noimage"]
        assert "No such image: cosmos-test/no-such-image:1.0" in causes["noimage"]
        assert "Permission denied" in causes["readonly"] and root_owned in causes["readonly"]
        assert "disk of host full is full" in causes["full"] and "KiB free" in causes["full"]
        # nothing half-uploaded is left filling the disk
        assert [p for p in Path(full, "cache").iterdir() if ".part" in p.name] == []
        # the image check did not wait on a registry: `--pull never` fails at once
        assert "--pull never" in runs["noimage"].command
        assert took < 30
        assert dockerd.containers(f"label={LABEL_APP}={b.scheduler.instance_id}") == []
        print("\ncauses:\n" + "\n".join(f"  {k}: {v}" for k, v in causes.items()))
    finally:
        b.close()


def test_orphan_containers_are_listed_at_start(tmp_path, sshd, dockerd, docker_image, roots,
                                              clip, no_user_ssh):
    remote_root = roots()
    config = write_app_config(
        tmp_path, {"box": docker_box_table(sshd, remote_root, dockerd, docker_image)},
        trust_sshd=sshd)
    settings = load_config(config)
    ours = instance_id(settings.data_dir)
    unknown_run = new_id()
    orphan = f"cosmos-{unknown_run}"
    others = f"cosmos-{new_id()}"
    dockerd.cli("run", "-d", "--name", orphan, "--label", f"{LABEL_RUN}={unknown_run}",
                "--label", f"{LABEL_APP}={ours}", "--network", "none", docker_image,
                "sleep", "300")
    # a container of another installation of the app is not ours to list
    dockerd.cli("run", "-d", "--name", others, "--label", f"{LABEL_RUN}={new_id()}",
                "--label", f"{LABEL_APP}={new_id()}", "--network", "none", docker_image,
                "sleep", "300")
    b = start_backend(settings)
    try:
        clock = Stopwatch()
        overview = wait_for(lambda: (h := b.ops.hosts_overview()[0])["reachable"] and h,
                            what="the first look at the box")
        assert overview["name"] == "box"
        assert [(o["name"], o["run_id"]) for o in overview["orphans"]] == [(orphan,
                                                                            unknown_run)]
        print(f"\norphan listed {clock():.2f} s after start-up")
        # a run of ours is not an orphan while it runs
        run_id = b.ops.launch(params(clip), host="box").id
        wait_for(lambda: b.store.get_run(run_id).status == st.RUNNING, timeout=RUN_STARTS)
        # a look at the box that saw the run's container (not a sleep that hopes for one)
        wait_for(lambda: any(f"{LABEL_RUN}={run_id}" in (c.get("Labels") or "")
                             for c in b.ops.hosts_overview()[0]["containers"]),
                 what="a look at the box that lists the run's container")
        names = [o["name"] for o in b.ops.hosts_overview()[0]["orphans"]]
        assert names == [orphan]
        wait_terminal(b, run_id)
    finally:
        b.close()
        dockerd.cli("rm", "-f", orphan, others, check=False)
