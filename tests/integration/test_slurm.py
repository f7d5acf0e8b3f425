"""Runs on a real single-node Slurm cluster, reached over the real sshd (host kind "slurm").

The cluster (tests/slurm.py) is slurmctld + slurmd on 127.0.0.1 with one fake GPU: a one-slot
node, so a second run waits in Slurm's queue with reason Resources. The SSH test user submits
the jobs and they run as that user; the "shared filesystem" is the local disk. The job runs
job.sh directly (`slurm_container = "none"`): torchrun is the simulator's shim and Cosmos the
fake one, which find their helpers through the host's env. One test runs the container path
(`slurm_container = "docker"`) with the simulator's docker-compatible engine inside the job.
Nothing of ours is mocked; Slurm's own view (`scontrol show job`) is checked next to ours.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

import pytest

from backend import store as st
from backend.config import load_config
from backend.hosts.doctor import check_hosts
from backend.media import make_test_clip, probe_video
from backend.wiring import start_backend
from tests.helpers import RUN_STARTS, wait_for
from tests.integration.conftest import SHIMS, ssh_login, write_app_config
from tests.integration.remote_helpers import (assert_log_complete_and_unduplicated, params,
                                              remote_log, start_worker, stop_worker,
                                              wait_terminal)
from tests.slurm import SlurmCluster, SlurmUnavailable

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def slurm(sshd):
    try:
        cluster = SlurmCluster.start(gpus=1)
    except SlurmUnavailable as exc:
        pytest.skip(f"no test Slurm cluster: {exc}")
    yield cluster
    cluster.stop()


@pytest.fixture(autouse=True)
def empty_queue(slurm):
    """Every test starts and ends with nothing in Slurm's queue."""
    slurm.cancel_all()
    yield
    slurm.cancel_all()


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    return make_test_clip(tmp_path_factory.mktemp("clip") / "street.mp4", width=320,
                          height=180, frames=25)


def cluster_table(sshd, slurm: SlurmCluster, remote_root: str, remote_python: str, *,
                  seconds: float = 1.5, **over) -> dict:
    """A kind = "slurm" host whose jobs run the simulator's job.sh on the node (no container)."""
    import imageio_ffmpeg

    engine = f"{remote_python} -m backend.simulator.engine --root {remote_root}/engine"
    table = dict(
        ssh_login(sshd), kind="slurm", partition="debug", time_limit="10",
        slurm_env=slurm.env, slurm_container="none", docker=engine,
        remote_root=remote_root, cosmos_checkout=f"{remote_root}/cosmos-transfer1",
        image="cosmos-sim/transfer1:latest", gpus=[0], simulated=True,
        same_paths_in_container=True,
        # what cosmos-sim gives a container (backend/simulator/runargs.py container_env)
        env={"COSMOS_SIM_SECONDS": str(seconds),
             "PATH": f"{SHIMS}:{Path(remote_python).parent}:/usr/local/bin:/usr/bin:/bin",
             "COSMOS_SIM_PYTHON": remote_python,
             "COSMOS_SIM_FFMPEG": imageio_ffmpeg.get_ffmpeg_exe()})
    table.update(over)
    return table


@pytest.fixture
def app(tmp_path, sshd, slurm, remote_root, remote_python, no_user_ssh):
    started = []

    def start(**table):
        config = write_app_config(
            tmp_path, {"cluster": cluster_table(sshd, slurm, remote_root, remote_python,
                                                **table)}, trust_sshd=sshd, kill_grace=5)
        backend = start_backend(load_config(config))
        events: list = []
        backend.bus.subscribe(events.append)
        started.append(backend)
        return backend, events

    yield start
    for backend in started:
        backend.close()


def launch(b, clip, prompt="a sunlit street, photorealistic", **kw):
    return b.ops.launch(params(clip, prompt, **kw), host="cluster").id


def running_with_log(b, run_id, lines=3, timeout=RUN_STARTS):
    return wait_for(lambda: (r := b.store.get_run(run_id)).status == st.RUNNING
                    and r.log_lines >= lines and r, timeout=timeout,
                    what=f"run {run_id} to log {lines} lines")


def queued_in_slurm(b, run_id, reasons=("Resources", "Priority"), timeout=RUN_STARTS):
    """The run waits in Slurm's queue (`pending`) and its progress says why (once Slurm has
    looked)."""
    phases = {f"queued in Slurm: {reason}" for reason in reasons}
    return wait_for(lambda: (r := b.store.get_run(run_id)).status == st.PENDING
                    and (r.progress_dict() or {}).get("phase") in phases
                    and "position" in r.progress_dict().get("detail", "") and r,
                    timeout=timeout, what=f"run {run_id} to wait in Slurm's queue")


def processes_of(run_id: str) -> list[str]:
    out = subprocess.run(["pgrep", "-af", run_id], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if "pgrep" not in line]


# -- tests ------------------------------------------------------------------------------------
def test_run_is_submitted_followed_and_completed_with_its_output(app, slurm, remote_root, clip):
    b, events = app()
    run_id = launch(b, clip)
    run = wait_terminal(b, run_id)
    assert run.status == st.COMPLETED, (run.failure_cause, b.store.log_text(run_id)[-15:])
    info = probe_video(run.output_path)
    assert (info.width, info.height, info.codec) == (1280, 704, "h264")
    assert info.frames == probe_video(clip).frames
    # the run row knows its Slurm job and node; Slurm agrees and ran exactly what we asked
    assert run.external_id and run.external_id.isdigit() and run.container_id == run.external_id
    assert run.node == slurm.node
    job = slurm.job(run.external_id)
    assert job["JobState"] == "COMPLETED" and job["ExitCode"] == "0:0"
    assert job["JobName"] == f"cosmos-{run_id}"
    assert f"cosmos.run={run_id}" in job["Comment"]
    assert job["Partition"] == "debug" and job["TimeLimit"] == "00:10:00"
    assert "gpu:1" in job.get("TresPerNode", "") + job.get("TRES", "")
    assert job["UserId"].startswith("cosmos-sshtest")
    folder = Path(remote_root) / "runs" / run_id
    assert job["StdOut"] == str(folder / "run.log")
    script = (folder / "slurm.sh").read_text()
    assert "#SBATCH --gres=gpu:1" in script
    assert f"exec srun --ntasks=1 bash {folder}/job.sh" in script
    assert run.command == script  # what the run row shows is what was submitted
    # the log: every line once, at its byte offset, downloaded byte for byte
    remote = remote_log(remote_root, run_id)
    assert_log_complete_and_unduplicated(b.store, run_id, remote)
    assert (Path(run.output_path).parent / "run.log").read_bytes() == remote
    statuses = [t.status for t in b.store.transitions(run_id)]
    assert statuses == ["queued", "staging", "pending", "running", "collecting", "completed"]
    assert run.progress_dict()["fraction"] == pytest.approx(1.0, abs=0.01)
    assert run.gpu_list() == [0]  # the GPU Slurm gave the job (scontrol -d: IDX)


def test_waiting_run_shows_its_place_is_dequeued_then_running_one_cancelled(app, slurm, clip):
    b, _ = app(seconds=60)
    first = launch(b, clip, "a long street")
    running_with_log(b, first)
    second = launch(b, clip, "waits behind it")
    waiting = queued_in_slurm(b, second)
    progress = waiting.progress_dict()
    assert f"Slurm job {waiting.external_id}" in progress["detail"]
    assert "position 1 of 1 waiting in debug" in progress["detail"]
    assert waiting.log_lines == 0 and waiting.node is None
    assert slurm.job(waiting.external_id)["JobState"] == "PENDING"

    # dequeue: the waiting job leaves Slurm's queue and never runs
    b.ops.kill(second)
    gone = wait_terminal(b, second)
    assert gone.status == st.CANCELLED and gone.exit_code is None and gone.log_lines == 0
    assert gone.failure_cause == (f"cancelled by user while waiting in Slurm's queue "
                                  f"(job {gone.external_id} never started)")
    assert slurm.job(gone.external_id)["JobState"] == "CANCELLED"
    assert b.store.get_run(first).status == st.RUNNING

    # kill the running one: TERM to the job's process, the partial log kept
    lines_before = b.store.get_run(first).log_lines
    b.ops.kill(first)
    run = wait_terminal(b, first)
    assert run.status == st.CANCELLED and run.exit_code == 143, run.failure_cause
    assert run.log_lines >= lines_before and run.output_path is None
    assert slurm.job(run.external_id)["ExitCode"] == "143:0"
    assert not processes_of(first), processes_of(first)


def test_a_run_waiting_in_slurm_is_pending_then_running_with_its_queue_time_apart(app, slurm,
                                                                                  clip):
    b, _ = app(seconds=4)
    first = launch(b, clip, "holds the node's only GPU")
    running_with_log(b, first)
    second = launch(b, clip, "waits for it")
    waiting = queued_in_slurm(b, second)
    assert waiting.pending_at and waiting.ran_at is None and waiting.node is None
    # what people see: the Hosts and status views count the held GPU, the run says why
    busy = next(h for h in b.ops.queue_overview()["hosts"] if h["name"] == "cluster")
    assert busy["busy_count"] == 1
    shown = b.ops.get_run(second)
    assert shown.status == "pending" and shown.external_id == waiting.external_id
    run = wait_terminal(b, second, timeout=120)
    assert run.status == st.COMPLETED, run.failure_cause
    statuses = [t.status for t in b.store.transitions(second)]
    assert statuses == ["queued", "staging", "pending", "running", "collecting", "completed"]
    times = {t.status: t.at for t in b.store.transitions(second)}
    # the queue time ends when the job really started, after the first one's job had ended
    # (seen as its `collecting`; its `finished_at` comes later, after the collect, which
    # takes seconds on a loaded machine)
    first_ended = next(t.at for t in b.store.transitions(first) if t.status == "collecting")
    assert run.ran_at >= first_ended - 2 and run.ran_at > run.pending_at
    queue = b.ops.get_run(second).queue_seconds
    assert queue == pytest.approx(run.ran_at - run.pending_at) and queue > 1
    assert times["running"] - times["pending"] == pytest.approx(queue, abs=0.01)
    # GPU time counts only the run: finished - ran_at, not the wait
    assert run.gpu_seconds == pytest.approx(run.finished_at - run.ran_at)
    assert run.gpu_seconds < run.finished_at - run.started_at - 1
    usage = b.ops.usage(by="host")["rows"][0]
    both = queue + b.ops.get_run(first).queue_seconds  # the first waited a moment too
    assert usage["slurm_queue_hours"] * 3600 == pytest.approx(both, abs=0.1)
    assert usage["queued_in_slurm"] == 2 and run.node == slurm.node


def test_force_kill_ends_the_job_at_once(app, slurm, clip):
    b, _ = app(seconds=60)
    run_id = launch(b, clip)
    running_with_log(b, run_id)
    b.ops.kill(run_id, force=True)
    run = wait_terminal(b, run_id)
    assert run.status == st.CANCELLED and run.exit_code == 137
    assert slurm.job(run.external_id)["ExitCode"] == "0:9"
    assert not processes_of(run_id)


def test_failed_job_has_its_exit_code_cause_and_log(app, slurm, clip):
    b, _ = app()
    run = wait_terminal(b, launch(b, clip, "a street [sim:crash]"))
    assert run.status == st.FAILED
    status, _, signal = slurm.job(run.external_id)["ExitCode"].partition(":")
    assert signal == "0" and int(status) != 0 and run.exit_code == int(status)
    assert slurm.job(run.external_id)["JobState"] == "FAILED"
    assert "crash" in run.failure_cause.lower() and run.failure_evidence
    log = b.store.log_text(run.id)
    assert any(run.failure_evidence.strip() in line or line in run.failure_evidence
               for line in log)


def test_two_runs_behind_a_one_slot_node_run_one_after_the_other(app, slurm, clip):
    b, events = app(seconds=1.5)
    ids = [launch(b, clip, "first in line"), launch(b, clip, "second in line")]
    done = [wait_terminal(b, run_id) for run_id in ids]
    assert [r.status for r in done] == [st.COMPLETED, st.COMPLETED], \
        [r.failure_cause for r in done]
    # both were submitted at once (Slurm owns the queue); one ran, then the other
    jobs = sorted(((slurm.job(r.external_id), r) for r in done), key=lambda p: p[0]["StartTime"])
    (a, _), (c, later) = jobs
    assert c["StartTime"] >= a["EndTime"], (a["EndTime"], c["StartTime"])
    assert c["SubmitTime"] < a["EndTime"], "the second job was not in the queue meanwhile"
    assert a["NodeList"] == c["NodeList"] == slurm.node
    # meanwhile the one that waited showed why (the UI got the progress events)
    phases = [e.progress.get("phase", "") for e in events
              if e.kind == "progress" and e.run_id == later.id]
    assert any(p.startswith("queued in Slurm:") for p in phases), phases


def test_a_new_worker_reattaches_to_the_job_and_resumes_its_log(tmp_path, sshd, slurm,
                                                                remote_root, remote_python,
                                                                no_user_ssh, clip):
    """The worker driving a run dies mid-job; another adopts the run from its job id."""
    config = write_app_config(
        tmp_path, {"cluster": cluster_table(sshd, slurm, remote_root, remote_python,
                                            seconds=6)},
        trust_sshd=sshd, stale_worker_seconds=3)
    b = start_backend(load_config(config), with_scheduler=False)
    workers = [start_worker(config)]
    try:
        run_id = launch(b, clip)
        running_with_log(b, run_id, lines=5)
        workers[0].kill()  # a crash: no clean shutdown
        workers[0].wait()
        workers.append(start_worker(config))
        run = wait_terminal(b, run_id)
        assert run.status == st.COMPLETED, (run.failure_cause, b.store.log_text(run_id)[-10:])
        assert_log_complete_and_unduplicated(b.store, run_id, remote_log(remote_root, run_id))
        statuses = [t.status for t in b.store.transitions(run_id)]
        assert statuses == ["queued", "staging", "pending", "running", "collecting",
                            "completed"]
        assert slurm.job(run.external_id)["JobState"] == "COMPLETED"
    finally:
        for worker in workers:
            stop_worker(worker)
        b.close()


def test_batched_runs_share_one_job_and_a_chained_upscale_follows(tmp_path, sshd, slurm,
                                                                 remote_root, remote_python,
                                                                 no_user_ssh, clip):
    config = write_app_config(
        tmp_path, {"cluster": cluster_table(sshd, slurm, remote_root, remote_python)},
        trust_sshd=sshd)
    config.write_text(config.read_text().replace("[scheduler]\n", "[scheduler]\nbatching = true\n"))
    b = start_backend(load_config(config), with_scheduler=False)
    first = b.ops.launch(params(clip, "one street"), host="cluster", with_upscale=True).id
    second = launch(b, clip, "another street")
    worker = start_worker(config)  # both are queued before anyone claims them
    try:
        runs = [wait_terminal(b, run_id) for run_id in (first, second)]
        assert [r.status for r in runs] == [st.COMPLETED] * 2, [r.failure_cause for r in runs]
        assert runs[0].batch_id and runs[0].batch_id == runs[1].batch_id
        assert runs[0].external_id == runs[1].external_id  # one Slurm job for the batch
        assert slurm.job(runs[0].external_id)["JobName"] == f"cosmos-{runs[0].batch_id}"
        assert runs[0].output_path != runs[1].output_path
        child = wait_for(lambda: st.Run.get_or_none(st.Run.parent_id == first),
                         what="the chained upscale")
        child = wait_terminal(b, child.id)
        assert child.status == st.COMPLETED and child.run_type == "upscale", child.failure_cause
        assert child.external_id not in (None, runs[0].external_id)
    finally:
        stop_worker(worker)
        b.close()


def test_refused_submission_fails_the_run_with_slurms_reason(app, clip):
    b, _ = app(partition="nosuchpartition")
    run = wait_terminal(b, launch(b, clip))
    assert run.status == st.FAILED
    assert "Slurm refused the job" in run.failure_cause
    assert "partition" in run.failure_cause.lower()


def test_docker_mode_runs_the_container_in_the_job_and_stops_it(app, slurm, remote_root, clip,
                                                                remote_python):
    """`slurm_container = "docker"` with the simulator's docker-compatible engine."""
    b, _ = app(slurm_container="docker", env={"COSMOS_SIM_SECONDS": "1.5"})
    run = wait_terminal(b, launch(b, clip))
    assert run.status == st.COMPLETED, (run.failure_cause, b.store.log_text(run.id)[-15:])
    script = (Path(remote_root) / "runs" / run.id / "slurm.sh").read_text()
    assert " run --rm " in script and " run -d " not in script
    assert '--gpus "\\"device=${SLURM_JOB_GPUS:?' in script
    # a graceful kill reaches the container through the script's trap (docker stop)
    hanging = launch(b, clip, "a street [sim:hang]")
    running_with_log(b, hanging)
    b.ops.kill(hanging)
    killed = wait_terminal(b, hanging)
    assert killed.status == st.CANCELLED and killed.exit_code == 143, killed.failure_cause
    assert not processes_of(hanging), processes_of(hanging)
    left = subprocess.run(
        ["runuser", "-u", "cosmos-sshtest", "--", remote_python, "-m",
         "backend.simulator.engine", "--root", f"{remote_root}/engine", "ps", "-aq",
         "--filter", f"label=cosmos.run={hanging}"], capture_output=True, text=True, cwd="/")
    assert left.returncode == 0 and not left.stdout.strip()  # --rm: nothing left on the node


def test_doctor_checks_the_cluster(tmp_path, sshd, slurm, remote_root, remote_python,
                                   no_user_ssh):
    good = cluster_table(sshd, slurm, remote_root, remote_python)
    bad = dict(good, partition="gpu-big", gpus=[0, 1])
    config = write_app_config(tmp_path, {"cluster": good, "wrong": bad}, trust_sshd=sshd)
    reports = {r.host: r for r in check_hosts(load_config(config), ["cluster", "wrong"])}
    checks = {c.name: c for c in reports["cluster"].checks}
    assert [c for c in checks] == ["shell", "slurm", "partition", "gres", "container",
                                   "gpu_runtime", "remote_root", "checkout", "checkpoints",
                                   "checkout (transfer2.5)", "checkpoints (transfer2.5)",
                                   "checkout (cosmos3)", "checkpoints (cosmos3)", "manifest",
                                   "hf_token", "hf_cache", "disk"]
    # mode "none" runs no docker on the nodes: nothing to probe there
    assert "not asked" in checks["gpu_runtime"].finding and "not asked" in \
        checks["manifest"].finding
    # the simulated cluster serves every model
    assert checks["checkout (transfer2.5)"].status == "ok" == checks["checkout (cosmos3)"].status
    assert checks["shell"].finding.startswith("reachable (over SSH")
    assert all(checks[n].status == "ok" for n in ("slurm", "partition", "gres", "container"))
    assert "debug is up" in checks["partition"].finding
    assert "up to 1 GPU(s) per node" in checks["gres"].finding
    wrong = {c.name: c for c in reports["wrong"].checks}
    assert wrong["partition"].status == "fail" and "gpu-big does not exist" in \
        wrong["partition"].finding and "debug" in wrong["partition"].finding


def _docker_mode_cluster(tmp_path, sshd, slurm, dockerd, docker_image, remote_root,
                         mirror: Path, fifo: str | None = None):
    """A docker-mode cluster host whose nodes' engine is the real test dockerd, with a bare
    image tag, a small local Dockerfile and a checkpoint mirror (tests/integration/
    test_setup.py's recipe)."""
    from backend.models.profile import get_profile
    from backend.ids import new_id
    from tests.integration.conftest import docker_box_table
    from tests.integration.test_setup import _mirror

    tag = f"cosmos-test/slurm-setup-{new_id().lower()}:latest"
    side = Path(remote_root) / "side"
    side.mkdir()
    (side / "Dockerfile").write_text(f"FROM {docker_image}\nLABEL cosmos.test=slurm-setup\n")
    sums = _mirror(mirror, fifo=fifo)
    subprocess.run(["chown", "-R", sshd.user, str(side), str(mirror)], check=True)
    table = docker_box_table(sshd, remote_root, dockerd, tag, dockerfile=str(side / "Dockerfile"),
                             checkpoint_source=str(mirror), models=["transfer1"])
    table.update(kind="slurm", partition="debug", time_limit="10", slurm_env=slurm.env,
                 slurm_container="docker", gpus=[0], max_concurrent=1)
    config = write_app_config(tmp_path, {"cluster": table}, trust_sshd=sshd)
    root = Path(remote_root) / "cosmos-transfer1" / "checkpoints"
    return load_config(config), tag, sums, root, [c.path for c in
                                                  get_profile("transfer1").checkpoints]


def _setup_steps_in_slurm(slurm, run_id: str) -> list[str]:
    """Slurm's own record of the setup's steps (the job completion log)."""
    text = (slurm.workdir / "jobcomp.txt").read_text() if (slurm.workdir /
                                                           "jobcomp.txt").exists() else ""
    return [line for line in text.splitlines() if f"Name=cosmos-setup-{run_id.lower()}" in line]


def test_setup_of_a_docker_cluster_builds_on_the_nodes_through_srun(
        tmp_path, sshd, slurm, dockerd, docker_image, remote_root, no_user_ssh):
    """Issue 15: `cosmos setup` prepares a Slurm host: the image is built by the nodes' engine
    (through srun, as Slurm's own completion log shows), the checkpoints are fetched once into
    the shared folder, a run then records the image digest setup read on the nodes, and the
    doctor asks the nodes for the GPU runtime and the manifest."""
    from backend.hosts import manifest

    settings, tag, sums, root, _ = _docker_mode_cluster(
        tmp_path, sshd, slurm, dockerd, docker_image, remote_root, Path(remote_root) / "mirror")
    assert dockerd.cli("image", "inspect", tag, check=False).returncode != 0  # bare
    b = start_backend(settings)
    try:
        done = wait_terminal(b, b.ops.setup("cluster").id)
        lines = b.store.log_text(done.id)
        assert done.status == st.COMPLETED, (done.failure_cause, lines[-8:])
        assert any(line.startswith("engine commands run as: ") and "srun" in line
                   and f"--job-name=cosmos-setup-{done.id.lower()}" in line for line in lines)
        digest = dockerd.cli("image", "inspect", "--format", "{{.Id}}", tag).stdout.strip()
        doc = manifest.load_local(settings.data_dir, "cluster", "transfer1")
        assert doc["image_digest"] == digest
        assert {f["path"]: f["sha256"] for f in doc["checkpoints"]} == sums
        for rel, want in sums.items():
            assert hashlib.sha256((root / rel).read_bytes()).hexdigest() == want
        wait_for(lambda: len(_setup_steps_in_slurm(slurm, done.id)) >= 3,
                 what="Slurm's completion log to list the setup's srun steps")
        checks = {c.name: c for c in check_hosts(settings, ["cluster"])[0].checks}
        assert checks["gpu_runtime"].status == "ok", checks["gpu_runtime"]
        assert checks["manifest"].status == "ok", checks["manifest"]
        assert digest in checks["manifest"].finding
        again = wait_terminal(b, b.ops.setup("cluster").id)
        assert again.status == st.COMPLETED, again.failure_cause
        assert any("nothing changed since the last setup" in line
                   for line in b.store.log_text(again.id))
    finally:
        b.close()


def test_a_killed_cluster_setup_stops_its_srun_step_and_container(
        tmp_path, sshd, slurm, dockerd, docker_image, remote_root, no_user_ssh):
    """A kill mid-fetch scancels the setup's steps: the fetch container is gone, nothing is
    left in Slurm's queue, and no file is half-written under its real name."""
    mirror = Path(remote_root) / "mirror"
    settings, _, _, root, checkpoints = _docker_mode_cluster(
        tmp_path, sshd, slurm, dockerd, docker_image, remote_root, mirror)
    blocked = checkpoints[3]
    (mirror / blocked).unlink()
    os.mkfifo(mirror / blocked)  # the fetch blocks on it until the kill
    subprocess.run(["chown", sshd.user, str(mirror / blocked)], check=True)
    b = start_backend(settings)
    try:
        run_id = b.ops.setup("cluster").id
        wait_for(lambda: f"fetching {blocked}" in b.store.log_text(run_id), timeout=RUN_STARTS,
                 what="the fetch to reach the blocking file")
        assert [c for c in dockerd.containers(f"label=cosmos.setup={run_id}")]
        b.ops.kill(run_id)
        killed = wait_terminal(b, run_id)
        assert killed.status == st.CANCELLED, killed.failure_cause
        wait_for(lambda: dockerd.containers(f"label=cosmos.setup={run_id}") == [],
                 what="the setup container to be gone")
        wait_for(lambda: f"cosmos-setup-{run_id.lower()}" not in slurm.run(
            "squeue", "--noheader", "--format=%j").stdout,
            what="the setup's steps to leave Slurm's queue")
        assert not (root / blocked).exists()
    finally:
        b.close()
