"""Reading typed values out of a TOML table, with errors worded the same way every time.

Why hand-written validation instead of trusting TOML types: an artist edits config.toml by
hand, and a typo must stop the app at start with a message that names the file, the key, the
bad value and what is allowed, instead of failing an hour later on a GPU box.
"""

from __future__ import annotations

import os
import shlex
from pathlib import Path
from typing import Any, Callable, Mapping


class ConfigError(ValueError):
    """A setting is wrong; the message is meant for the person who edits the file."""


class Reader:
    """Reads typed values out of a TOML table and words errors the same way every time."""

    def __init__(self, path: Path, table: Mapping[str, Any], prefix: str = "") -> None:
        self.path = path
        self.table = table
        self.prefix = prefix

    def fail(self, key: str, value: Any, allowed: str) -> ConfigError:
        return ConfigError(
            f"{self.path}: {self.prefix}{key} = {value!r} is not valid; allowed: {allowed}"
        )

    def sub(self, key: str) -> "Reader":
        value = self.table.get(key, {})
        if not isinstance(value, dict):
            raise self.fail(key, value, "a table")
        return Reader(self.path, value, f"{self.prefix}{key}.")

    def get(self, key: str, kind: type | tuple[type, ...], default: Any, allowed: str,
            check: Callable[[Any], bool] = lambda v: True) -> Any:
        value = self.table.get(key, default)
        if value is None and default is None:
            return None
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if isinstance(value, bool) and kind is not bool:
            raise self.fail(key, value, allowed)
        if not isinstance(value, kind) or not check(value):
            raise self.fail(key, value, allowed)
        return value

    def unknown_keys(self, known: set[str]) -> None:
        extra = sorted(set(self.table) - known)
        if extra:
            raise ConfigError(
                f"{self.path}: unknown key {self.prefix}{extra[0]}; allowed keys here: "
                + ", ".join(sorted(known))
            )


def expand(text: str, base: Path, *, local: bool = True, **values: str) -> str:
    """Fill {data_dir}/{remote_root}; expand ~ only for paths on this machine.

    On an SSH box `~` would mean the remote home, which SFTP cannot resolve; such paths must
    be absolute and are checked where they are read.
    """
    for name, value in values.items():
        text = text.replace("{" + name + "}", value)
    return str(Path(text).expanduser()) if local else text


def expand_command(text: str, local: bool, values: Mapping[str, str]) -> tuple[str, ...]:
    """A command line from config: placeholders filled, split like a shell would.

    Not run through Path() as paths are: that would turn `docker -H unix:///x.sock` into
    `unix:/x.sock`. A leading `~` is still expanded on a local box.
    """
    for name, value in values.items():
        text = text.replace("{" + name + "}", value)
    words = shlex.split(text)
    if local and words:
        words[0] = os.path.expanduser(words[0])
    return tuple(words)


def parse_mount(text: str) -> tuple[str, str, bool] | None:
    """"/src:/dst[:ro|rw]" -> (src, dst, read_only), or None if it is not that shape."""
    parts = text.split(":")
    if len(parts) == 3 and parts[2] in ("ro", "rw"):
        read_only = parts[2] == "ro"
    elif len(parts) == 2:
        read_only = False
    else:
        return None
    src, dst = parts[0], parts[1]
    if not (src.startswith("/") and dst.startswith("/")):
        return None
    return src, dst, read_only
