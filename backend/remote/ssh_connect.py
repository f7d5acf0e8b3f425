"""Opening one verified, authenticated SSH transport to one hop, with errors a person can act on.

Why not `paramiko.SSHClient.connect`: it cannot set TCP_NODELAY before the handshake (without
it every request/response costs ~40 ms of Nagle + delayed ACK), its host-key policies are
"reject" or "add silently", and its authentication errors say "Authentication failed." whatever
happened. Here every failure names the host and the cause: refused, no route, not an SSH server,
unknown or CHANGED host key, encrypted key without agent, no key accepted.

Host keys: the user's known_hosts (or the hop's UserKnownHostsFile) and the app's own file are
both trusted. An unknown key is refused unless the host has `trust_on_first_use`, in which case
it is appended to the app's file and logged at WARNING with its fingerprint. A changed key is
always refused. Nothing is ever accepted silently.
"""

from __future__ import annotations

import base64
import binascii
import errno
import fcntl
import hashlib
import hmac
import logging
import os
import re
import socket
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import paramiko

from backend.remote.shell import RemoteError
from backend.remote.ssh_config import Hop, default_key_files

log = logging.getLogger(__name__)

_TOFU_LOCK = threading.Lock()


class ConnectError(RemoteError):
    """A hop could not be reached or logged into; `retryable` says if trying again can help,
    `dropped` that the box answered before in this process (so it is an outage, not a
    configuration problem: work in progress waits for it instead of failing)."""

    def __init__(self, message: str, *, retryable: bool, dropped: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.dropped = dropped


def fingerprint(key: paramiko.PKey) -> str:
    """OpenSSH's SHA256 fingerprint (`ssh-keygen -lf`), so people can compare what they see."""
    return _fingerprint_blob(key.asbytes())


def _fingerprint_blob(blob: bytes) -> str:
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


def _blob(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=False)
    except (binascii.Error, ValueError):
        return b""


def _wildcard(name: str, pattern: str) -> bool:
    """OpenSSH patterns know only `*` and `?` (`[host]:port` brackets are literal)."""
    if "*" not in pattern and "?" not in pattern:
        return name == pattern
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, name) is not None


def _name_matches(patterns: list[str], name: str) -> bool:
    """OpenSSH known_hosts host matching: exact, hashed (|1|salt|hash), wildcards, negation."""
    matched = False
    for pattern in patterns:
        if pattern.startswith("|1|"):
            try:
                if hmac.compare_digest(paramiko.HostKeys.hash_host(name, pattern), pattern):
                    matched = True
            except (binascii.Error, ValueError, IndexError):
                pass
            continue
        negated = pattern.startswith("!")
        if _wildcard(name, (pattern[1:] if negated else pattern).lower()):
            if negated:
                return False
            matched = True
    return matched


@dataclass(frozen=True)
class _Entry:
    path: Path
    keytype: str
    blob: bytes


def tune_socket(sock: socket.socket) -> None:
    """TCP_NODELAY (48 ms -> 3.7 ms per command) and TCP keepalive (notice a dead peer)."""
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    for name, value in (("TCP_KEEPIDLE", 30), ("TCP_KEEPINTVL", 10), ("TCP_KEEPCNT", 3)):
        if hasattr(socket, name):
            sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, name), value)


# -- host keys ---------------------------------------------------------------------------------
@dataclass
class KnownHosts:
    """The trusted host keys: user files (OpenSSH's) plus the app's own file.

    Files are re-read at every connect, so a key added by hand (ssh-keyscan ... >> file) after a
    refusal is used by the very next attempt, without restarting the app.
    """

    app_file: Path
    user_files: Sequence[Path] = ()

    def _files(self, hop: Hop) -> list[Path]:
        users = ([Path(p) for p in hop.known_hosts_files] if hop.known_hosts_files is not None
                 else list(self.user_files))
        return users + [self.app_file]

    def _load(self, hop: Hop) -> tuple[list[_Entry], set[bytes]]:
        """Entries for this hop's name, and every @revoked key blob, from all files.

        Parsed here rather than with paramiko.HostKeys, which raises on `@revoked` and
        `@cert-authority` lines and keeps only one key per name and type.
        """
        name = hop.known_hosts_name.lower()
        entries: list[_Entry] = []
        revoked: set[bytes] = set()
        for path in self._files(hop):
            try:
                text = path.read_text(errors="replace")
            except FileNotFoundError:
                continue
            except OSError as exc:
                log.warning("cannot read known hosts file %s: %s", path, exc)
                continue
            for line in text.splitlines():
                fields = line.split()
                if not fields or fields[0].startswith("#"):
                    continue
                if fields[0].startswith("@"):
                    if fields[0] == "@revoked" and len(fields) >= 4:
                        revoked.add(_blob(fields[3]))
                    continue  # @cert-authority: host certificates are not supported
                if len(fields) >= 3 and _name_matches(fields[0].split(","), name):
                    entries.append(_Entry(path, fields[1], _blob(fields[2])))
        return entries, revoked

    def preferred_key_types(self, hop: Hop) -> list[str]:
        """Key types already on file for this hop, so the server is asked for one of those."""
        types: list[str] = []
        for entry in self._load(hop)[0]:
            if entry.keytype not in types:
                types.append(entry.keytype)
        return types

    def verify(self, hop: Hop, key: paramiko.PKey, *, trust_on_first_use: bool,
               host_label: str) -> None:
        """Accept a known key, refuse a changed one, record or refuse an unknown one."""
        name = hop.known_hosts_name
        keytype, blob, fp = key.get_name(), key.asbytes(), fingerprint(key)
        entries, revoked = self._load(hop)
        if blob in revoked:
            raise ConnectError(f"the host key of {hop.address} ({keytype} {fp}) is marked "
                               "@revoked in known_hosts; refusing to connect", retryable=False)
        if any(e.keytype == keytype and e.blob == blob for e in entries):
            return
        conflicts = [e for e in entries if e.keytype == keytype]
        if conflicts:
            path, old = conflicts[0].path, _fingerprint_blob(conflicts[0].blob)
            message = (
                f"HOST KEY OF {hop.address} HAS CHANGED: refusing to connect. "
                f"Known: {keytype} {old} (in {path}); offered now: {keytype} {fp}. "
                "Someone may be intercepting the connection (man-in-the-middle), or the machine "
                "was reinstalled. If you are sure the change is legitimate, remove the old key "
                f"with: ssh-keygen -R '{name}' -f {path}  and connect again."
            )
            log.error("%s", message)
            raise ConnectError(message, retryable=False)
        if entries:  # only keys of other types on file: never "first use"
            types = ", ".join(sorted({e.keytype for e in entries}))
            raise ConnectError(
                f"the host key of {hop.address} is a {keytype} key ({fp}), but known_hosts "
                f"has only {types} keys for it (in {entries[0].path}); refusing to connect. "
                "If the server really changed its keys, remove the old ones with: "
                f"ssh-keygen -R '{name}' -f {entries[0].path}", retryable=False)
        if trust_on_first_use:
            self._record(name, key)
            log.warning("trust on first use: recorded the host key of %s (%s %s) in %s for "
                        "host %s", hop.address, keytype, fp, self.app_file, host_label)
            return
        scan = (f"ssh-keyscan -p {hop.port} {hop.hostname}" if hop.port != 22
                else f"ssh-keyscan {hop.hostname}")
        raise ConnectError(
            f"the host key of {hop.address} is not known ({keytype} {fp}); refusing to connect. "
            f"If this is the right machine, trust it with: {scan} >> {self.app_file}  "
            "(check the fingerprint with ssh-keygen -lf first), or connect once with `ssh` to "
            f"add it to ~/.ssh/known_hosts, or set trust_on_first_use = true for host "
            f"{host_label!r} in config.toml", retryable=False)

    def _record(self, name: str, key: paramiko.PKey) -> None:
        """Append `name keytype base64` to the app's file (never rewrite it: others share it)."""
        line = f"{name} {key.get_name()} {key.get_base64()}\n"
        self.app_file.parent.mkdir(parents=True, exist_ok=True)
        with _TOFU_LOCK:
            fd = os.open(self.app_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            with os.fdopen(fd, "a") as fh:
                fcntl.flock(fh, fcntl.LOCK_EX)  # other app processes may append too
                fh.write(line)
                fh.flush()
                os.fsync(fh.fileno())


# -- authentication ----------------------------------------------------------------------------
def _load_key(path: str, explicit: bool, tried: list[str],
              problems: list[str]) -> paramiko.PKey | None:
    """A private key from a file, or None with the reason recorded (never prompts)."""
    try:
        return paramiko.PKey.from_path(path, password=None)
    except FileNotFoundError:
        if explicit:
            problems.append(f"the identity file {path} does not exist")
            tried.append(f"{path} (missing)")
    except PermissionError:
        problems.append(f"cannot read the key {path} (permission denied)")
        tried.append(f"{path} (unreadable)")
    except (paramiko.PasswordRequiredException, TypeError):
        # cryptography raises TypeError("...password-protected...") from PKey.from_path
        problems.append(f"the key {path} is encrypted; load it into ssh-agent (ssh-add {path}) "
                        "or use a key without a passphrase: the app cannot ask for passphrases")
        tried.append(f"{path} (encrypted)")
    except (ValueError, paramiko.SSHException, IndexError) as exc:
        problems.append(f"{path} is not a private key paramiko can use ({exc})")
        tried.append(f"{path} (unusable)")
    return None


def authenticate(transport: paramiko.Transport, hop: Hop, *, use_agent: bool = True,
                 look_for_keys: bool = True) -> str:
    """Log in with identity files, then the agent, then default keys; return what worked."""
    tried: list[str] = []
    problems: list[str] = []

    def attempt(key: paramiko.PKey, label: str) -> bool:
        try:
            remaining = transport.auth_publickey(hop.user, key)
        except paramiko.BadAuthenticationType as exc:
            raise ConnectError(
                f"authentication failed for user {hop.user} on {hop.address}: the server does "
                f"not accept public keys (it allows: {', '.join(exc.allowed_types)})",
                retryable=False) from exc
        except paramiko.AuthenticationException:
            tried.append(f"{label} (rejected)")
            if not transport.is_active():  # MaxAuthTries reached: the server hung up
                raise _auth_error(hop, tried, problems + [
                    "the server closed the connection after too many keys; set identity_file "
                    "for this host (or IdentitiesOnly yes in ~/.ssh/config)"]) from None
            return False
        if remaining:  # partial success: a second factor (password, OTP) is required
            raise ConnectError(
                f"authentication failed for user {hop.user} on {hop.address}: the key was "
                f"accepted but the server also wants {', '.join(remaining)}, which the app "
                "cannot provide", retryable=False)
        return True

    for path in hop.identity_files:
        key = _load_key(path, True, tried, problems)
        if key is not None and attempt(key, path):
            return path
    if use_agent and not hop.identities_only:
        agent = None
        try:
            agent = paramiko.Agent()
            agent_keys = agent.get_keys()
        except paramiko.SSHException as exc:
            agent_keys = ()
            tried.append(f"ssh-agent (unusable: {exc})")
        try:
            for key in agent_keys:
                if attempt(key, f"agent key {fingerprint(key)}"):
                    return "ssh-agent"
        finally:
            if agent is not None:
                agent.close()
        if not agent_keys and os.environ.get("SSH_AUTH_SOCK") is None:
            tried.append("ssh-agent (not running)")
    if look_for_keys and not hop.identities_only and not hop.identity_files:
        for path in default_key_files():
            key = _load_key(path, False, tried, problems)
            if key is not None and attempt(key, path):
                return path
    raise _auth_error(hop, tried, problems)


def _auth_error(hop: Hop, tried: list[str], problems: list[str]) -> ConnectError:
    cause = "; ".join(problems) if problems else "no key accepted"
    detail = ", ".join(tried) if tried else "no keys found (set identity_file for this host)"
    return ConnectError(
        f"authentication failed for user {hop.user} on {hop.address}: {cause}. Tried: {detail}."
        f" The matching public key must be in ~{hop.user}/.ssh/authorized_keys on the box.",
        retryable=False)


# -- one hop -----------------------------------------------------------------------------------
def _open_socket(hop: Hop, via: paramiko.Transport | None, via_hop: Hop | None,
                 timeout: float):
    """The byte stream to the hop: TCP, a direct-tcpip channel of the previous hop, or a proxy."""
    where = hop.address if hop.alias == hop.hostname else f"{hop.alias} ({hop.address})"
    if via is not None:
        try:
            return via.open_channel("direct-tcpip", (hop.hostname, hop.port), ("127.0.0.1", 0),
                                    timeout=timeout)
        except paramiko.ChannelException as exc:
            raise ConnectError(f"host unreachable: {where} via jump host "
                               f"{via_hop.address if via_hop else '?'} ({exc.text})",
                               retryable=True) from exc
        except (paramiko.SSHException, EOFError, OSError) as exc:
            raise ConnectError(f"host unreachable: {where}: the jump host connection failed "
                               f"({str(exc) or type(exc).__name__})", retryable=True) from exc
    if hop.proxy_command:
        try:
            return paramiko.ProxyCommand(hop.proxy_command)
        except (OSError, paramiko.SSHException) as exc:
            raise ConnectError(f"host unreachable: {where}: ProxyCommand "
                               f"{hop.proxy_command!r} failed ({exc})", retryable=False) from exc
    try:
        sock = socket.create_connection((hop.hostname, hop.port), timeout=timeout)
    except socket.gaierror as exc:
        raise ConnectError(f"host unreachable: {where} (name not found: {exc.strerror})",
                           retryable=True) from exc
    except ConnectionRefusedError as exc:
        raise ConnectError(f"host unreachable: {where} (connection refused: no SSH server "
                           "listening on that port)", retryable=True) from exc
    except (socket.timeout, TimeoutError) as exc:
        raise ConnectError(f"host unreachable: {where} (no answer within {timeout:g} s)",
                           retryable=True) from exc
    except OSError as exc:
        reason = exc.strerror or errno.errorcode.get(exc.errno or 0, str(exc))
        raise ConnectError(f"host unreachable: {where} ({reason.lower()})",
                           retryable=True) from exc
    tune_socket(sock)
    return sock


def open_hop(hop: Hop, *, known_hosts: KnownHosts, trust_on_first_use: bool, host_label: str,
             timeout: float, via: paramiko.Transport | None = None, via_hop: Hop | None = None,
             use_agent: bool = True, look_for_keys: bool = True) -> paramiko.Transport:
    """Connect, verify the host key, log in; the returned transport has keepalive on."""
    sock = _open_socket(hop, via, via_hop, timeout)
    transport = paramiko.Transport(sock)
    try:
        transport.banner_timeout = timeout
        transport.handshake_timeout = timeout
        transport.auth_timeout = timeout
        preferred = known_hosts.preferred_key_types(hop)
        if preferred:
            options = transport.get_security_options()
            offered = list(options.key_types)
            first = [t for t in offered if t in preferred or
                     (t.startswith("rsa-sha2-") and "ssh-rsa" in preferred)]
            options.key_types = first + [t for t in offered if t not in first]
        try:
            transport.start_client(timeout=timeout)
        except (paramiko.SSHException, EOFError, OSError) as exc:
            reason = str(exc) or type(exc).__name__
            raise ConnectError(
                f"host unreachable: {hop.address} answered but the SSH handshake failed "
                f"({reason}); is it an SSH server?", retryable=True) from exc
        if not transport.completion_event.is_set() or not transport.is_active():
            raise ConnectError(f"host unreachable: {hop.address} (no SSH handshake within "
                               f"{timeout:g} s)", retryable=True)
        known_hosts.verify(hop, transport.get_remote_server_key(),
                           trust_on_first_use=trust_on_first_use, host_label=host_label)
        try:
            how = authenticate(transport, hop, use_agent=use_agent, look_for_keys=look_for_keys)
        except (paramiko.SSHException, EOFError, OSError) as exc:
            raise ConnectError(f"connection to {hop.address} dropped during login "
                               f"({str(exc) or type(exc).__name__})", retryable=True) from exc
        transport.set_keepalive(hop.keepalive)
        log.debug("logged in to %s with %s", hop.describe(), how)
        return transport
    except BaseException:
        transport.close()
        raise
