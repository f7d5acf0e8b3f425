"""A real single-node Slurm cluster on 127.0.0.1 for integration tests (slurm-wlm from Debian).

slurmctld and slurmd run as our children (`-D`, killed and reaped by us: PID 1 on these VMs does
not reap orphans, see /work/shared/test-infrastructure.md §5), with their own ports, state and
spool under a throwaway folder, `auth/none` + `cred/none` (no munged), and the config in that
folder (clients find it through SLURM_CONF). The node is this machine (`hostname -s`).

Loopback only: `CommunicationParameters=NoInAddrAny,NoCtldInAddrAny` makes slurmctld bind to
SlurmctldHost's address and slurmd, slurmstepd and srun to NodeAddr's, both 127.0.0.1; without
it every one of them listens on the wildcard address (tests/integration/test_loopback.py
checks that none does).

Fake GPUs: Slurm wants a character device per GPU in gres.conf, so the fixture makes its own
(`mknod`, a copy of /dev/null's numbers) and declares `Gres=gpu:N`. Jobs asking for
`--gres=gpu:1` (or `--gpus=1`) then get SLURM_JOB_GPUS / CUDA_VISIBLE_DEVICES like on a GPU
node, and a node with N fake GPUs runs at most N one-GPU jobs at a time: `gpus=1` makes a
one-slot node, where a second job waits with reason Resources.

Scheduling is tuned for tests (`sched_interval=1`, `batch_sched_delay=0`, `bf_interval=1`): a
job that waits starts about 1 s after the one before it ends.

Usage:
    cluster = SlurmCluster.start(gpus=1)     # needs root
    cluster.env                               # {"SLURM_CONF": ...} for the client commands
    cluster.run("squeue")                     # a client command as root
    cluster.stop()
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.helpers import STATE_CHANGES
from tests.sshd import free_port

SLURMCTLD = "/usr/sbin/slurmctld"
SLURMD = "/usr/sbin/slurmd"


class SlurmUnavailable(RuntimeError):
    """This machine cannot run the test cluster (not root, slurm-wlm missing, ...)."""


class _DaemonExited(SlurmUnavailable):
    """slurmctld or slurmd exited while starting (e.g. its port was taken meanwhile)."""


def node_name() -> str:
    """Slurm's NodeName must be `hostname -s` for slurmd to find itself in the config."""
    return socket.gethostname().split(".")[0]


@dataclass
class SlurmCluster:
    workdir: Path
    conf: Path
    node: str
    gpus: int
    cpus: int
    procs: list[subprocess.Popen] = field(default_factory=list)
    _logs: list = field(default_factory=list, repr=False)

    # -- construction -------------------------------------------------------------------------
    @classmethod
    def start(cls, *, gpus: int = 1, cpus: int = 2, partition: str = "debug",
              workdir: Path | None = None,
              timeout: float = STATE_CHANGES) -> "SlurmCluster":
        if os.geteuid() != 0:
            raise SlurmUnavailable("the test cluster needs root (slurmd starts jobs as users)")
        for program in (SLURMCTLD, SLURMD, shutil.which("sbatch") or "/usr/bin/sbatch"):
            if not os.access(program, os.X_OK):
                raise SlurmUnavailable(f"{program} is missing: apt-get install slurm-wlm")
        # not under pytest's tmp_path: the job user reads slurm.conf, /tmp/pytest-of-root is 0700
        workdir = Path(workdir or tempfile.mkdtemp(prefix="cosmos-slurm-"))
        workdir.mkdir(parents=True, exist_ok=True)
        os.chmod(workdir, 0o755)
        node = node_name()
        devices = workdir / "dev"
        devices.mkdir(exist_ok=True)
        os.chmod(devices, 0o755)
        null = os.stat("/dev/null").st_rdev
        try:
            for i in range(gpus):
                path = devices / f"gpu{i}"
                if not path.exists():
                    os.mknod(path, 0o666 | 0o020000, null)  # S_IFCHR
        except OSError as exc:
            raise SlurmUnavailable(f"cannot make fake GPU devices: {exc}") from None
        for sub in ("state", "spool"):
            (workdir / sub).mkdir(exist_ok=True)
        last: SlurmUnavailable | None = None
        for _ in range(3):  # a free port may be taken between probing and binding
            ctld_port, slurmd_port = free_port(), free_port()
            conf = cls._write_conf(workdir, node, gpus, cpus, partition, ctld_port,
                                   slurmd_port, devices)
            cluster = cls(workdir, conf, node, gpus, cpus)
            try:
                cluster._spawn([SLURMCTLD, "-D", "-f", str(conf)], "slurmctld.out")
                cluster._spawn([SLURMD, "-D", "-f", str(conf)], "slurmd.out")
                cluster._wait_idle(timeout)
            except _DaemonExited as exc:
                cluster.stop(remove=False)
                last = exc
                continue
            except BaseException:
                cluster.stop(remove=False)
                raise
            return cluster
        raise last

    @staticmethod
    def _write_conf(workdir: Path, node: str, gpus: int, cpus: int, partition: str,
                    ctld_port: int, slurmd_port: int, devices: Path) -> Path:
        gres = f" Gres=gpu:{gpus}" if gpus else ""
        conf = workdir / "slurm.conf"
        conf.write_text("\n".join([
            "ClusterName=cosmostest",
            f"SlurmctldHost={node}(127.0.0.1)",
            f"SlurmctldPort={ctld_port}",
            f"SlurmdPort={slurmd_port}",
            # Bind to the configured addresses (SlurmctldHost's and NodeAddr's 127.0.0.1), not
            # to INADDR_ANY: NoCtldInAddrAny for slurmctld, NoInAddrAny for slurmd and the rest.
            "CommunicationParameters=NoInAddrAny,NoCtldInAddrAny",
            "AuthType=auth/none",
            "CredType=cred/none",
            "SlurmUser=root",
            "SlurmdUser=root",
            f"StateSaveLocation={workdir / 'state'}",
            f"SlurmdSpoolDir={workdir / 'spool'}",
            f"SlurmctldPidFile={workdir / 'slurmctld.pid'}",
            f"SlurmdPidFile={workdir / 'slurmd.pid'}",
            f"SlurmctldLogFile={workdir / 'slurmctld.log'}",
            f"SlurmdLogFile={workdir / 'slurmd.log'}",
            "ProctrackType=proctrack/linuxproc",
            "TaskPlugin=task/none",
            "SelectType=select/cons_tres",
            "SelectTypeParameters=CR_Core",
            "JobAcctGatherType=jobacct_gather/none",
            "AccountingStorageType=accounting_storage/none",
            "JobCompType=jobcomp/filetxt",
            f"JobCompLoc={workdir / 'jobcomp.txt'}",
            "MinJobAge=300",
            "KillWait=5",
            "ReturnToService=2",
            "MpiDefault=none",
            "GresTypes=gpu",
            "SchedulerParameters=sched_interval=1,bf_interval=1,batch_sched_delay=0,"
            "sched_min_interval=0",
            f"NodeName={node} NodeAddr=127.0.0.1 CPUs={cpus} RealMemory=4000{gres} "
            "State=UNKNOWN",
            f"PartitionName={partition} Nodes={node} Default=YES MaxTime=INFINITE State=UP",
            "",
        ]))
        (workdir / "gres.conf").write_text(
            "AutoDetect=off\n" + (f"NodeName={node} Name=gpu File={devices}/gpu[0-{gpus - 1}]\n"
                                  if gpus else ""))
        return conf

    def _spawn(self, argv: list[str], out: str) -> None:
        fh = open(self.workdir / out, "ab")
        self._logs.append(fh)
        self.procs.append(subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=fh,
                                           stderr=subprocess.STDOUT, env=self.env_for_daemons()))

    def env_for_daemons(self) -> dict[str, str]:
        return dict(os.environ, SLURM_CONF=str(self.conf))

    def _wait_idle(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            for proc in self.procs:
                if proc.poll() is not None:
                    raise _DaemonExited(f"{proc.args[0]} exited ({proc.returncode}): "
                                    + self.log_tail())
            result = self.run("sinfo", "--noheader", "--format=%t", check=False)
            last = (result.stdout + result.stderr).strip()
            if result.returncode == 0 and last.rstrip("*") in ("idle", "mix", "alloc"):
                return
            time.sleep(0.1)
        raise SlurmUnavailable(f"the node did not become idle in {timeout:.0f} s (sinfo: "
                               f"{last!r}): " + self.log_tail())

    # -- what tests need ----------------------------------------------------------------------
    @property
    def env(self) -> dict[str, str]:
        """The client environment (slurm_env of a host config)."""
        return {"SLURM_CONF": str(self.conf)}

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(list(args), capture_output=True, text=True, check=check,
                              env=self.env_for_daemons())

    def job(self, job_id: str) -> dict[str, str]:
        """`scontrol show job -o` of a job as {key: value} (asked directly, not via our code)."""
        from backend.slurm.client import parse_scontrol_record

        out = self.run("scontrol", "show", "job", "-o", str(job_id)).stdout
        return parse_scontrol_record(out.strip())

    def jobs(self) -> list[str]:
        """Ids of every job slurmctld holds that is not over."""
        out = self.run("squeue", "--noheader", "--format=%i").stdout
        return [line.strip() for line in out.splitlines() if line.strip()]

    def cancel_all(self, timeout: float = STATE_CHANGES) -> None:
        """Cancel every job and wait until the queue is empty (between tests)."""
        ids = self.jobs()
        if ids:
            self.run("scancel", *ids, check=False)
        deadline = time.monotonic() + timeout
        while self.jobs() and time.monotonic() < deadline:
            time.sleep(0.2)

    def log_tail(self, chars: int = 1500) -> str:
        parts = []
        for name in ("slurmctld.log", "slurmd.log", "slurmctld.out", "slurmd.out"):
            path = self.workdir / name
            if path.exists():
                parts.append(f"--- {name}\n" + path.read_text(errors="replace")[-chars:])
        return "\n".join(parts)

    def stop(self, remove: bool = True) -> None:
        """Cancel the jobs, stop slurmd then slurmctld (reaped), delete the folder."""
        if all(p.poll() is None for p in self.procs) and len(self.procs) == 2:
            try:
                self.cancel_all(timeout=10)
            except Exception:  # a broken controller must not keep the daemons alive
                pass
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(5)
        for fh in self._logs:
            fh.close()
        self._logs.clear()
        if remove:
            shutil.rmtree(self.workdir, ignore_errors=True)
