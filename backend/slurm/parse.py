"""What Slurm prints, parsed: job states, sbatch/squeue/scontrol/sacct/sinfo output.

The parsers are pure functions so they can be tested without a cluster:
- `parse_sbatch_parsable`: `sbatch --parsable` prints `<jobid>` or `<jobid>;<cluster>`;
- `parse_scontrol_record`: one line of `scontrol show job -o` (`Key=value` pairs separated by
  spaces; a value may itself contain `=` and, for a few free-text fields, spaces);
- `parse_squeue`: `squeue --noheader --format=SQUEUE_FORMAT` lines, `|`-separated, with the
  free-text fields (comment, job name) last;
- `parse_sacct`: `sacct --parsable2 --noheader` lines.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

#: Slurm job states (squeue %T / scontrol JobState / the first word of sacct State).
#: Waiting for resources or held: the job has not started (or was requeued and waits again).
WAITING_STATES = frozenset({
    "PENDING", "REQUEUED", "REQUEUE_FED", "REQUEUE_HOLD", "RESV_DEL_HOLD", "SPECIAL_EXIT",
    "CONFIGURING", "POWER_UP_NODE",
})
#: Started and not over yet.
ACTIVE_STATES = frozenset({
    "RUNNING", "COMPLETING", "SIGNALING", "STAGE_OUT", "RESIZING", "SUSPENDED", "STOPPED",
    "UPDATE_DB",
})
#: Over: the job will not run again by itself.
FINISHED_STATES = frozenset({
    "COMPLETED", "CANCELLED", "FAILED", "TIMEOUT", "NODE_FAIL", "PREEMPTED", "BOOT_FAIL",
    "DEADLINE", "OUT_OF_MEMORY", "REVOKED", "LAUNCH_FAILED",
})

#: squeue fields, in order (`|`-separated; the two free-text ones last).
SQUEUE_FIELDS = (("%i", "job_id"), ("%T", "state"), ("%r", "reason"), ("%N", "nodes"),
                 ("%P", "partition"), ("%Q", "priority"), ("%u", "user"), ("%V", "submit_time"),
                 ("%S", "start_time"), ("%l", "time_limit"), ("%k", "comment"), ("%j", "name"))
SQUEUE_FORMAT = "|".join(code for code, _ in SQUEUE_FIELDS)
SACCT_FIELDS = ("JobID", "JobName", "State", "ExitCode", "NodeList", "Partition", "Submit",
                "Start", "End")

_SCONTROL_KEY = re.compile(r"^([A-Z][A-Za-z0-9_/:]*)=(.*)$", re.S)
_PARSABLE = re.compile(r"^(\d+(?:_\d+)?)(?:;(\S+))?$")
_EXIT = re.compile(r"^(-?\d+):(\d+)$")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_UNKNOWN_JOB = ("invalid job id", "unknown job", "does not exist")


@dataclass(frozen=True)
class SlurmJob:
    """What Slurm says about one job, reduced to what the orchestrator decides on."""

    job_id: str
    state: str  # base word: PENDING, RUNNING, COMPLETED, CANCELLED, ...
    name: str = ""
    reason: str = ""  # why it waits (Priority, Resources, ...) or why it ended; "" for None
    nodes: str = ""  # node list ("" while pending)
    partition: str = ""
    comment: str = ""
    user: str = ""
    priority: int | None = None
    exit_status: int | None = None  # N of ExitCode=N:S
    exit_signal: int | None = None  # S of ExitCode=N:S
    submit_time: str = ""
    start_time: str = ""
    time_limit: str = ""
    raw: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)

    @property
    def waiting(self) -> bool:
        return self.state in WAITING_STATES

    @property
    def active(self) -> bool:
        return self.state in ACTIVE_STATES

    @property
    def finished(self) -> bool:
        return self.state in FINISHED_STATES

    @property
    def started(self) -> bool:
        """Did it ever run? (A job cancelled while pending has a StartTime but no node.)"""
        return not self.waiting and bool(self.nodes)

    @property
    def exit_code(self) -> int | None:
        """The job's exit as a container's would be: N, or 128+S when a signal ended it."""
        if self.exit_signal:
            return 128 + self.exit_signal
        return self.exit_status

    def labels(self) -> dict[str, str]:
        """Our labels, kept in the job's comment as `k=v,k=v`."""
        out = {}
        for pair in self.comment.split(","):
            key, eq, value = pair.partition("=")
            if eq and key:
                out[key.strip()] = value.strip()
        return out


def _known(value: str) -> bool:
    return bool(value) and value not in ("Unknown", "N/A", "None", "(null)")


def _int(value: str) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _state_word(text: str) -> str:
    """'CANCELLED by 1001' (sacct) or 'CANCELLED+' -> 'CANCELLED'."""
    word = (text or "").strip().split(" ")[0].rstrip("+")
    return word.upper()


def _reason(text: str) -> str:
    text = (text or "").strip()
    if text.startswith("(") and text.endswith(")"):  # squeue shows "(Resources)" with %R only
        text = text[1:-1]
    return "" if text in ("None", "(null)") else text


def parse_exit_code(text: str) -> tuple[int | None, int | None]:
    """'2:0' -> (2, 0); '0:15' -> (0, 15); anything else -> (None, None)."""
    match = _EXIT.match((text or "").strip())
    if not match:
        return None, None
    return int(match.group(1)), int(match.group(2))


# -- parsers ----------------------------------------------------------------------------------
def parse_sbatch_parsable(text: str) -> str:
    """The job id from `sbatch --parsable` output (`123` or `123;cluster`)."""
    for line in reversed((text or "").strip().splitlines()):
        match = _PARSABLE.match(line.strip())
        if match:
            return match.group(1)
    raise ValueError(f"sbatch --parsable printed no job id: {text.strip()[:200]!r}")


def parse_scontrol_record(line: str) -> dict[str, str]:
    """One `scontrol show <entity> -o` line -> {key: value}.

    Tokens are separated by spaces; a token that starts with `Key=` (a capitalised Slurm key)
    starts a field, any other token continues the previous value (free text such as a Reason
    or a Command with spaces). A value may contain `=` (`TRES=cpu=1,node=1`).
    """
    fields: dict[str, str] = {}
    last: str | None = None
    for token in line.strip().split(" "):
        match = _SCONTROL_KEY.match(token)
        if match and (last is None or not _continues(fields[last], token)):
            last = match.group(1)
            fields[last] = match.group(2)
        elif last is not None:
            fields[last] += " " + token
    return fields


def _continues(value: str, token: str) -> bool:
    """Inside parentheses (e.g. 'Reason=(ReqNodeNotAvail, Foo=bar)') a key is still text."""
    return value.count("(") > value.count(")")


def job_from_scontrol(fields: Mapping[str, str]) -> SlurmJob:
    status, signal = parse_exit_code(fields.get("ExitCode", ""))
    nodes = fields.get("NodeList", "")
    return SlurmJob(
        job_id=fields.get("JobId", ""), state=_state_word(fields.get("JobState", "")),
        name=fields.get("JobName", ""), reason=_reason(fields.get("Reason", "")),
        nodes="" if not _known(nodes) else nodes, partition=fields.get("Partition", ""),
        comment="" if fields.get("Comment") in (None, "(null)") else fields["Comment"],
        user=fields.get("UserId", "").split("(")[0], priority=_int(fields.get("Priority", "")),
        exit_status=status, exit_signal=signal, submit_time=fields.get("SubmitTime", ""),
        start_time=fields.get("StartTime", ""), time_limit=fields.get("TimeLimit", ""),
        raw=dict(fields))


def parse_scontrol_jobs(text: str) -> list[SlurmJob]:
    """Every job of `scontrol show job -o [id]` output."""
    return [job_from_scontrol(parse_scontrol_record(line))
            for line in (text or "").splitlines() if line.startswith("JobId=")]


def parse_squeue(text: str) -> list[SlurmJob]:
    """Lines of `squeue --noheader --format=SQUEUE_FORMAT`; malformed lines are skipped."""
    jobs = []
    n = len(SQUEUE_FIELDS)
    for line in (text or "").splitlines():
        if not line.strip():
            continue
        # The job name is last and may contain '|'; everything before it is split exactly.
        parts = line.split("|", n - 1)
        if len(parts) != n:
            continue
        row = dict(zip((name for _, name in SQUEUE_FIELDS), parts))
        if not row["job_id"].strip():
            continue
        jobs.append(SlurmJob(
            job_id=row["job_id"].strip(), state=_state_word(row["state"]), name=row["name"],
            reason=_reason(row["reason"]), nodes=_clean(row["nodes"]),
            partition=row["partition"].strip(), comment=_clean(row["comment"]),
            user=row["user"].strip(), priority=_int(row["priority"].strip()),
            submit_time=row["submit_time"].strip(), start_time=row["start_time"].strip(),
            time_limit=row["time_limit"].strip(), raw=row))
    return jobs


def _clean(value: str) -> str:
    value = value.strip()
    return "" if value in ("(null)", "N/A", "None") else value


def parse_sacct(text: str) -> list[SlurmJob]:
    """Lines of `sacct --parsable2 --noheader --allocations --format=SACCT_FIELDS`."""
    jobs = []
    for line in (text or "").splitlines():
        parts = line.split("|")
        if len(parts) < len(SACCT_FIELDS):
            continue
        row = dict(zip(SACCT_FIELDS, parts))
        status, signal = parse_exit_code(row["ExitCode"])
        jobs.append(SlurmJob(
            job_id=row["JobID"], state=_state_word(row["State"]), name=row["JobName"],
            nodes=_clean(row["NodeList"]).replace(
                "None assigned", ""), partition=row["Partition"], exit_status=status,
            exit_signal=signal, submit_time=row["Submit"], start_time=row["Start"], raw=row))
    return jobs


# -- the client -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Partition:
    name: str
    available: str  # up | down | drain | inact
    time_limit: str
    nodes: int
    states: tuple[str, ...]  # node states seen (idle, mixed, alloc, drain, ...)
    gres: tuple[str, ...]  # e.g. ("gpu:8", "gpu:a100:4(S:0-1)")
    default: bool

    @property
    def up(self) -> bool:
        return self.available == "up"


def parse_sinfo(text: str) -> list[Partition]:
    """`sinfo --noheader --format=%P|%a|%l|%D|%t|%G` lines, merged per partition."""
    merged: dict[str, dict] = {}
    for line in (text or "").splitlines():
        parts = line.strip().split("|")
        if len(parts) != 6 or not parts[0]:
            continue
        name, avail, limit, count, state, gres = parts
        default = name.endswith("*")
        name = name.rstrip("*")
        entry = merged.setdefault(name, {"available": avail, "time_limit": limit, "nodes": 0,
                                         "states": [], "gres": [], "default": default})
        entry["nodes"] += _int(count) or 0
        if state not in entry["states"]:
            entry["states"].append(state)
        for item in gres.split(","):
            item = item.strip()
            if item and item != "(null)" and item not in entry["gres"]:
                entry["gres"].append(item)
    return [Partition(name, e["available"], e["time_limit"], e["nodes"], tuple(e["states"]),
                      tuple(e["gres"]), e["default"]) for name, e in merged.items()]


def gpus_per_node(gres: Sequence[str]) -> int:
    """The largest GPU count of a partition's GRES strings ('gpu:8', 'gpu:a100:4(S:0-1)')."""
    best = 0
    for item in gres:
        parts = item.split("(")[0].split(":")
        if parts[0] != "gpu":
            continue
        count = _int(parts[-1]) if len(parts) > 1 else 1
        best = max(best, count or 0)
    return best
