"""Slurm on a cluster, through the box's `Shell`: sbatch, squeue, scontrol, sacct, scancel, sinfo.

Every command is an argument list (the Shell quotes it), so no user text reaches a shell. The
cluster's client configuration can be given per host (`slurm_env`, e.g. SLURM_CONF): the
commands then run as `env NAME=value ... sbatch ...`.

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

from backend.remote.shell import CommandResult, RemoteError, Shell

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


class SlurmClient:
    """The Slurm commands of one cluster, run through a Shell (the login node's)."""

    def __init__(self, shell: Shell, env: Mapping[str, str] | None = None) -> None:
        self.shell = shell
        self.env = dict(env or {})
        for name in self.env:
            if not _ENV_NAME.fullmatch(name):
                raise ValueError(f"environment variable name {name!r} is not valid")

    def argv(self, *args: str) -> list[str]:
        """The full argv of a Slurm command (with `env NAME=value` in front when configured)."""
        prefix = ["env", *(f"{k}={v}" for k, v in self.env.items())] if self.env else []
        return prefix + [str(a) for a in args]

    def run(self, *args: str, timeout: float = 60) -> CommandResult:
        return self.shell.run(self.argv(*args), timeout=timeout)

    # -- submit -------------------------------------------------------------------------------
    def submit(self, script_path: str, *options: str) -> str:
        """`sbatch --parsable [options] script`; the job id. RemoteError says why not."""
        result = self.run("sbatch", "--parsable", *options, script_path, timeout=120)
        if not result.ok:
            raise RemoteError("Slurm refused the job: " + explain_slurm_failure(result))
        try:
            return parse_sbatch_parsable(result.out)
        except ValueError as exc:
            raise RemoteError(str(exc)) from None

    # -- state --------------------------------------------------------------------------------
    def show_job(self, job_id: str) -> SlurmJob | None:
        """`scontrol show job -o ID`: the job while slurmctld remembers it (MinJobAge)."""
        result = self.run("scontrol", "show", "job", "-o", str(job_id))
        if not result.ok:
            if any(text in (result.err + result.out).lower() for text in _UNKNOWN_JOB):
                return None
            raise RemoteError("scontrol show job failed: " + explain_slurm_failure(result))
        jobs = [j for j in parse_scontrol_jobs(result.out) if j.job_id == str(job_id)]
        return jobs[0] if jobs else None

    def queue(self, *, mine: bool = True, states: str | None = None,
              partition: str | None = None, name: str | None = None,
              job_ids: Sequence[str] = ()) -> list[SlurmJob]:
        """`squeue` rows (by default: this user's jobs that are not over yet)."""
        args = ["squeue", "--noheader", f"--format={SQUEUE_FORMAT}"]
        if mine:
            args.append("--me")
        if states:
            args.append(f"--states={states}")
        if partition:
            args.append(f"--partition={partition}")
        if name:
            args.append(f"--name={name}")
        if job_ids:
            args.append("--jobs=" + ",".join(job_ids))
        result = self.run(*args)
        if not result.ok and mine and "--me" in result.err:  # Slurm before 20.11
            user = self.shell.run(["id", "-un"], timeout=30).check("asking the user name")
            args[args.index("--me")] = f"--user={user.out.strip()}"
            result = self.run(*args)
        if not result.ok:
            if job_ids and any(t in (result.err + result.out).lower() for t in _UNKNOWN_JOB):
                return []
            raise RemoteError("squeue failed: " + explain_slurm_failure(result))
        return parse_squeue(result.out)

    def pending_order(self, partition: str | None = None) -> list[SlurmJob]:
        """Every pending job (all users) in scheduling order: priority, then age."""
        jobs = self.queue(mine=False, states="PENDING", partition=partition)
        return sorted(jobs, key=lambda j: (-(j.priority or 0), _int(j.job_id.split("_")[0])
                                           or 0))

    def accounting(self, job_id: str) -> SlurmJob | None:
        """`sacct` for a job slurmctld forgot; None when accounting is off or has no record."""
        result = self.run("sacct", "--noheader", "--parsable2", "--allocations",
                          "--format=" + ",".join(SACCT_FIELDS), f"--jobs={job_id}")
        if not result.ok:
            return None  # "Slurm accounting storage is disabled", no slurmdbd, ...
        jobs = [j for j in parse_sacct(result.out) if j.job_id == str(job_id)]
        return jobs[0] if jobs else None

    def find(self, job_id: str) -> SlurmJob | None:
        """A job wherever Slurm still knows it: slurmctld first, then accounting."""
        return self.show_job(job_id) or self.accounting(job_id)

    def find_by_name(self, name: str) -> list[SlurmJob]:
        """This user's jobs of that name that slurmctld still knows (any state)."""
        return self.queue(states="all", name=name)

    # -- stop ---------------------------------------------------------------------------------
    def cancel(self, job_id: str, *, signal: str | None = None,
               batch: bool = False) -> CommandResult:
        """`scancel [--signal=SIG [--batch]] ID`. Without a signal Slurm cancels the job (TERM
        to every process, KILL after the cluster's KillWait); with `--batch` the signal goes to
        the batch script's process only, the way `docker stop` signals a container's PID 1."""
        args = ["scancel"]
        if signal:
            args.append(f"--signal={signal}")
            if batch:
                args.append("--batch")
        return self.run(*args, str(job_id))

    # -- cluster ------------------------------------------------------------------------------
    def version(self) -> CommandResult:
        return self.run("sinfo", "--version", timeout=30)

    def partitions(self) -> list[Partition]:
        result = self.run("sinfo", "--noheader", "--format=%P|%a|%l|%D|%t|%G", timeout=30)
        if not result.ok:
            raise RemoteError("sinfo failed: " + explain_slurm_failure(result))
        return parse_sinfo(result.out)


def explain_slurm_failure(result: CommandResult) -> str:
    """A failed Slurm command in words a person can act on."""
    text = (result.err.strip() or result.out.strip())
    lower = text.lower()
    if result.exit_code == 127 or "command not found" in lower or \
            ("no such file or directory" in lower and "env:" in lower):
        return ("the Slurm commands (sbatch, squeue, ...) are not installed on this box or not "
                "on PATH; use the cluster's login node, or set slurm_env (PATH, SLURM_CONF)")
    if "unable to contact slurm controller" in lower or "connection refused" in lower:
        return "the Slurm controller (slurmctld) does not answer: " + _last(text)
    if "could not establish a configuration source" in lower or "slurm.conf" in lower and \
            "no such file" in lower:
        return ("no Slurm configuration found; set SLURM_CONF in the host's slurm_env: "
                + _last(text))
    return _last(text) or f"exit {result.exit_code}"


def _last(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""
