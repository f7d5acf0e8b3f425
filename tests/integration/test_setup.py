"""`cosmos setup` over the real sshd and a real dockerd: a bare box made ready, reused, killed
mid-fetch and completed, an unwritable root, and a Hugging Face token that never leaks.

The model's Dockerfile is replaced by a small local one (FROM the busybox test image) and the
checkpoint source by a local folder or a loopback HTTP server that insists on the token. What
the box holds is asked of the box itself (files, `docker image inspect` of the daemon), never
of our own layers.
"""

from __future__ import annotations

import hashlib
import http.server
import json
import os
import pwd
import threading
from pathlib import Path

import pytest

from backend import store as st
from backend.config import load_config
from backend.hosts import manifest
from backend.ids import new_id
from backend.models.profile import get_profile
from backend.wiring import start_backend
from tests.helpers import wait_for
from tests.integration.conftest import docker_box_table, sim_box_table, write_app_config
from tests.integration.remote_helpers import make_remote_root, remove_tree, wait_terminal

pytestmark = pytest.mark.integration

TOKEN = "hf_SeCrEt" + "TokenValue0123456789"
CHECKPOINTS = [c.path for c in get_profile("transfer1").checkpoints]


@pytest.fixture
def roots(sshd):
    made: list[str] = []

    def make() -> str:
        made.append(make_remote_root(sshd.user))
        return made[-1]

    yield make
    for path in made:
        remove_tree(path)


def _own(path: Path, user: str) -> None:
    entry = pwd.getpwnam(user)
    os.chown(path, entry.pw_uid, entry.pw_gid)


def _mirror(folder: Path, fifo: str | None = None) -> dict[str, str]:
    """Every Transfer1 checkpoint as a small distinct file (one may be a FIFO: a fetch that
    blocks until the test lets it go); rel -> sha256. Writes SHA256SUMS."""
    sums = {}
    for index, rel in enumerate(CHECKPOINTS):
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if rel == fifo:
            os.mkfifo(path)
            continue
        data = f"{rel}\n".encode() * (50 + index * 7)
        path.write_bytes(data)
        sums[rel] = hashlib.sha256(data).hexdigest()
    (folder / "SHA256SUMS").write_text("".join(f"{h}  {r}\n" for r, h in sums.items()))
    return sums


def _box(sshd, dockerd, docker_image, roots, **over) -> tuple[dict, str, str]:
    remote_root, side = roots(), roots()
    tag = f"cosmos-test/setup-{new_id().lower()}:latest"
    dockerfile = Path(side) / "Dockerfile"
    dockerfile.write_text(f"FROM {docker_image}\nLABEL cosmos.test=setup\n")
    token = Path(side) / "hf_token"
    token.write_text(TOKEN + "\n")
    token.chmod(0o600)
    _own(token, sshd.user)
    table = docker_box_table(sshd, remote_root, dockerd, tag,
                             dockerfile=str(dockerfile), hf_token_file=str(token),
                             models=["transfer1"], **over)
    return table, remote_root, tag


def _leaks(b, data_dir: Path) -> list[str]:
    """Where the token shows up: the database files, every stored log line, files at home."""
    found = []
    for path in data_dir.rglob("*"):
        if path.is_file() and TOKEN.encode() in path.read_bytes():
            found.append(str(path))
    for run in b.store.list_runs(limit=100):
        if any(TOKEN in line for line in b.store.log_text(run.id)):
            found.append(f"log of {run.id}")
    return found


def _cmdlines_with_token() -> list[str]:
    hits = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if TOKEN.encode() in (entry / "cmdline").read_bytes():
                    hits.append(entry.name)
            except OSError:
                continue
    return hits


def test_setup_from_bare_box_then_reuses_everything(tmp_path, sshd, dockerd, docker_image,
                                                    roots, no_user_ssh):
    source = Path(roots())
    sums = _mirror(source)
    table, remote_root, tag = _box(sshd, dockerd, docker_image, roots,
                                   checkpoint_source=str(source))
    assert dockerd.cli("image", "inspect", tag, check=False).returncode != 0  # bare box
    b = start_backend(load_config(write_app_config(tmp_path, {"box": table}, trust_sshd=sshd)))
    try:
        first = wait_terminal(b, b.ops.setup("box").id)
        lines = b.store.log_text(first.id)
        assert first.status == st.COMPLETED, (first.failure_cause, lines[-5:])
        assert first.run_type == "setup"
        digest = dockerd.cli("image", "inspect", "--format", "{{.Id}}", tag).stdout.strip()
        assert digest.startswith("sha256:")
        root = Path(remote_root) / "cosmos-transfer1" / "checkpoints"
        uid = pwd.getpwnam(sshd.user).pw_uid
        for rel, want in sums.items():
            assert hashlib.sha256((root / rel).read_bytes()).hexdigest() == want
            assert (root / rel).stat().st_uid == uid  # the container ran as the SSH user
        on_box = json.loads(Path(manifest.box_path(remote_root, "transfer1")).read_text())
        home = manifest.load_local(b.settings.data_dir, "box", "transfer1")
        assert on_box == home and on_box["image_digest"] == digest
        assert {f["path"]: f["sha256"] for f in on_box["checkpoints"]} == sums
        assert all(f["verified"] == "pinned sha256" for f in on_box["checkpoints"])
        assert any(line.startswith("image ") and "built sha256:" in line for line in lines)
        assert not list(root.rglob("*.part"))

        second = wait_terminal(b, b.ops.setup("box").id)
        again = b.store.log_text(second.id)
        assert second.status == st.COMPLETED, second.failure_cause
        assert any("already on the box" in line and "reusing it" in line for line in again)
        assert any("reusing them all" in line for line in again)
        assert any("nothing changed since the last setup" in line for line in again)
        assert json.loads(second.recipe)[0]["id"] == on_box["id"]
        assert not any(line.startswith("fetching ") for line in again)
        assert _leaks(b, b.settings.data_dir) == []
    finally:
        b.close()


def test_setup_killed_mid_fetch_then_completed(tmp_path, sshd, dockerd, docker_image, roots,
                                               no_user_ssh):
    source = Path(roots())
    blocked = CHECKPOINTS[3]
    _mirror(source, fifo=blocked)
    table, remote_root, _ = _box(sshd, dockerd, docker_image, roots,
                                 checkpoint_source=str(source))
    b = start_backend(load_config(write_app_config(tmp_path, {"box": table}, trust_sshd=sshd)))
    try:
        run_id = b.ops.setup("box").id
        wait_for(lambda: f"fetching {blocked}" in b.store.log_text(run_id),
                 what="the fetch to reach the blocking file")
        assert _cmdlines_with_token() == []  # the fetch runs, and no argv holds the token
        [container] = dockerd.containers(f"label=cosmos.setup={run_id}")
        assert container["State"] == "running"
        b.ops.kill(run_id)
        killed = wait_terminal(b, run_id)
        assert killed.status == st.CANCELLED, killed.failure_cause
        assert "resumes" in killed.failure_cause
        wait_for(lambda: dockerd.containers(f"label=cosmos.setup={run_id}") == [],
                 what="the setup container to be gone")
        root = Path(remote_root) / "cosmos-transfer1" / "checkpoints"
        assert not (root / blocked).exists()  # nothing half-written under the real name
        assert all((root / rel).is_file() for rel in CHECKPOINTS[:3])
        assert not Path(manifest.box_path(remote_root, "transfer1")).exists()

        (source / blocked).unlink()
        (source / blocked).write_bytes(b"now a real file\n" * 40)
        done = wait_terminal(b, b.ops.setup("box").id)
        lines = b.store.log_text(done.id)
        assert done.status == st.COMPLETED, (done.failure_cause, lines[-5:])
        assert any(f"3 of {len(CHECKPOINTS)} present, reusing them; fetching "
                   f"{len(CHECKPOINTS) - 3}" in line for line in lines)
        assert (root / blocked).read_bytes() == b"now a real file\n" * 40
        assert Path(manifest.box_path(remote_root, "transfer1")).is_file()
        assert _leaks(b, b.settings.data_dir) == []
    finally:
        b.close()


class _TokenMirror(http.server.SimpleHTTPRequestHandler):
    """Serves the mirror folder only to requests that carry the token."""

    def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
        if self.headers.get("Authorization") != f"Bearer {TOKEN}":
            self.send_error(401, "token required")
            return
        super().do_GET()

    def log_message(self, *args) -> None:
        pass


def test_token_reaches_the_mirror_but_never_the_db_logs_or_ps(tmp_path, sshd, dockerd,
                                                              docker_image, roots, no_user_ssh):
    source = Path(roots())
    sums = _mirror(source)
    handler = lambda *a, **k: _TokenMirror(*a, directory=str(source), **k)  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    table, remote_root, _ = _box(sshd, dockerd, docker_image, roots, checkpoint_source=url)
    b = start_backend(load_config(write_app_config(tmp_path, {"box": table}, trust_sshd=sshd)))
    try:
        run = wait_terminal(b, b.ops.setup("box").id)
        assert run.status == st.COMPLETED, (run.failure_cause, b.store.log_text(run.id)[-5:])
        root = Path(remote_root) / "cosmos-transfer1" / "checkpoints"
        for rel, want in sums.items():  # fetched over HTTP: the token was sent
            assert hashlib.sha256((root / rel).read_bytes()).hexdigest() == want
        assert _leaks(b, b.settings.data_dir) == []
        assert TOKEN not in Path(manifest.box_path(remote_root, "transfer1")).read_text()
    finally:
        b.close()
        server.shutdown()


def test_unwritable_root_fails_with_its_cause(tmp_path, sshd, remote_python, no_user_ssh):
    root = f"/var/lib/cosmos-not-yours-{new_id().lower()}"  # its parent is root's
    table = sim_box_table(sshd, root, remote_python, models=["transfer1"])
    b = start_backend(load_config(write_app_config(tmp_path, {"box": table}, trust_sshd=sshd)))
    try:
        run = wait_terminal(b, b.ops.setup("box").id)
        assert run.status == st.FAILED
        assert f"remote_root {root} cannot be created" in run.failure_cause
        assert "Permission denied" in run.failure_cause
        assert f"sudo mkdir -p {root} && sudo chown {sshd.user} {root}" in run.failure_cause
        assert any(line.startswith("fix: ") for line in b.store.log_text(run.id))
        assert not Path(root).exists()
    finally:
        b.close()


def test_doctor_fails_without_gpu_runtime_and_on_a_missing_guardrail(tmp_path, sshd, dockerd,
                                                                     docker_image, roots,
                                                                     no_user_ssh):
    source = Path(roots())
    _mirror(source)
    table, remote_root, tag = _box(sshd, dockerd, docker_image, roots,
                                   checkpoint_source=str(source))
    table.update(docker_gpus=True, simulated=False)  # as a real GPU box is configured
    b = start_backend(load_config(write_app_config(tmp_path, {"box": table}, trust_sshd=sshd)))
    try:
        setup = wait_terminal(b, b.ops.setup("box").id)
        assert setup.status == st.COMPLETED, (setup.failure_cause,
                                              b.store.log_text(setup.id)[-5:])
        root = Path(remote_root) / "cosmos-transfer1" / "checkpoints"
        for path in root.rglob("*.pt"):  # real checkpoints are big: no "failed download" warn
            os.truncate(path, 2 << 20)
        guard = "nvidia/Cosmos-Guardrail1/video_content_safety_filter/safety_filter.pt"
        (root / guard).unlink()
        [report] = b.ops.doctor(["box"])
        checks = {c["name"]: c for c in report["checks"]}
        assert report["ok"] is False
        runtime = checks["gpu_runtime"]
        assert runtime["status"] == "fail" and "cannot give containers GPUs" in runtime["finding"]
        assert "sudo nvidia-ctk runtime configure --runtime=docker" in runtime["fix"]
        assert "docker_gpus = false" in runtime["fix"]
        ckpt = checks["checkpoints"]
        assert ckpt["status"] == "fail" and f"{guard} (guardrail)" in ckpt["finding"]
        assert ckpt["fix"].startswith("cosmos setup box ")
        assert checks["remote_root"]["status"] == "ok"
        assert checks["hf_token"]["status"] == "ok" and TOKEN not in json.dumps(report)
        assert checks["manifest"]["status"] == "ok"

        # the image is rebuilt under the same tag: runs would no longer reproduce
        rebuilt = Path(roots()) / "Dockerfile"
        rebuilt.write_text(f"FROM {docker_image}\nLABEL cosmos.test=rebuilt\n")
        dockerd.cli("build", "-q", "-t", tag, "-f", str(rebuilt), str(rebuilt.parent))
        [report] = b.ops.doctor(["box"])
        manifest_check = {c["name"]: c for c in report["checks"]}["manifest"]
        assert manifest_check["status"] == "fail" and "runs would not reproduce" in \
            manifest_check["finding"]
        assert manifest_check["fix"].startswith("cosmos setup box --model transfer1")
    finally:
        b.close()


def test_run_containers_write_as_the_ssh_user(tmp_path, sshd, dockerd, docker_image, roots,
                                              no_user_ssh):
    from backend.media import make_test_clip
    from tests.integration.remote_helpers import params

    remote_root = roots()
    table = docker_box_table(sshd, remote_root, dockerd, docker_image, seconds=1,
                             run_as_user=True)
    clip = make_test_clip(tmp_path / "clip.mp4", frames=12)
    b = start_backend(load_config(write_app_config(tmp_path, {"box": table}, trust_sshd=sshd)))
    try:
        run = wait_terminal(b, b.ops.launch(params(clip), host="box").id)
        assert run.status == st.COMPLETED, run.failure_cause
        uid = pwd.getpwnam(sshd.user).pw_uid
        assert f"--user {uid}:" in run.command
        written = [p for p in (Path(remote_root) / "runs" / run.id / "outputs").rglob("*")
                   if p.is_file()]
        assert written and all(p.stat().st_uid == uid for p in written)
    finally:
        b.close()
