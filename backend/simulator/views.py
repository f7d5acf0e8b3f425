"""Docker-shaped views of a container record: `inspect` JSON and `ps` rows.

Field names, orders and text formats follow docker's (Status strings like
`Exited (137) 3 seconds ago`, CreatedAt as `2006-01-02 15:04:05 -0700 MST`, 12-char ids), so
code written against docker's output parses the simulator's unchanged.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

from .state import PUBLIC_STATE_KEYS, parse_rfc3339


def image_id(image: str) -> str:
    """A stable fake image id (the simulator builds no layers)."""
    return "sha256:" + hashlib.sha256(image.encode("utf-8")).hexdigest()


def human_duration(seconds: float) -> str:
    """go-units HumanDuration, as docker prints ages."""
    secs = int(seconds)
    if secs < 1:
        return "Less than a second"
    if secs == 1:
        return "1 second"
    if secs < 60:
        return f"{secs} seconds"
    minutes = int(seconds / 60)
    if minutes == 1:
        return "About a minute"
    if minutes < 60:
        return f"{minutes} minutes"
    hours = int(seconds / 3600 + 0.5)
    if hours == 1:
        return "About an hour"
    if hours < 48:
        return f"{hours} hours"
    if hours < 24 * 7 * 2:
        return f"{hours // 24} days"
    if hours < 24 * 30 * 2:
        return f"{hours // 24 // 7} weeks"
    if hours < 24 * 365 * 2:
        return f"{hours // 24 // 30} months"
    return f"{int(seconds / 3600) // 24 // 365} years"


def status_text(state: dict[str, Any], now: float | None = None) -> str:
    """The STATUS column of `docker ps`."""
    now = time.time() if now is None else now
    status = state.get("Status")
    if status == "running":
        started = parse_rfc3339(state.get("StartedAt")) or now
        return "Up " + human_duration(now - started)
    if status == "exited":
        finished = parse_rfc3339(state.get("FinishedAt")) or now
        return f"Exited ({state.get('ExitCode', 0)}) {human_duration(now - finished)} ago"
    if status == "dead":
        return "Dead"
    return "Created"


def created_at_text(created: str) -> str:
    """`2006-01-02 15:04:05 -0700 MST` in local time, docker's ps CreatedAt."""
    epoch = parse_rfc3339(created) or time.time()
    return time.strftime("%Y-%m-%d %H:%M:%S %z %Z", time.localtime(epoch))


def inspect_view(cid: str, config: dict[str, Any], state: dict[str, Any], log_path: str) -> dict[str, Any]:
    """Docker's `inspect` object for one container."""
    argv = config.get("Argv") or []
    public_state = {k: state.get(k) for k in PUBLIC_STATE_KEYS}
    if public_state["Status"] != "running":
        public_state["Pid"] = 0
    return {
        "Id": cid,
        "Created": config.get("Created"),
        "Path": argv[0] if argv else "",
        "Args": argv[1:],
        "State": public_state,
        "Image": image_id(config.get("Image", "")),
        "ResolvConfPath": "",
        "HostnamePath": "",
        "HostsPath": "",
        "LogPath": log_path,
        "Name": config.get("Name"),
        "RestartCount": 0,
        "Driver": "cosmos-sim",
        "Platform": "linux",
        "MountLabel": "",
        "ProcessLabel": "",
        "AppArmorProfile": "",
        "ExecIDs": None,
        "HostConfig": dict(config.get("HostConfig") or {}),
        "Mounts": config.get("Mounts") or [],
        "Config": {
            "Hostname": config.get("Hostname") or cid[:12],
            "Domainname": "",
            "User": config.get("User", ""),
            "AttachStdin": False,
            "AttachStdout": False,
            "AttachStderr": False,
            "Tty": False,
            "OpenStdin": False,
            "StdinOnce": False,
            "Env": config.get("Env") or [],
            "Cmd": config.get("Cmd"),
            "Image": config.get("Image"),
            "Volumes": None,
            "WorkingDir": config.get("WorkingDir", "/"),
            "Entrypoint": config.get("Entrypoint"),
            "OnBuild": None,
            "Labels": dict(sorted((config.get("Labels") or {}).items())),
        },
        "NetworkSettings": {"Networks": {}},
    }


def _ellipsis(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def ps_row(
    cid: str, config: dict[str, Any], state: dict[str, Any], no_trunc: bool, now: float | None = None
) -> dict[str, Any]:
    """One `docker ps` row as the template context (`{{.ID}}`, `{{.Label "k"}}`, ...)."""
    labels: dict[str, str] = dict(sorted((config.get("Labels") or {}).items()))
    command = " ".join(config.get("Argv") or [])
    if not no_trunc:
        command = _ellipsis(command, 20)
    created = parse_rfc3339(config.get("Created")) or time.time()
    now = time.time() if now is None else now
    mounts = ",".join(_ellipsis(m.get("Source", ""), 15) if not no_trunc else m.get("Source", "")
                      for m in config.get("Mounts") or [])
    return {
        "Command": f'"{command}"',
        "CreatedAt": created_at_text(config.get("Created", "")),
        "ID": cid if no_trunc else cid[:12],
        "Image": config.get("Image", ""),
        "Labels": ",".join(f"{k}={v}" for k, v in labels.items()),
        "LocalVolumes": "0",
        "Mounts": mounts,
        "Names": str(config.get("Name") or "").lstrip("/"),
        "Networks": (config.get("HostConfig") or {}).get("NetworkMode", "default"),
        "Ports": "",
        "RunningFor": human_duration(now - created) + " ago",
        "Size": "0B",
        "State": state.get("Status", "created"),
        "Status": status_text(state, now),
        "Label": lambda key: labels.get(key, ""),
    }


#: Column titles of `--format "table ..."` (docker's).
PS_HEADERS = {
    "ID": "CONTAINER ID",
    "Image": "IMAGE",
    "Command": "COMMAND",
    "CreatedAt": "CREATED AT",
    "RunningFor": "CREATED",
    "Ports": "PORTS",
    "State": "STATE",
    "Status": "STATUS",
    "Size": "SIZE",
    "Names": "NAMES",
    "Labels": "LABELS",
    "Label": "LABEL",
    "Mounts": "MOUNTS",
    "Networks": "NETWORKS",
    "LocalVolumes": "LOCAL VOLUMES",
}
PS_DEFAULT_TABLE = (
    "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}"
)
