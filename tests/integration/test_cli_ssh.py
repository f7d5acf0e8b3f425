"""Every CLI verb again, with the simulator box at the far end of a real SSH connection.

The tests are test_cli.py's own; only the `cli` fixture differs: its one host ("sim") is an
SSH box whose docker is cosmos-sim run by the SSH test user, so every verb's exit code and
--json shape is checked over real SSH too.
"""

from __future__ import annotations

import os
import pwd
import shutil
import tempfile
from pathlib import Path

import pytest

from tests.integration.conftest import sim_box_table, write_app_config
from tests.integration.test_cli import (  # noqa: F401 - collected again with this cli
    Cli, test_create_prompt_show_list_and_dry_run_from_it,
    test_enhance_a_stored_prompt_and_worker_once_drains_the_queue,
    test_queue_dequeue_kill_stream_and_status_with_a_worker,
    test_run_wait_completes_and_show_list_search_tell_everything,
    test_run_wait_of_an_oom_prompt_exits_1_with_the_cause_on_stderr,
    test_usage_validation_and_not_found_exit_codes, test_with_upscale_waits_for_the_4k_run_too,
    worker)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def cli(tmp_path_factory, sshd, remote_python):
    tmp = tmp_path_factory.mktemp("cli-ssh")
    root = tempfile.mkdtemp(prefix="cosmos-remote-", dir="/tmp")
    entry = pwd.getpwnam(sshd.user)
    os.chown(root, entry.pw_uid, entry.pw_gid)
    config = write_app_config(tmp, {"sim": sim_box_table(sshd, root, remote_python, seconds=1)},
                              trust_sshd=sshd)
    yield Cli(config, env={"COSMOS_SSH_CONFIG": str(tmp / "no-ssh-config"),
                           "SSH_AUTH_SOCK": None}, box_root=Path(root))
    shutil.rmtree(root, ignore_errors=True)
