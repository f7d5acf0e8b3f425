"""Every server the test fixtures start listens on loopback only, never on every address.

Each test starts (or takes) one fixture, makes it busy the way the suite does (a Slurm job with
an `srun` step, an open SSH session, a running container, the launched app), then reads which
TCP/UDP sockets those processes and their children listen on, from /proc/net/{tcp,tcp6,udp,
udp6} (tests/listeners.py). A fixture whose servers had no listener at all would prove nothing,
so each test also checks that it found the listeners it expects.
"""

from __future__ import annotations

import pytest

from tests.helpers import RUN_STARTS, wait_for
from tests.listeners import (command_name, describe, listeners_of, non_loopback,
                             processes_mentioning, processes_with_env, with_descendants)
from tests.slurm import SlurmCluster, SlurmUnavailable

pytestmark = pytest.mark.integration


def assert_loopback_only(pids: set[int], expect: dict[str, int]) -> None:
    """No listener of `pids` is off loopback; and per command name, at least that many
    processes listen (what the fixture is known to serve)."""
    owned = listeners_of(pids)
    assert not non_loopback(owned), "listening off loopback: " + describe(non_loopback(owned))
    names = [command_name(pid) for pid in owned]
    for name, count in expect.items():
        assert names.count(name) >= count, f"no {name} listener found among: {describe(owned)}"


@pytest.fixture
def cluster():
    try:
        cluster = SlurmCluster.start(gpus=1)
    except SlurmUnavailable as exc:
        pytest.skip(f"no test Slurm cluster: {exc}")
    yield cluster
    cluster.stop()


def slurm_processes(cluster: SlurmCluster) -> set[int]:
    """slurmctld, slurmd and everything below them, plus the slurmstepds (slurmd double-forks
    them, so they hang off PID 1; they carry the cluster's SLURM_CONF) and their jobs."""
    return with_descendants({p.pid for p in cluster.procs}
                            | processes_with_env("SLURM_CONF", str(cluster.conf)))


def test_slurm_daemons_job_steps_and_srun_listen_on_loopback_only(cluster):
    # srun inside the batch job is how a kind = "slurm" host starts job.sh (mode "none")
    job = cluster.run("sbatch", "--parsable", "-o", "/dev/null", "--wrap",
                      "srun --ntasks=1 sleep 120").stdout.strip()
    wait_for(lambda: cluster.job(job).get("JobState") == "RUNNING", timeout=RUN_STARTS,
             what="the job to run")
    # the step is up once srun listens (it opens its ports before asking for the step)
    wait_for(lambda: "srun" in describe(listeners_of(slurm_processes(cluster))),
             what="srun to listen")
    wait_for(lambda: cluster.run("squeue", "--steps", "--noheader", "--format=%i", "-j", job,
                                 check=False).stdout.strip().count(f"{job}.0") >= 1,
             what="the job's srun step to start")
    assert_loopback_only(slurm_processes(cluster), {"slurmctld": 1, "slurmd": 1, "srun": 1})


def test_sshd_listens_on_loopback_only_with_a_session_open(sshd, ssh_shell):
    assert ssh_shell.run(["true"]).exit_code == 0  # a per-connection sshd process exists
    assert_loopback_only(with_descendants({sshd.proc.pid}), {"sshd": 1})


def test_dockerd_and_containerd_listen_on_no_address(dockerd, docker_image):
    """dockerd serves unix sockets only; its containerd neither (no CRI streaming port)."""
    name = "loopback-probe"
    dockerd.cli("run", "-d", "--rm", "--network", "none", "--name", name, docker_image,
                "sleep", "120")
    try:
        tree = with_descendants({dockerd.proc.pid} | processes_mentioning(str(dockerd.workdir)))
        names = sorted(command_name(pid) for pid in tree)
        assert {"dockerd", "containerd"} <= set(names), names
        assert any(n.startswith("containerd-shim") for n in names), names
        assert_loopback_only(tree, {})
        assert not listeners_of(tree), describe(listeners_of(tree))
    finally:
        dockerd.cli("rm", "-f", name, check=False)


def test_the_launched_app_listens_on_loopback_only(tmp_path):
    from tests.e2e.conftest import AppProcess

    app = AppProcess(tmp_path, sim_seconds=1)
    try:
        assert_loopback_only(with_descendants({app.proc.pid}), {"python": 1})
    finally:
        app.stop()


def test_an_xdist_worker_has_a_network_of_its_own_and_a_serial_run_does_not():
    """tests/conftest.py: parallel workers cannot take each other's ports (tests/netns.py)."""
    import os

    from tests.netns import interfaces

    # the parent: pytest-xdist's controller for a worker, the shell for a serial run
    ours, parent = (os.stat(f"/proc/{pid}/ns/net").st_ino for pid in ("self", os.getppid()))
    if os.environ.get("PYTEST_XDIST_WORKER") and not os.environ.get("COSMOS_TESTS_SHARED_NETWORK"):
        assert ours != parent and interfaces() == ["lo"]
    else:
        assert ours == parent
