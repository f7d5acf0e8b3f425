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

from collections.abc import Mapping, Sequence

from backend.remote.shell import CommandResult, RemoteError, Shell
from backend.slurm.parse import *  # noqa: F401,F403  (the job model and parsers, re-exported)
from backend.slurm.parse import (_ENV_NAME, _UNKNOWN_JOB, _int, SACCT_FIELDS, SQUEUE_FORMAT,
                                 Partition, SlurmJob, parse_sacct, parse_sbatch_parsable,
                                 parse_scontrol_jobs, parse_sinfo, parse_squeue)

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
