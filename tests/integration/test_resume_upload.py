"""Interrupted uploads resume: only the missing bytes cross the wire, and the result verifies."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from backend.events import EventBus
from backend.hosts.runtime import HostRuntime
from backend.runs.staging import Stager, sha256_file
from backend.store import Store
from tests.helpers import make_settings

pytestmark = pytest.mark.integration


def test_put_file_resumes_a_partial_upload(ssh_shell, remote_root, tmp_path):
    data = os.urandom(3 << 20)
    local = tmp_path / "clip.mp4"
    local.write_bytes(data)
    target = f"{remote_root}/resume/clip.mp4"
    ssh_shell.run(["mkdir", "-p", f"{remote_root}/resume"]).check("mkdir")
    ssh_shell.write_file(target + ".part", data[: 1 << 20])  # a cut-off earlier upload
    before = ssh_shell.bytes_sent
    ssh_shell.put_file(local, target, resume=True)
    sent = ssh_shell.bytes_sent - before
    assert (2 << 20) <= sent < (2 << 20) + 65536  # only the missing two MiB
    digest = ssh_shell.run(["sha256sum", target]).check("hash").out.split()[0]
    assert digest == hashlib.sha256(data).hexdigest()
    assert not ssh_shell.exists(target + ".part")


def test_staging_continues_an_interrupted_input_upload(ssh_shell, ssh_host, remote_root,
                                                       tmp_path):
    data = os.urandom(2 << 20)
    local = tmp_path / "input.mp4"
    local.write_bytes(data)
    digest = sha256_file(local)
    cache = f"{remote_root}/cache"
    ssh_shell.run(["mkdir", "-p", cache]).check("mkdir")
    ssh_shell.write_file(f"{cache}/{digest}.mp4.upload.part", data[: 1 << 20])
    settings = make_settings(tmp_path)
    store = Store(settings.db_path)
    try:
        stager = Stager(store, HostRuntime(ssh_host, ssh_shell, store=store))
        run_dir = f"{remote_root}/runs/r1"
        ssh_shell.run(["mkdir", "-p", f"{run_dir}/inputs"]).check("mkdir")
        before = ssh_shell.bytes_sent
        link = stager.stage_input(local, run_dir, "input.mp4")
        assert ssh_shell.bytes_sent - before < (1 << 20) + 65536  # the second half only
        assert ssh_shell.run(["sha256sum", link]).check("hash").out.split()[0] == digest
        assert ssh_shell.exists(f"{cache}/{digest}.mp4")
    finally:
        store.close()
    assert Path(local).exists()


def test_large_files_go_through_openssh_and_arrive_whole(ssh_shell, remote_root, tmp_path,
                                                         caplog):
    from backend.remote import openssh

    assert openssh.sftp_exe(), "the OpenSSH client is part of openssh-server's dependencies"
    data = os.urandom(openssh.BULK_THRESHOLD + 12345)
    local = tmp_path / "big.bin"
    local.write_bytes(data)
    remote = f"{remote_root}/bulk/big.bin"
    seen = []
    ssh_shell.put_file(local, remote, progress=lambda done, total: seen.append((done, total)))
    assert "failed" not in caplog.text  # no fallback to Paramiko was needed
    assert seen[-1] == (len(data), len(data))
    assert ssh_shell.run(["sha256sum", remote]).check("hash").out.split()[0] == \
        hashlib.sha256(data).hexdigest()
    back = tmp_path / "back.bin"
    ssh_shell.get_file(remote, back)
    assert back.read_bytes() == data and not back.with_name("back.bin.part").exists()
    # resume through OpenSSH's reput: only the missing part is sent
    ssh_shell.write_file(remote + "2.part", data[: 4 << 20])
    before = ssh_shell.bytes_sent
    ssh_shell.put_file(local, remote + "2", resume=True)
    assert ssh_shell.bytes_sent - before == len(data) - (4 << 20)
    assert ssh_shell.run(["cmp", remote, remote + "2"]).ok


def test_upload_progress_reaches_the_run_the_ui_and_cli_show(ssh_shell, ssh_host, remote_root,
                                                             tmp_path):
    from components.run_details import progress_parts
    from backend.operations import summarize

    local = tmp_path / "input.mp4"
    local.write_bytes(os.urandom(1 << 20))
    settings = make_settings(tmp_path)
    bus = EventBus()
    store = Store(settings.db_path, bus)
    try:
        run = store.create_run(params={"prompt": "x"}, host="sshbox", prompt_id=None)
        store.transition(run.id, "staging", expect=("queued",))
        events = []
        bus.subscribe(lambda e: events.append(e) if e.kind == "transfer" else None)
        stager = Stager(store, HostRuntime(ssh_host, ssh_shell, store=store))
        run_dir = f"{remote_root}/runs/{run.id}"
        ssh_shell.run(["mkdir", "-p", f"{run_dir}/inputs"]).check("mkdir")
        stager.stage_input(local, run_dir, "input.mp4", run_id=run.id)
        progress = store.get_run(run.id).progress_dict()
        assert progress["phase"] == "uploading input.mp4" and "(100%)" in progress["detail"]
        assert events[-1].data["sent"] == events[-1].data["total"] == 1 << 20
        _, shown = progress_parts(summarize(store.get_run(run.id)))
        assert "uploading input.mp4" in shown and "100%" in shown
    finally:
        store.close()
