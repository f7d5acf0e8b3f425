"""SshShell against a real OpenSSH server on 127.0.0.1 (tests/sshd.py). Nothing is mocked.

What is pinned down here is what earlier tools got wrong: quoting (user text never becomes
code), one shared connection instead of one per command, verified host keys, errors a person
can act on, no deadlock on big output, and surviving a dropped connection.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import statistics
import sys
import threading
import time
from pathlib import Path

import pytest

from backend.config import HostConfig
from backend.remote.shell import RemoteError
from backend.remote.ssh import SshShell
from backend.remote.ssh_connect import fingerprint
from tests.helpers import free_port, wait_for
from tests.sshd import SshServer

pytestmark = pytest.mark.integration


def make_shell(host: HostConfig, known_hosts: Path, isolated: dict, **kw) -> SshShell:
    return SshShell(host, app_known_hosts=known_hosts, **{**isolated, **kw})


# -- commands --------------------------------------------------------------------------------
def test_echo_exit_codes_and_stderr(ssh_shell: SshShell):
    result = ssh_shell.run(["echo", "hello"])
    assert (result.exit_code, result.stdout, result.stderr) == (0, b"hello\n", b"")
    result = ssh_shell.run(["sh", "-c", "echo out; echo err >&2; exit 3"])
    assert (result.exit_code, result.out, result.err) == (3, "out\n", "err\n")
    assert ssh_shell.run(["no-such-command-xyz"]).exit_code == 127
    assert ssh_shell.run(["false"]).exit_code == 1


def test_arguments_arrive_verbatim_and_nothing_is_executed(ssh_shell: SshShell, remote_root):
    canary = f"{remote_root}/CANARY"
    nasty = [
        f"$(touch {canary})", f"`touch {canary}`", f"; touch {canary}", f"&& touch {canary}",
        f"| touch {canary}", f"'; touch {canary}; '", f'"; touch {canary}; "',
        f"line1\ntouch {canary}\nline3", "ünïcødé ✓ 日本語", "", " leading and trailing ",
        "*", "$HOME", "${PATH}", "\\", "--flag=value", "-n", "a\tb", "!!", "~",
    ]
    result = ssh_shell.run(["printf", "%s\\0", *nasty])
    assert result.ok, result.err
    assert result.stdout.split(b"\0")[:-1] == [a.encode() for a in nasty]
    assert not ssh_shell.exists(canary)
    assert not os.path.exists(canary)


def test_stdin_input_small_and_large(ssh_shell: SshShell):
    assert ssh_shell.run(["cat"], input=b"spec {\"prompt\": \"a 'b' $(c)\"}").stdout == \
        b"spec {\"prompt\": \"a 'b' $(c)\"}"
    assert ssh_shell.run(["cat"]).stdout == b""  # no input: stdin is at EOF, nothing hangs
    big = os.urandom(3 << 20)
    result = ssh_shell.run(["sha256sum"], input=big)
    assert result.out.split()[0] == hashlib.sha256(big).hexdigest()


def test_large_stdout_and_stderr_do_not_deadlock(ssh_shell: SshShell):
    # 3 MiB on stderr first: more than the 2 MiB channel window, so a reader that only
    # drained stdout would stall forever
    result = ssh_shell.run(["sh", "-c", "head -c 3000000 /dev/zero >&2; "
                            "head -c 5000000 /dev/zero; echo end"], timeout=30)
    assert result.ok
    assert (len(result.stdout), len(result.stderr)) == (5_000_004, 3_000_000)


def _wait_gone(shell: SshShell, pid: int, what: str) -> None:
    wait_for(lambda: shell.run(["kill", "-0", str(pid)]).exit_code != 0, interval=0.05,
             what=f"{what} (pid {pid}) to be gone")


def test_timeout_returns_124_and_kills_the_command(ssh_shell: SshShell):
    started = time.monotonic()
    result = ssh_shell.run(["sh", "-c", "echo $$; exec sleep 30"], timeout=0.5)
    assert result.exit_code == 124 and "timed out" in result.err
    assert time.monotonic() - started < 3
    # the remote process got the signal (closing the channel alone would leave it running)
    _wait_gone(ssh_shell, int(result.out.split()[0]), "the timed-out command")


def test_stream_yields_output_as_it_comes_and_stops_the_command(ssh_shell: SshShell):
    chunks = list(ssh_shell.stream(["sh", "-c", "for i in 1 2 3; do echo $i; sleep 0.05; done"]))
    assert b"".join(chunks) == b"1\n2\n3\n"
    gen = ssh_shell.stream(["sh", "-c", "echo pid $$; while true; do echo tick; sleep 0.02; done"])
    first = next(gen)
    assert first.startswith(b"pid ")
    gen.close()
    _wait_gone(ssh_shell, int(first.split()[1]), "the streamed command")
    with pytest.raises(RemoteError, match="exit 2"):
        list(ssh_shell.stream(["sh", "-c", "echo partial; echo boom >&2; exit 2"]))


def test_concurrent_commands_share_one_connection(ssh_shell: SshShell, sshd: SshServer):
    logins_before = sshd.accepted_logins()
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            for i in range(10):
                result = ssh_shell.run(["sh", "-c", f"sleep 0.01; echo {n}-{i}"])
                assert result.stdout == f"{n}-{i}\n".encode(), result
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors[0]
    assert ssh_shell.connect_count == 1
    assert sshd.accepted_logins() - logins_before == 1


def test_fifty_commands_use_one_connection(ssh_shell: SshShell, sshd: SshServer):
    logins_before = sshd.accepted_logins()
    times = []
    for _ in range(50):
        started = time.perf_counter()
        assert ssh_shell.run(["true"]).ok
        times.append(time.perf_counter() - started)
    assert ssh_shell.connect_count == 1
    assert sshd.accepted_logins() - logins_before == 1
    median_ms = statistics.median(times[1:]) * 1000
    print(f"\nmedian round trip of `true` on the open connection: {median_ms:.2f} ms")
    assert median_ms < 30  # ~3 ms with TCP_NODELAY; ~48 ms would mean Nagle is back


# -- host keys -------------------------------------------------------------------------------
def test_unknown_host_key_is_refused_with_how_to_trust(ssh_host, tmp_path, isolated_ssh, sshd):
    known = tmp_path / "empty_known_hosts"
    shell = make_shell(ssh_host, known, isolated_ssh)
    with pytest.raises(RemoteError) as err:
        shell.run(["true"])
    message = str(err.value)
    assert "not known" in message
    assert f"ssh-keyscan -p {sshd.port} 127.0.0.1 >> {known}" in message
    assert "trust_on_first_use = true" in message and "'sshbox'" in message
    assert not known.exists()  # nothing recorded without permission


def test_changed_host_key_is_refused_loudly_even_with_tofu(ssh_host, tmp_path, isolated_ssh,
                                                          sshd, caplog):
    impostor = sshd.make_client_key("impostor_host", authorize=False)
    keytype, blob = impostor.with_suffix(".pub").read_text().split()[:2]
    known = tmp_path / "known_hosts"
    known.write_text(f"[127.0.0.1]:{sshd.port} {keytype} {blob}\n")
    host = dataclasses.replace(ssh_host, trust_on_first_use=True)
    with caplog.at_level(logging.ERROR):
        with pytest.raises(RemoteError, match="HAS CHANGED") as err:
            make_shell(host, known, isolated_ssh).run(["true"])
    assert "man-in-the-middle" in str(err.value) and "ssh-keygen -R" in str(err.value)
    assert any("HAS CHANGED" in r.getMessage() for r in caplog.records)
    assert known.read_text().count("\n") == 1  # the known key was not replaced


def test_trust_on_first_use_records_the_key_and_reuses_it(ssh_host, tmp_path, isolated_ssh,
                                                         sshd, caplog):
    known = tmp_path / "app" / "known_hosts"
    host = dataclasses.replace(ssh_host, trust_on_first_use=True)
    with caplog.at_level(logging.WARNING):
        with make_shell(host, known, isolated_ssh) as shell:
            assert shell.run(["true"]).ok
    assert known.read_text() == sshd.known_hosts_line()
    assert oct(known.stat().st_mode & 0o777) == "0o600"
    import paramiko
    key = paramiko.PKey.from_path(sshd.host_key)
    assert any("trust on first use" in r.getMessage() and fingerprint(key) in r.getMessage()
               for r in caplog.records if r.levelno == logging.WARNING)
    # the second connection (without TOFU) verifies against the recorded key
    with make_shell(ssh_host, known, isolated_ssh) as shell:
        assert shell.run(["true"]).ok
    assert known.read_text() == sshd.known_hosts_line()


# -- ~/.ssh/config, keys -----------------------------------------------------------------------
def test_ssh_config_alias_and_explicit_overrides(ssh_host, app_known_hosts, isolated_ssh, sshd,
                                                 tmp_path, monkeypatch):
    config = tmp_path / "ssh_config"
    config.write_text(f"""
Host cosmos-box
    HostName 127.0.0.1
    Port {sshd.port}
    User {sshd.user}
    IdentityFile {sshd.client_key}
    IdentitiesOnly yes

Host wrong-port
    HostName 127.0.0.1
    Port 1
    User nobody-here
""")
    bare = dataclasses.replace(ssh_host, hostname="cosmos-box", port=None, user=None,
                               identity_file=None)
    isolated = {**isolated_ssh, "ssh_config": None}
    monkeypatch.setenv("COSMOS_SSH_CONFIG", str(config))  # the injection point for tests
    with make_shell(bare, app_known_hosts, isolated) as shell:
        assert shell.run(["id", "-un"]).out.strip() == sshd.user
    # explicit config.toml fields win over the ssh config
    overridden = dataclasses.replace(ssh_host, hostname="wrong-port")
    with make_shell(overridden, app_known_hosts, isolated_ssh, ssh_config=config) as shell:
        assert shell.run(["id", "-un"]).out.strip() == sshd.user


def test_proxy_jump_goes_through_a_verified_jump_host(ssh_host, app_known_hosts, isolated_ssh,
                                                      sshd, tmp_path):
    config = tmp_path / "ssh_config"
    config.write_text(f"""
Host bastion
    HostName 127.0.0.1
    Port {sshd.port}
    User {sshd.user}
    IdentityFile {sshd.client_key}

Host behind
    HostName 127.0.0.1
    Port {sshd.port}
    User {sshd.user}
    IdentityFile {sshd.client_key}
    ProxyJump bastion

Host behind-unknown
    HostName localhost
    Port {sshd.port}
    User {sshd.user}
    IdentityFile {sshd.client_key}
    ProxyJump bastion
""")
    logins_before = sshd.accepted_logins()
    host = dataclasses.replace(ssh_host, hostname="behind", port=None, user=None,
                               identity_file=None)
    with make_shell(host, app_known_hosts, isolated_ssh, ssh_config=config) as shell:
        assert shell.run(["echo", "through"]).out == "through\n"
        assert shell.connect_count == 1
        assert [h.alias for h in shell.target.hops] == ["bastion", "behind"]
    assert sshd.accepted_logins() - logins_before == 2  # the bastion login, then the box
    # the box behind the jump host is verified too: its name `[localhost]:port` is not known
    host = dataclasses.replace(host, hostname="behind-unknown")
    with pytest.raises(RemoteError, match=r"localhost:\d+ is not known"):
        make_shell(host, app_known_hosts, isolated_ssh, ssh_config=config).run(["true"])


def test_proxy_command_is_honoured(ssh_host, app_known_hosts, isolated_ssh, sshd, tmp_path):
    relay = tmp_path / "relay.py"  # a stand-in for `nc %h %p` / `ssh -W %h:%p`
    relay.write_text(
        "import os, socket, sys, threading\n"
        "s = socket.create_connection((sys.argv[1], int(sys.argv[2])))\n"
        "def up():\n"
        "    while data := os.read(0, 65536):\n"
        "        s.sendall(data)\n"
        "    s.shutdown(socket.SHUT_WR)\n"
        "threading.Thread(target=up, daemon=True).start()\n"
        "while data := s.recv(65536):\n"
        "    os.write(1, data)\n")
    config = tmp_path / "ssh_config"
    config.write_text(f"Host via-proxy\n    HostName 127.0.0.1\n    Port {sshd.port}\n"
                      f"    ProxyCommand {sys.executable} {relay} %h %p\n")
    host = dataclasses.replace(ssh_host, hostname="via-proxy", port=None)
    with make_shell(host, app_known_hosts, isolated_ssh, ssh_config=config) as shell:
        assert shell.run(["echo", "proxied"]).out == "proxied\n"
        assert shell.read_from("/etc/hostname", 0) != b""


def test_encrypted_key_without_agent_fails_fast_and_clearly(ssh_host, app_known_hosts,
                                                             isolated_ssh, sshd):
    key = sshd.make_client_key("encrypted_client", passphrase="correct horse")
    host = dataclasses.replace(ssh_host, identity_file=str(key))
    started = time.monotonic()
    with pytest.raises(RemoteError) as err:
        make_shell(host, app_known_hosts, isolated_ssh, use_agent=True).run(["true"])
    assert time.monotonic() - started < 5
    message = str(err.value)
    assert f"the key {key} is encrypted" in message and f"ssh-add {key}" in message
    assert "correct horse" not in message
    assert message.startswith(f"authentication failed for user {sshd.user}")


def test_rejected_key_names_user_and_what_was_tried(ssh_host, app_known_hosts, isolated_ssh,
                                                    sshd):
    stranger = sshd.make_client_key("stranger", authorize=False)
    host = dataclasses.replace(ssh_host, identity_file=str(stranger))
    with pytest.raises(RemoteError, match=rf"authentication failed for user {sshd.user} .*"
                       rf"no key accepted.*{stranger} \(rejected\)"):
        make_shell(host, app_known_hosts, isolated_ssh).run(["true"])


def test_host_down_is_reported_quickly(ssh_host, app_known_hosts, isolated_ssh):
    host = dataclasses.replace(ssh_host, port=free_port())
    shell = make_shell(host, app_known_hosts, isolated_ssh)
    started = time.monotonic()
    with pytest.raises(RemoteError, match=r"host unreachable: 127\.0\.0\.1:\d+ "
                                          r"\(connection refused"):
        shell.run(["true"])
    with pytest.raises(RemoteError, match="host unreachable"):
        shell.read_from("/etc/hostname", 0)
    assert time.monotonic() - started < 2


# -- files -----------------------------------------------------------------------------------
def test_write_read_from_exists(ssh_shell: SshShell, remote_root):
    path = f"{remote_root}/runs/it's a \"run\" ü/spec.json"
    ssh_shell.write_file(path, b"0123456789", 0o640)
    assert ssh_shell.exists(path)
    assert not ssh_shell.exists(path + ".part")
    assert ssh_shell.run(["stat", "-c", "%a", path]).out.strip() == "640"
    assert ssh_shell.read_from(path, 0) == b"0123456789"
    assert ssh_shell.read_from(path, 4, 3) == b"456"
    assert ssh_shell.read_from(path, 10) == b""
    assert ssh_shell.read_from(path, 99) == b""
    assert ssh_shell.read_from(f"{remote_root}/missing.log", 0) == b""
    assert not ssh_shell.exists(f"{remote_root}/missing.log")
    ssh_shell.write_file(path, b"replaced", 0o755)  # atomic replace of an existing file
    assert ssh_shell.read_from(path, 0) == b"replaced"
    # a growing log is followed by offsets, including reads larger than one SFTP request
    log = f"{remote_root}/run.log"
    blob = os.urandom(700_000)
    ssh_shell.write_file(log, blob)
    offset, got = 0, b""
    while chunk := ssh_shell.read_from(log, offset, 300_000):
        got += chunk
        offset += len(chunk)
    assert got == blob
    # a symlink that points nowhere still "exists" (lstat), as LocalShell's lexists says
    ssh_shell.run(["ln", "-s", "/nowhere", f"{remote_root}/dangling"]).check("ln")
    assert ssh_shell.exists(f"{remote_root}/dangling")


def test_put_and_get_files_with_progress(ssh_shell: SshShell, remote_root, tmp_path):
    local = tmp_path / "input video.mp4"
    data = os.urandom(3 << 20)
    local.write_bytes(data)
    seen: list[tuple[int, int]] = []
    remote = f"{remote_root}/cache/deep/er/input video.mp4"
    ssh_shell.put_file(local, remote, progress=lambda done, total: seen.append((done, total)))
    assert seen and seen[-1] == (len(data), len(data))
    assert ssh_shell.run(["sha256sum", remote]).out.split()[0] == hashlib.sha256(data).hexdigest()
    assert not ssh_shell.exists(remote + ".part")
    back = tmp_path / "out" / "copy.mp4"
    seen.clear()
    ssh_shell.get_file(remote, back, progress=lambda done, total: seen.append((done, total)))
    assert back.read_bytes() == data and seen[-1] == (len(data), len(data))
    assert not back.with_name("copy.mp4.part").exists()
    with pytest.raises(RemoteError, match="no such file"):
        ssh_shell.get_file(f"{remote_root}/missing.mp4", tmp_path / "missing.mp4")
    assert not (tmp_path / "missing.mp4").exists()


def test_concurrent_file_operations(ssh_shell: SshShell, remote_root):
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            for i in range(5):
                path = f"{remote_root}/c/{n}/{i}.txt"
                tag = f"[{n}:{i}]".encode()
                ssh_shell.write_file(path, tag * 1000)
                assert ssh_shell.read_from(path, len(tag), len(tag)) == tag
                assert ssh_shell.run(["cat", path]).stdout == tag * 1000
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors[0]
    assert ssh_shell.connect_count == 1


# -- dropped connections ---------------------------------------------------------------------
def test_reconnects_after_the_connection_is_dropped(ssh_shell: SshShell, sshd: SshServer,
                                                    remote_root):
    assert ssh_shell.run(["echo", "one"]).ok
    ssh_shell.write_file(f"{remote_root}/f", b"data")
    assert sshd.kill_connections() > 0
    assert ssh_shell.run(["echo", "two"]).out == "two\n"
    assert ssh_shell.connect_count == 2
    assert sshd.kill_connections() > 0
    assert ssh_shell.read_from(f"{remote_root}/f", 0) == b"data"  # SFTP retries too
    assert ssh_shell.connect_count == 3


def test_gives_up_with_a_clear_error_when_the_box_stays_down(ssh_host, isolated_ssh, tmp_path):
    own = SshServer.start()  # its own server, so it can be stopped for good
    try:
        known = tmp_path / "known_hosts"
        known.write_text(own.known_hosts_line())
        host = dataclasses.replace(ssh_host, port=own.port, identity_file=str(own.client_key))
        shell = make_shell(host, known, isolated_ssh, reconnect_delays=(0.05, 0.1))
        assert shell.run(["true"]).ok
    finally:
        own.stop()
    started = time.monotonic()
    with pytest.raises(RemoteError, match=r"lost and could not be re-established after 3 "
                                          r"attempts: host unreachable"):
        shell.run(["true"])
    assert time.monotonic() - started < 3


# -- the simulator through SSH -----------------------------------------------------------------
def test_docker_command_runs_through_ssh(ssh_shell: SshShell, ssh_host: HostConfig):
    engine = Path(__file__).resolve().parents[2] / "backend" / "simulator" / "engine.py"
    if not engine.exists():
        pytest.skip("the simulator engine is not written yet")
    result = ssh_shell.run([*ssh_host.docker, "version"], timeout=60)
    assert result.ok, result.err
