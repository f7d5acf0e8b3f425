"""Who the people of a studio are to the scheduler and the sign-in page, read from config.

`[fair_share]` says what each person may use: a share of the farm's GPUs (runs of people
below their share start first), a priority added to their runs', and limits on concurrent
GPUs and queued runs; `[fair_share.users.<name>]` overrides it for one person. `[cli] user`
is who the `cosmos` command acts as. The sign-in keys of `[ui]` (session length, throttle) are
read here too, so settings.py stays about the rest.
"""

from __future__ import annotations

import getpass
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

from backend.config.reader import Reader

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
SHARE_KEYS = {"share", "priority", "max_gpus", "max_queued"}


@dataclass(frozen=True)
class Share:
    """One person's terms. 0 for a limit means no limit."""

    share: float = 1.0
    priority: int = 0
    max_gpus: int = 0
    max_queued: int = 0


@dataclass(frozen=True)
class FairShare:
    default: Share = field(default_factory=Share)
    users: Mapping[str, Share] = field(default_factory=dict)

    def of(self, owner: str) -> Share:
        return self.users.get(owner, self.default)


@dataclass(frozen=True)
class SignInPolicy:
    """How long a sign-in lasts and how failed ones are slowed down (`[ui]`)."""

    session_hours: float = 12.0
    free_attempts: int = 3
    lockout_after: int = 10
    lockout_minutes: float = 15.0


def _share(r: Reader, base: Share) -> Share:
    r.unknown_keys(SHARE_KEYS)
    return Share(
        share=r.get("share", float, base.share, "a number above 0 (a person's weight: twice "
                    "the share, twice the GPUs while others wait)", lambda v: 0 < v <= 1000),
        priority=r.get("priority", int, base.priority, "a whole number from -100 to 100 "
                       "(added to the priority of each of their runs)",
                       lambda v: -100 <= v <= 100),
        max_gpus=r.get("max_gpus", int, base.max_gpus, "a whole number of GPUs >= 0 (0 = no "
                       "limit)", lambda v: 0 <= v <= 100000),
        max_queued=r.get("max_queued", int, base.max_queued, "a whole number of runs >= 0 (0 = "
                         "no limit)", lambda v: 0 <= v <= 1000000),
    )


def read_fair_share(root: Reader) -> FairShare:
    r = root.sub("fair_share")
    r.unknown_keys(SHARE_KEYS | {"users"})
    default = _share(Reader(r.path, {k: v for k, v in r.table.items() if k != "users"},
                            r.prefix), Share())
    users_r = r.sub("users")
    users = {}
    for name in users_r.table:
        if not _NAME.match(name):
            raise users_r.fail(name, users_r.table[name], "a user name of letters, digits, "
                               "'.', '_' or '-' (as `cosmos user add` accepts)")
        users[name] = _share(users_r.sub(name), default)
    return FairShare(default, users)


def read_cli_user(root: Reader) -> str | None:
    r = root.sub("cli")
    r.unknown_keys({"user"})
    return r.get("user", str, None, "a user name of letters, digits, '.', '_' or '-'",
                 lambda v: bool(_NAME.match(v)))


def read_sign_in(ui: Reader) -> SignInPolicy:
    return SignInPolicy(
        session_hours=ui.get("session_hours", float, 12.0, "a number of hours from 0.0005 to "
                             "720 (how long a sign-in lasts)", lambda v: 0.0005 <= v <= 720),
        free_attempts=ui.get("sign_in_free_attempts", int, 3, "a whole number from 1 to 100 "
                             "(failed sign-ins before each try must wait)",
                             lambda v: 1 <= v <= 100),
        lockout_after=ui.get("sign_in_lockout_after", int, 10, "a whole number from 2 to 1000 "
                             "(failed sign-ins before a temporary lockout)",
                             lambda v: 2 <= v <= 1000),
        lockout_minutes=ui.get("sign_in_lockout_minutes", float, 15.0, "a number of minutes "
                               "from 0.01 to 1440", lambda v: 0.01 <= v <= 1440),
    )


def read_input_roots(ui: Reader, base: Path) -> tuple[Path, ...]:
    roots = ui.get("input_roots", list, [], "a list of folder paths on this machine whose "
                   "videos may be chosen as inputs, such as [\"/mnt/footage\"]",
                   lambda v: all(isinstance(x, str) and x.strip() for x in v))
    resolved = []
    for text in roots:
        path = Path(text).expanduser()
        resolved.append((path if path.is_absolute() else base / path).resolve())
    return tuple(resolved)


def cli_user(configured: str | None) -> str:
    """Who the `cosmos` command acts as: $COSMOS_USER, else `[cli] user`, else the OS login
    name (what owns the runs it launches; see README, "Owners")."""
    env = os.environ.get("COSMOS_USER", "").strip()
    if env:
        if not _NAME.match(env):
            raise ValueError(f"COSMOS_USER={env!r} is not a valid user name; use letters, "
                             "digits, '.', '_' or '-'")
        return env
    if configured:
        return configured
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "local"
