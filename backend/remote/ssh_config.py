"""Where and as whom to connect: a host from config.toml, resolved like `ssh` would.

Why honour ~/.ssh/config at all: artists' boxes are usually reached through aliases, bastions
(ProxyJump) and per-host keys that already work with `ssh gpu-box`; making them repeat all that
in config.toml is how settings drift apart. Explicit fields in config.toml (hostname, user,
port, identity_file) still win, so a person can override one thing without editing ssh config.

Not honoured on purpose: `StrictHostKeyChecking no|accept-new` (host keys are always verified;
trust-on-first-use is a per-host switch in config.toml), password and keyboard-interactive
authentication (the app cannot prompt), and `Match exec` (it runs a shell).
"""

from __future__ import annotations

import getpass
import os
from dataclasses import dataclass, field
from pathlib import Path

import paramiko

from backend.config import HostConfig
from backend.remote.shell import RemoteError

#: Environment variable naming an alternative ssh config file (tests, or a per-app config).
SSH_CONFIG_ENV = "COSMOS_SSH_CONFIG"
#: The key files `ssh` tries when no IdentityFile is configured, in its order.
DEFAULT_KEY_NAMES = ("id_rsa", "id_ecdsa", "id_ed25519")
#: Beyond this many chained jump hosts the config is almost certainly a loop.
MAX_JUMPS = 8


@dataclass(frozen=True)
class Hop:
    """One SSH server on the way to the box (the box itself is the last hop)."""

    alias: str
    hostname: str
    port: int
    user: str
    identity_files: tuple[str, ...] = ()
    #: IdentitiesOnly: use only the identity files (no agent, no default keys)
    identities_only: bool = False
    #: UserKnownHostsFile from ssh config; None means ~/.ssh/known_hosts
    known_hosts_files: tuple[str, ...] | None = None
    host_key_alias: str | None = None
    keepalive: int = 15
    proxy_command: str | None = None

    @property
    def known_hosts_name(self) -> str:
        """The name this server's key is filed under in known_hosts, exactly as OpenSSH does."""
        name = self.host_key_alias or self.hostname
        return name if self.port == 22 else f"[{name}]:{self.port}"

    @property
    def address(self) -> str:
        return f"{self.hostname}:{self.port}"

    def describe(self) -> str:
        shown = self.address if self.alias == self.hostname else f"{self.alias} ({self.address})"
        return f"{self.user}@{shown}"


@dataclass(frozen=True)
class SshTarget:
    """The box plus the jump hosts to pass through first (first element connects directly)."""

    box: Hop
    jumps: tuple[Hop, ...] = field(default_factory=tuple)

    @property
    def hops(self) -> tuple[Hop, ...]:
        return self.jumps + (self.box,)


def ssh_config_path(explicit: str | Path | None = None) -> Path:
    """The ssh config file to read: the argument, $COSMOS_SSH_CONFIG, or ~/.ssh/config."""
    if explicit is not None:
        return Path(explicit).expanduser()
    env = os.environ.get(SSH_CONFIG_ENV)
    if env:
        return Path(env).expanduser()
    return Path("~/.ssh/config").expanduser()


def load_ssh_config(path: Path) -> paramiko.SSHConfig:
    """Parse the file (a missing file is an empty config, as for `ssh`)."""
    if not path.is_file():
        return paramiko.SSHConfig()
    try:
        return paramiko.SSHConfig.from_path(str(path))
    except Exception as exc:  # paramiko raises a few unrelated types on bad syntax
        raise RemoteError(f"cannot read the ssh config {path}: {exc}") from exc


def _lookup(cfg: paramiko.SSHConfig, alias: str, path: Path) -> dict:
    try:
        return dict(cfg.lookup(alias))
    except Exception as exc:  # e.g. `Match exec` needs `invoke`; bad tokens
        raise RemoteError(f"cannot apply the ssh config {path} to host {alias!r}: {exc}") from exc


def _parse_jump(spec: str) -> tuple[str | None, str, int | None]:
    """`[user@]host[:port]` or `ssh://[user@]host[:port]` (IPv6 in brackets) -> parts."""
    spec = spec.strip()
    if spec.startswith("ssh://"):
        spec = spec[len("ssh://"):].rstrip("/")
    user = None
    if "@" in spec:
        user, spec = spec.rsplit("@", 1)
    port: int | None = None
    if spec.startswith("["):
        host, _, rest = spec[1:].partition("]")
        if rest.startswith(":"):
            port = int(rest[1:])
    elif spec.count(":") == 1:
        host, port_text = spec.split(":")
        port = int(port_text)
    else:
        host = spec
    if not host:
        raise ValueError("empty host name")
    return user or None, host, port


def _make_hop(cfg: paramiko.SSHConfig, path: Path, alias: str, *, user: str | None = None,
              port: int | None = None, identity_file: str | None = None) -> tuple[Hop, str | None]:
    """One hop from its alias and explicit overrides; also returns its ProxyJump value."""
    opts = _lookup(cfg, alias, path)
    identity: list[str] = []
    if identity_file:
        identity.append(str(Path(identity_file).expanduser()))
    for item in opts.get("identityfile", []) or []:
        expanded = str(Path(item).expanduser())
        if expanded not in identity:
            identity.append(expanded)
    known = opts.get("userknownhostsfile")
    known_files = tuple(str(Path(p).expanduser()) for p in known.split()) if known else None
    try:
        cfg_port = int(opts["port"]) if "port" in opts else None
        keepalive = int(opts.get("serveraliveinterval", 15)) or 15
    except ValueError as exc:
        raise RemoteError(f"{path}: host {alias!r} has a non-numeric Port or "
                          f"ServerAliveInterval: {exc}") from exc
    proxy_command = opts.get("proxycommand")
    if proxy_command and proxy_command.strip().lower() == "none":
        proxy_command = None
    hop = Hop(
        alias=alias,
        hostname=opts.get("hostname") or alias,
        port=port or cfg_port or 22,
        user=user or opts.get("user") or getpass.getuser(),
        identity_files=tuple(identity),
        identities_only=str(opts.get("identitiesonly", "no")).lower() == "yes",
        known_hosts_files=known_files,
        host_key_alias=opts.get("hostkeyalias"),
        keepalive=keepalive,
        proxy_command=proxy_command,
    )
    jump = opts.get("proxyjump")
    if jump and jump.strip().lower() == "none":
        jump = None
    return hop, jump


def _chain(cfg: paramiko.SSHConfig, path: Path, jump_value: str, depth: int) -> list[Hop]:
    """The hops a ProxyJump value stands for, each resolved through the config (recursively)."""
    hops: list[Hop] = []
    for spec in jump_value.split(","):
        try:
            user, host, port = _parse_jump(spec)
        except ValueError as exc:
            raise RemoteError(f"{path}: cannot understand ProxyJump {spec!r} ({exc}); expected "
                              "[user@]host[:port]") from exc
        hop, nested = _make_hop(cfg, path, host, user=user, port=port)
        if nested and not hops:  # only the first hop's own ProxyJump applies, as in `ssh -J`
            if depth >= MAX_JUMPS:
                raise RemoteError(f"{path}: ProxyJump chain longer than {MAX_JUMPS} hops "
                                  f"(a loop?) at {host!r}")
            hops.extend(_chain(cfg, path, nested, depth + 1))
        hops.append(hop)
    if len(hops) > MAX_JUMPS:
        raise RemoteError(f"{path}: ProxyJump chain longer than {MAX_JUMPS} hops")
    return hops


def resolve_target(host: HostConfig, ssh_config: str | Path | None = None) -> SshTarget:
    """Resolve a config.toml host through the ssh config into the hops to connect."""
    if not host.hostname:
        raise RemoteError(f"host {host.name!r} has no hostname; set hostname in config.toml")
    path = ssh_config_path(ssh_config)
    cfg = load_ssh_config(path)
    box, jump = _make_hop(cfg, path, host.hostname, user=host.user, port=host.port,
                          identity_file=host.identity_file)
    jumps = tuple(_chain(cfg, path, jump, 1)) if jump else ()
    if jumps and box.proxy_command:
        box = Hop(**{**box.__dict__, "proxy_command": None})  # ProxyJump wins, as in ssh
    return SshTarget(box=box, jumps=jumps)


def default_key_files(home: Path | None = None) -> list[str]:
    """The default key files that exist (tried only when no IdentityFile is configured)."""
    ssh_dir = (home or Path("~").expanduser()) / ".ssh"
    return [str(ssh_dir / name) for name in DEFAULT_KEY_NAMES if (ssh_dir / name).is_file()]
