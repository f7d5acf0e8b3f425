"""How a config.toml host becomes SSH hops (ssh config rules) and how host keys are judged."""

from __future__ import annotations

import base64
import getpass
import logging
from pathlib import Path

import paramiko
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from backend.config import HostConfig
from backend.remote.shell import RemoteError
from backend.remote.ssh_config import Hop, resolve_target
from backend.remote.ssh_connect import ConnectError, KnownHosts, fingerprint


def host(**kw) -> HostConfig:
    base = dict(name="gpu", kind="ssh", docker=("docker",), remote_root="/srv/cosmos",
                cosmos_checkout="/srv/cosmos/ct1", image="img", gpus=(0,), max_concurrent=1,
                hostname="gpu-box")
    base.update(kw)
    return HostConfig(**base)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "ssh_config"
    path.write_text(text)
    return path


def new_key() -> paramiko.PKey:
    public = ed25519.Ed25519PrivateKey.generate().public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    return paramiko.PKey.from_type_string("ssh-ed25519", base64.b64decode(public.split()[1]))


# -- resolution --------------------------------------------------------------------------------
def test_alias_resolves_hostname_port_user_and_keys(tmp_path):
    cfg = write(tmp_path, """
Host gpu-box
    HostName 10.1.2.3
    Port 2200
    User artist
    IdentityFile ~/.ssh/gpu_key
    IdentitiesOnly yes
    ServerAliveInterval 30
""")
    target = resolve_target(host(), cfg)
    box = target.box
    assert (box.hostname, box.port, box.user) == ("10.1.2.3", 2200, "artist")
    assert box.identity_files == (str(Path("~/.ssh/gpu_key").expanduser()),)
    assert box.identities_only and box.keepalive == 30 and target.jumps == ()
    assert box.known_hosts_name == "[10.1.2.3]:2200"


def test_explicit_fields_override_the_ssh_config(tmp_path):
    cfg = write(tmp_path, "Host gpu-box\n  HostName 10.1.2.3\n  Port 2200\n  User artist\n"
                          "  IdentityFile /keys/from_config\n")
    box = resolve_target(host(port=22, user="ops", identity_file="/keys/explicit"), cfg).box
    assert (box.hostname, box.port, box.user) == ("10.1.2.3", 22, "ops")
    assert box.identity_files == ("/keys/explicit", "/keys/from_config")  # explicit first
    assert box.known_hosts_name == "10.1.2.3"  # port 22: the bare name, as OpenSSH files it


def test_no_config_means_the_name_itself_and_ssh_defaults(tmp_path, monkeypatch):
    monkeypatch.setenv("COSMOS_SSH_CONFIG", str(tmp_path / "missing"))
    box = resolve_target(host(hostname="192.0.2.7")).box
    assert (box.hostname, box.port, box.user) == ("192.0.2.7", 22, getpass.getuser())
    assert box.identity_files == () and not box.identities_only


def test_config_path_comes_from_the_environment(tmp_path, monkeypatch):
    cfg = write(tmp_path, "Host gpu-box\n  HostName 198.51.100.9\n")
    monkeypatch.setenv("COSMOS_SSH_CONFIG", str(cfg))
    assert resolve_target(host()).box.hostname == "198.51.100.9"


def test_proxy_jump_chain_is_resolved_through_the_config(tmp_path):
    cfg = write(tmp_path, """
Host gpu-box
    HostName 10.0.0.5
    ProxyJump ops@bastion:2222,inner
Host bastion
    HostName bastion.example.org
    ProxyJump edge
Host inner
    HostName 10.0.0.2
    User jumper
Host edge
    HostName 203.0.113.1
    User edgeuser
""")
    target = resolve_target(host(), cfg)
    assert [(h.alias, h.hostname, h.port, h.user) for h in target.jumps] == [
        ("edge", "203.0.113.1", 22, "edgeuser"),        # bastion's own ProxyJump comes first
        ("bastion", "bastion.example.org", 2222, "ops"),  # user and port from the spec win
        ("inner", "10.0.0.2", 22, "jumper"),
    ]
    assert target.hops[-1].hostname == "10.0.0.5"


def test_proxy_jump_none_and_ipv6_and_loops(tmp_path):
    cfg = write(tmp_path, """
Host gpu-box
    ProxyJump none
Host v6
    ProxyJump root@[2001:db8::1]:2022
Host loop-a
    ProxyJump loop-b
Host loop-b
    ProxyJump loop-a
""")
    assert resolve_target(host(), cfg).jumps == ()
    jump = resolve_target(host(hostname="v6"), cfg).jumps[0]
    assert (jump.user, jump.hostname, jump.port) == ("root", "2001:db8::1", 2022)
    assert jump.known_hosts_name == "[2001:db8::1]:2022"
    with pytest.raises(RemoteError, match="ProxyJump chain longer"):
        resolve_target(host(hostname="loop-a"), cfg)


def test_unreadable_ssh_config_names_the_file(tmp_path):
    cfg = write(tmp_path, "Host gpu-box\n  Port not-a-number\n")
    with pytest.raises(RemoteError, match=str(cfg)):
        resolve_target(host(), cfg)


def test_missing_hostname_is_a_clear_error():
    with pytest.raises(RemoteError, match="no hostname"):
        resolve_target(host(hostname=None))


# -- host keys -------------------------------------------------------------------------------
HOP = Hop(alias="gpu", hostname="10.9.8.7", port=2200, user="artist")


def test_unknown_key_is_refused_with_instructions(tmp_path):
    known = KnownHosts(tmp_path / "app_known_hosts", [tmp_path / "user_known_hosts"])
    key = new_key()
    with pytest.raises(ConnectError) as err:
        known.verify(HOP, key, trust_on_first_use=False, host_label="gpu")
    text = str(err.value)
    assert fingerprint(key) in text and not err.value.retryable
    assert f"ssh-keyscan -p 2200 10.9.8.7 >> {tmp_path / 'app_known_hosts'}" in text
    assert not (tmp_path / "app_known_hosts").exists()


def test_tofu_appends_in_openssh_form_and_logs_the_fingerprint(tmp_path, caplog):
    app = tmp_path / "sub" / "known_hosts"
    app.parent.mkdir()
    app.write_text("# kept\nother.example ssh-ed25519 " + new_key().get_base64() + "\n")
    known = KnownHosts(app)
    key = new_key()
    with caplog.at_level(logging.WARNING):
        known.verify(HOP, key, trust_on_first_use=True, host_label="gpu")
    lines = app.read_text().splitlines()
    assert lines[0] == "# kept" and len(lines) == 3  # appended, never rewritten
    assert lines[2] == f"[10.9.8.7]:2200 ssh-ed25519 {key.get_base64()}"
    assert fingerprint(key) in caplog.text
    known.verify(HOP, key, trust_on_first_use=False, host_label="gpu")  # now known


def test_changed_key_is_refused_even_with_tofu(tmp_path):
    app = tmp_path / "known_hosts"
    old = new_key()
    app.write_text(f"[10.9.8.7]:2200 ssh-ed25519 {old.get_base64()}\n")
    with pytest.raises(ConnectError, match="HAS CHANGED") as err:
        KnownHosts(app).verify(HOP, new_key(), trust_on_first_use=True, host_label="gpu")
    assert fingerprint(old) in str(err.value)
    assert f"ssh-keygen -R '[10.9.8.7]:2200' -f {app}" in str(err.value)


def test_user_known_hosts_count_including_hashed_entries(tmp_path):
    key = new_key()
    user = tmp_path / "user_known_hosts"
    hashed = paramiko.HostKeys.hash_host("[10.9.8.7]:2200")
    user.write_text(f"{hashed} ssh-ed25519 {key.get_base64()}\n")
    KnownHosts(tmp_path / "app", [user]).verify(HOP, key, trust_on_first_use=False,
                                                host_label="gpu")
    # UserKnownHostsFile in the ssh config replaces ~/.ssh/known_hosts, like OpenSSH
    elsewhere = Hop(**{**HOP.__dict__, "known_hosts_files": (str(tmp_path / "none"),)})
    with pytest.raises(ConnectError, match="not known"):
        KnownHosts(tmp_path / "app", [user]).verify(elsewhere, key, trust_on_first_use=False,
                                                    host_label="gpu")


def test_revoked_key_is_refused(tmp_path):
    key = new_key()
    app = tmp_path / "known_hosts"
    app.write_text(f"[10.9.8.7]:2200 ssh-ed25519 {key.get_base64()}\n"
                   f"@revoked * ssh-ed25519 {key.get_base64()}\n")
    with pytest.raises(ConnectError, match="revoked"):
        KnownHosts(app).verify(HOP, key, trust_on_first_use=True, host_label="gpu")


def test_known_hosts_patterns_wildcards_and_negation(tmp_path):
    key = new_key()
    app = tmp_path / "known_hosts"
    app.write_text(f"[10.9.8.*]:2200,![10.9.8.66]:2200 ssh-ed25519 {key.get_base64()}\n")
    KnownHosts(app).verify(HOP, key, trust_on_first_use=False, host_label="gpu")
    other = Hop(**{**HOP.__dict__, "hostname": "10.9.8.66"})
    with pytest.raises(ConnectError, match="not known"):
        KnownHosts(app).verify(other, key, trust_on_first_use=False, host_label="gpu")
    # brackets are literal, not a character class
    app.write_text(f"[10.9.8.7]:2201 ssh-ed25519 {key.get_base64()}\n")
    with pytest.raises(ConnectError, match="not known"):
        KnownHosts(app).verify(HOP, key, trust_on_first_use=False, host_label="gpu")


def test_a_key_of_a_new_type_is_not_trusted_on_first_use(tmp_path):
    app = tmp_path / "known_hosts"
    app.write_text("[10.9.8.7]:2200 ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7\n")
    with pytest.raises(ConnectError, match="has only ssh-rsa keys"):
        KnownHosts(app).verify(HOP, new_key(), trust_on_first_use=True, host_label="gpu")
    assert app.read_text().count("\n") == 1
