"""Row 2, command round trip: `SshShell.run(["true"])` on its open connection vs naive Paramiko.

Ours: the shell the executor polls and follows with (one long-lived connection, TCP_NODELAY).
Baselines, against the same sshd and login user (empty .bashrc, so the shell start is small):
  * a fresh exec channel per command on a plain `paramiko.SSHClient` left as Paramiko sets it
    up (Nagle on: each request/response waits for the peer's delayed ACK);
  * a new connection per command (connect, authenticate, exec, close), as earlier tools did.
Rounds alternate between ours and the baseline so machine noise hits both alike.
"""

from __future__ import annotations

import time

from bench.common import Context, Line, missing, open_ssh_shell, try_import
from bench.stats import Goal

NAME = "roundtrip"
TITLE = "2 round trip"
GOAL = Goal("ours", "<=", 0.010, "s")
ROW_OPEN, ROW_NEW = "2 round trip vs naive channel", "2 round trip vs new connection"


def _naive_client(server):
    import paramiko

    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(paramiko.AutoAddPolicy())  # our own throwaway server
    client.connect(server.host, port=server.port, username=server.user,
                   key_filename=str(server.client_key), look_for_keys=False, allow_agent=False,
                   timeout=10)
    return client


def _naive_exec(client) -> None:
    _, stdout, _ = client.exec_command("true")
    if stdout.channel.recv_exit_status() != 0:
        raise RuntimeError("`true` failed")


def run(ctx: Context) -> list[Line]:
    ssh = try_import("backend.remote.ssh")
    if ssh is None or missing(ssh, "SshShell") or missing(ssh.SshShell, "run"):
        reason = "backend/remote/ssh.py SshShell.run missing"
        return [Line.not_built(ROW_OPEN, "s", GOAL, reason, stat="p50"),
                Line.not_built(ROW_NEW, "s", GOAL, reason, stat="p50")]
    ours_n, naive_n, fresh_n = (100, 20, 5) if ctx.quick else (300, 50, 12)
    server = ctx.sshd()
    shell = open_ssh_shell(ctx, ctx.remote_dir("roundtrip"))
    naive = _naive_client(server)
    ours: list[float] = []
    naive_times: list[float] = []
    fresh_times: list[float] = []
    try:
        for _ in range(5):  # warm up both connections
            shell.run(["true"]).check("true")
            _naive_exec(naive)
        rounds = max(naive_n, fresh_n)
        per_round = max(1, ours_n // rounds)
        for i in range(rounds):
            for _ in range(per_round):
                started = time.perf_counter()
                result = shell.run(["true"])
                ours.append(time.perf_counter() - started)
                if not result.ok:
                    raise RuntimeError(f"`true` failed: {result.err}")
            if i < naive_n:
                started = time.perf_counter()
                _naive_exec(naive)
                naive_times.append(time.perf_counter() - started)
            if i < fresh_n:
                started = time.perf_counter()
                client = _naive_client(server)
                try:
                    _naive_exec(client)
                finally:
                    client.close()
                fresh_times.append(time.perf_counter() - started)
    finally:
        naive.close()
        shell.close()
    return [
        Line.measured(ROW_OPEN, "s", GOAL, ours, naive_times, stat="p50",
                      ours_label='SshShell.run(["true"]) on its open connection',
                      baseline_label="plain paramiko exec_command('true'), open connection, "
                                     "no TCP_NODELAY",
                      note=f"n={len(ours)} ours, n={len(naive_times)} baseline"),
        Line.measured(ROW_NEW, "s", GOAL, ours, fresh_times, stat="p50",
                      ours_label='SshShell.run(["true"]) on its open connection',
                      baseline_label="paramiko connect + auth + exec('true') + close",
                      note=f"n={len(fresh_times)} baseline"),
    ]
