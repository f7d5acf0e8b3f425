"""What a doctor check finds: ok, warn or fail, with its finding and fix (backend/hosts/doctor.py
runs the checks; the model checks and host kinds' own checks build on these)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from backend.remote.shell import CommandResult

OK, WARN, FAIL = "ok", "warn", "fail"
_RANK = {OK: 0, WARN: 1, FAIL: 2}



@dataclass
class Check:
    name: str
    status: str
    finding: str
    fix: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "status": self.status, "finding": self.finding,
                "fix": self.fix if self.status != OK else "", "details": self.details}


@dataclass
class HostReport:
    host: str
    kind: str
    simulated: bool
    checks: list[Check] = field(default_factory=list)

    @property
    def status(self) -> str:
        return max((c.status for c in self.checks), key=_RANK.__getitem__, default=OK)

    def to_dict(self) -> dict[str, Any]:
        return {"host": self.host, "kind": self.kind, "simulated": self.simulated,
                "status": self.status, "ok": self.status != FAIL,
                "checks": [c.to_dict() for c in self.checks]}


def last_line(result: CommandResult) -> str:
    text = (result.err.strip() or result.out.strip() or f"exit {result.exit_code}")
    return text.splitlines()[-1].strip()
