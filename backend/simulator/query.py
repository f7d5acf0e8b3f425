"""The read-only verbs: ps, inspect, images, image inspect, version, info, pull.

Outputs copy docker's formats (tables aligned like Go's tabwriter, inspect as a 4-space
indented JSON array, `--format` through the Go-template subset) so the orchestrator's docker
layer needs no simulator special cases.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from typing import Any

from . import DEFAULT_IMAGE, SIM_VERSION
from .cliopts import FLAG, MULTI, VALUE, build_table, parse
from .errors import CliError
from .gotemplate import header, preformat, render, tabwrite
from .state import Store
from .views import PS_DEFAULT_TABLE, PS_HEADERS, image_id, inspect_view, ps_row

_STATUSES = ("created", "restarting", "running", "removing", "paused", "exited", "dead")


def _print_formatted(fmt: str, items: list[Any], headers: dict[str, str]) -> None:
    """Render items through a docker `--format` (with `table` support)."""
    template, is_table = preformat(fmt)
    lines = [render(template, item) for item in items]
    if is_table:
        sys.stdout.write(tabwrite([header(template, headers)] + lines))
    else:
        sys.stdout.write("".join(line + "\n" for line in lines))
    sys.stdout.flush()


# ---- ps --------------------------------------------------------------------------------------
PS_TABLE = build_table(
    [
        ("--all|-a", FLAG, "all"),
        ("--quiet|-q", FLAG, "quiet"),
        ("--no-trunc", FLAG, "no_trunc"),
        ("--filter|-f", MULTI, "filter"),
        ("--format", VALUE, "format"),
        ("--last|-n", VALUE, "last"),
        ("--latest|-l", FLAG, "latest"),
        ("--size|-s", FLAG, "size"),
    ]
)


def _parse_filters(items: list[str]) -> dict[str, list[str]]:
    filters: dict[str, list[str]] = {}
    for item in items:
        key, eq, value = item.partition("=")
        if not eq or key not in ("label", "name", "status", "id", "ancestor", "exited"):
            raise CliError(f"Error response from daemon: invalid filter '{item}'", 1)
        if key == "status" and value not in _STATUSES:
            raise CliError(f"Error response from daemon: invalid filter 'status={value}'", 1)
        filters.setdefault(key, []).append(value)
    return filters


def _matches(cid: str, config: dict[str, Any], state: dict[str, Any], filters: dict[str, list[str]]) -> bool:
    """Docker's filter semantics: values of one key OR'ed, keys AND'ed, labels all required."""
    labels = config.get("Labels") or {}
    for wanted in filters.get("label", []):
        key, eq, value = wanted.partition("=")
        if key not in labels or (eq and labels[key] != value):
            return False
    checks = {
        "name": lambda v: re.search(v, str(config.get("Name") or "")) is not None,
        "status": lambda v: state.get("Status") == v,
        "id": lambda v: cid.startswith(v),
        "ancestor": lambda v: config.get("Image") in (v, f"{v}:latest"),
        "exited": lambda v: state.get("Status") == "exited" and str(state.get("ExitCode")) == v,
    }
    for key, values in filters.items():
        if key in checks and not any(checks[key](v) for v in values):
            return False
    return True


def cmd_ps(store: Store, args: list[str]) -> int:
    """`ps [-a] [-q] [--no-trunc] [--filter ..] [--format ..]`, newest first."""
    opts, rest = parse("ps", args, PS_TABLE)
    if rest:
        raise CliError("\"docker ps\" accepts no arguments.\nSee 'docker ps --help'.", 1)
    filters = _parse_filters(opts["filter"])  # type: ignore[arg-type]
    show_all = bool(opts.get("all")) or "status" in filters or "exited" in filters
    rows: list[tuple[str, dict[str, Any], dict[str, Any]]] = []
    for cid in store.ids():
        config, state = store.config(cid), store.current_state(cid)
        if config is None or state is None:
            continue  # removed while we were listing
        if not show_all and state.get("Status") != "running":
            continue
        if _matches(cid, config, state, filters):
            rows.append((cid, config, state))
    rows.sort(key=lambda r: r[1].get("Created", ""), reverse=True)
    if opts.get("latest"):
        rows = rows[:1]
    elif opts.get("last") is not None:
        rows = rows[: max(0, int(str(opts["last"])))]
    no_trunc = bool(opts.get("no_trunc"))
    now = time.time()
    if opts.get("quiet"):
        for cid, _, _ in rows:
            print(cid if no_trunc else cid[:12])
        return 0
    items = [ps_row(cid, cfg, st, no_trunc, now) for cid, cfg, st in rows]
    _print_formatted(str(opts.get("format") or PS_DEFAULT_TABLE), items, PS_HEADERS)
    return 0


# ---- inspect ---------------------------------------------------------------------------------
INSPECT_TABLE = build_table(
    [("--format|-f", VALUE, "format"), ("--size|-s", FLAG, "size"), ("--type", VALUE, "type")]
)


def known_images(store: Store) -> list[str]:
    """The default image, env COSMOS_SIM_IMAGES (comma-separated) and images in use."""
    names = [DEFAULT_IMAGE]
    names += [n.strip() for n in os.environ.get("COSMOS_SIM_IMAGES", "").split(",") if n.strip()]
    for cid in store.ids():
        image = (store.config(cid) or {}).get("Image")
        if image:
            names.append(image)
    return list(dict.fromkeys(_with_tag(n) for n in names))


def _with_tag(name: str) -> str:
    return name if ":" in name.rsplit("/", 1)[-1] or "@" in name else name + ":latest"


def image_view(name: str) -> dict[str, Any]:
    """`image inspect` object: the simulator has every image, so any name answers."""
    return {
        "Id": image_id(_with_tag(name)),
        "RepoTags": [_with_tag(name)],
        "RepoDigests": [],
        "Created": "2025-01-01T00:00:00Z",
        "Comment": "cosmos-sim: every image is simulated; containers run as host processes",
        "Config": {"Env": [], "Cmd": ["bash"], "WorkingDir": "/workspace", "Labels": {"cosmos-sim": "true"}},
        "Architecture": "amd64",
        "Os": "linux",
        "Size": 0,
    }


def cmd_inspect(store: Store, args: list[str]) -> int:
    """`inspect [--format T] C...`: JSON array; missing ones -> `Error: No such object: X`."""
    opts, refs = parse("inspect", args, INSPECT_TABLE)
    if not refs:
        raise CliError("\"docker inspect\" requires at least 1 argument.\nSee 'docker inspect --help'.", 1)
    kind = opts.get("type")
    images = set(known_images(store))
    found: list[dict[str, Any]] = []
    errors: list[str] = []
    for ref in refs:
        view = None
        if kind in (None, "container"):
            try:
                cid = store.resolve(ref)
                config, state = store.config(cid), store.current_state(cid)
                if config and state:
                    view = inspect_view(cid, config, state, str(store.log_path(cid)))
            except CliError:
                view = None
        if view is None and (kind == "image" or (kind is None and _with_tag(ref) in images)):
            view = image_view(ref)
        if view is None:
            errors.append(f"Error: No such object: {ref}")
        else:
            found.append(view)
    if opts.get("format"):
        _print_formatted(str(opts["format"]), found, {})
    else:
        sys.stdout.write(json.dumps(found, indent=4, ensure_ascii=False) + "\n")
        sys.stdout.flush()
    for err in errors:
        print(err, file=sys.stderr)
    return 1 if errors else 0


# ---- images / image ------------------------------------------------------------------------
IMAGES_TABLE = build_table(
    [("--quiet|-q", FLAG, "quiet"), ("--format", VALUE, "format"), ("--all|-a", FLAG, "all"),
     ("--no-trunc", FLAG, "no_trunc"), ("--filter|-f", MULTI, "filter"), ("--digests", FLAG, "digests")]
)
_IMAGE_HEADERS = {"Repository": "REPOSITORY", "Tag": "TAG", "ID": "IMAGE ID",
                  "CreatedSince": "CREATED", "Size": "SIZE", "CreatedAt": "CREATED AT"}


def cmd_images(store: Store, args: list[str]) -> int:
    """`images`: the advertised image plus configured/used ones."""
    opts, rest = parse("images", args, IMAGES_TABLE)
    rows = []
    for name in known_images(store):
        repo, _, tag = name.rpartition(":")
        full = image_id(name)
        rows.append({
            "Repository": repo, "Tag": tag,
            "ID": full if opts.get("no_trunc") else full[7:19],
            "CreatedSince": "simulated", "CreatedAt": "2025-01-01 00:00:00 +0000 UTC",
            "Size": "0B", "Digest": "<none>", "Containers": "N/A",
        })
    if rest:
        rows = [r for r in rows if r["Repository"] == rest[0] or f"{r['Repository']}:{r['Tag']}" == rest[0]]
    if opts.get("quiet"):
        for row in rows:
            print(row["ID"])
        return 0
    fmt = str(opts.get("format") or "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}")
    _print_formatted(fmt, rows, _IMAGE_HEADERS)
    return 0


def cmd_image(store: Store, args: list[str]) -> int:
    """`image inspect|ls|pull ...`."""
    if not args:
        raise CliError("Usage:  docker image COMMAND\nSee 'docker image --help'.", 1)
    sub, rest = args[0], args[1:]
    if sub in ("ls", "list"):
        return cmd_images(store, rest)
    if sub == "pull":
        return cmd_pull(store, rest)
    if sub == "inspect":
        opts, refs = parse("image inspect", rest, INSPECT_TABLE)
        if not refs:
            raise CliError("\"docker image inspect\" requires at least 1 argument.", 1)
        views = [image_view(r) for r in refs]
        if opts.get("format"):
            _print_formatted(str(opts["format"]), views, {})
        else:
            print(json.dumps(views, indent=4))
        return 0
    raise CliError(f"docker: 'image {sub}' is not a docker command.\nSee 'docker image --help'", 1)


def cmd_pull(store: Store, args: list[str]) -> int:
    """`pull NAME`: nothing to download; the simulator has every image."""
    _, refs = parse("pull", args, build_table([("--quiet|-q", FLAG, "quiet"), ("--platform", VALUE, "p")]))
    if len(refs) != 1:
        raise CliError("\"docker pull\" requires exactly 1 argument.", 1)
    name = _with_tag(refs[0])
    print(f"{name.rpartition(':')[2]}: Pulling from {name.rpartition(':')[0]}")
    print(f"Status: Image is up to date for {name} (cosmos-sim simulates every image)")
    print(name)
    return 0


# ---- version / info --------------------------------------------------------------------------
def _version_data() -> dict[str, Any]:
    python = ".".join(str(n) for n in sys.version_info[:3])
    common = {"Version": SIM_VERSION, "ApiVersion": "1.41", "Os": "linux", "Arch": os.uname().machine,
              "GoVersion": f"n/a (python {python})", "GitCommit": "cosmos-sim"}
    return {
        "Client": {"Platform": {"Name": "cosmos-sim"}, **common, "DefaultAPIVersion": "1.41",
                   "Context": "default"},
        "Server": {"Platform": {"Name": "cosmos-sim (CPU stand-in for Docker + NVIDIA runtime)"},
                   **common, "MinAPIVersion": "1.12", "KernelVersion": os.uname().release,
                   "Components": [{"Name": "Engine", "Version": SIM_VERSION,
                                   "Details": {"Runtime": "host processes"}}]},
    }


def cmd_version(store: Store, args: list[str]) -> int:
    """`version [--format T]`: says plainly that this is cosmos-sim."""
    opts, _ = parse("version", args, build_table([("--format|-f", VALUE, "format")]))
    data = _version_data()
    if opts.get("format"):
        _print_formatted(str(opts["format"]), [data], {})
        return 0
    c, s = data["Client"], data["Server"]
    print(f"Client: {c['Platform']['Name']}\n Version:           {c['Version']}\n"
          f" API version:       {c['ApiVersion']}\n Go version:        {c['GoVersion']}\n"
          f" OS/Arch:           {c['Os']}/{c['Arch']}\n Context:           default\n")
    print(f"Server: {s['Platform']['Name']}\n Engine:\n  Version:          {s['Version']}\n"
          f"  API version:      {s['ApiVersion']} (minimum version {s['MinAPIVersion']})\n"
          f"  OS/Arch:          {s['Os']}/{s['Arch']}\n  Kernel:           {s['KernelVersion']}\n"
          "  Runtime:          host processes (containers are not isolated)")
    return 0


def cmd_info(store: Store, args: list[str]) -> int:
    """`info [--format T]`: counts and a clear statement that GPUs are simulated."""
    opts, _ = parse("info", args, build_table([("--format|-f", VALUE, "format")]))
    states = [store.current_state(cid) or {} for cid in store.ids()]
    running = sum(1 for s in states if s.get("Status") == "running")
    from .runargs import host_gpu_count

    data = {
        "ID": "cosmos-sim", "Containers": len(states), "ContainersRunning": running,
        "ContainersPaused": 0, "ContainersStopped": len(states) - running,
        "Images": len(known_images(store)), "Driver": "cosmos-sim", "Name": os.uname().nodename,
        "ServerVersion": SIM_VERSION, "OperatingSystem": "cosmos-sim (containers run as host processes)",
        "OSType": "linux", "Architecture": os.uname().machine, "NCPU": os.cpu_count() or 1,
        "DockerRootDir": str(store.root), "DefaultRuntime": "cosmos-sim",
        "Runtimes": {"cosmos-sim": {"path": sys.executable}},
        "Labels": ["cosmos-sim=true", f"simulated-gpus={host_gpu_count(dict(os.environ))}"],
    }
    if opts.get("format"):
        _print_formatted(str(opts["format"]), [data], {})
        return 0
    print("Client: cosmos-sim\n\nServer:")
    for key in ("Containers", "ContainersRunning", "ContainersPaused", "ContainersStopped", "Images",
                "ServerVersion", "Driver", "DefaultRuntime", "OperatingSystem", "OSType",
                "Architecture", "NCPU", "Name", "ID", "DockerRootDir"):
        print(f" {key}: {data[key]}")
    print(f" Labels: {', '.join(data['Labels'])}")
    print(" WARNING: cosmos-sim simulates Docker and the GPUs; no real container isolation")
    return 0
