"""Why a Cosmos job ended, in one line a person understands, with the log line that proves it.

Why this is careful about order: when one rank dies, the others die of it (NCCL timeouts,
torchrun's ChildFailedError, a SIGTERM to the survivors), and those secondary errors are printed
last. So the log is scanned from the end for every known cause, and the most specific root
cause wins by priority, not by position. Success is strict (contract §10.4): exit 0 AND a
`Saved video to` line AND the file exists; anything less is not reported as success.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from backend.models.loguru import clean_line, parse_loguru, strip_ansi, strip_rank_prefix
from backend.models.results import BLOCKED, CANCELLED, COMPLETED, FAILED, Outcome

_EVIDENCE_MAX = 400

_GUARD_BLOCKED = re.compile(r"GUARDRAIL BLOCKED:?\s*(.*)")
_GUARD_PROMPT = re.compile(r"Input text prompt \d+ is not safe|All prompts failed safety checks")
_GUARD_VIDEO = re.compile(r"Generated video \d+ is not safe")
_GUARD_BATCH = re.compile(r"Guardrail blocked generation")
_OOM = re.compile(r"CUDA out of memory|OutOfMemoryError|CUDA error: out of memory|"
                  r"CUBLAS_STATUS_ALLOC_FAILED")
_OOM_SIZE = re.compile(r"Tried to allocate ([\d.]+ [KMGT]i?B)")
_MISSING = re.compile(r"(?:FileNotFoundError|No such file or directory).*?['\"]([^'\"]+)['\"]|"
                      r"The provided filename (\S+) does not exist|"
                      r"OSError: (\S+) does not appear to have a file named ([\w.\-]+)")
_CKPT_HINT = re.compile(r"\.(?:pt|pth|jit|ckpt|safetensors|bin)$|(?:^|/)checkpoints?/|/nvidia/")
_HF_OFFLINE = re.compile(r"LocalEntryNotFoundError|couldn't connect to 'https://huggingface\.co'|"
                         r"OfflineModeIsEnabled|Cannot find the requested files in the (?:disk )?"
                         r"cache|Max retries exceeded with url: .*huggingface")
_VALUE_ERROR = re.compile(r"\bValueError: (.+)")
_CP_DIVIDE = re.compile(r"\d+ cannot divide cp_size \d+")
_PORT = re.compile(r"[Aa]ddress already in use|EADDRINUSE|"
                   r"server socket has failed to (?:listen|bind)")
_PORT_NUMBER = re.compile(r"port:? ?\(?(\d{2,5})")
_NCCL = re.compile(r"NCCL error|ncclInternalError|ncclSystemError|ncclUnhandledCudaError|"
                   r"ncclInvalidUsage|ncclRemoteError|DistBackendError|"
                   r"Watchdog caught collective operation timeout|NCCL communicator was aborted")
_CHILD_SIGKILL = re.compile(r"Signal 9 \(SIGKILL\) received|exitcode\s*:\s*-9\b|got signal: 9\b")
_SIGTERM = re.compile(r"got signal: 15\b|Signal 15 \(SIGTERM\) received|"
                      r"Received SIGTERM|exitcode\s*:\s*-15\b")
_EXCEPTION = re.compile(r"^(?:[A-Za-z_]\w*\.)*[A-Za-z_]\w*(?:Error|Exception|Interrupt)"
                        r"(?::\s*(.*))?$")
#: Lines that start stderr output of their own, ending a record's continuation lines.
_NEW_BLOCK = re.compile(r"^Traceback \(most recent call last\)|^\[?[EWIF]\d{3,4} |"
                        r"^[\w./-]+\.py:\d+: \w*Warning:|\d{1,3}%\|")
#: Exceptions that only report that something else failed.
_WRAPPERS = ("ChildFailedError", "SignalException")


def _evidence(line: str) -> str:
    return line if len(line) <= _EVIDENCE_MAX else line[:_EVIDENCE_MAX - 1] + "…"


def _message(line: str) -> str:
    """The loguru message of a cleaned line, or the line itself."""
    record = parse_loguru(line)
    return record.message if record else line


def _last(lines: Sequence[str], test: Callable[[str], bool]) -> str | None:
    for line in reversed(lines):
        if test(line):
            return line
    return None


def _find(lines: Sequence[str], pattern: re.Pattern[str]) -> tuple[str, re.Match[str]] | None:
    for line in reversed(lines):
        match = pattern.search(line)
        if match:
            return line, match
    return None


# -- one function per cause, in priority order; each returns (cause, evidence) or None --------
def _guardrail(lines: Sequence[str]) -> tuple[str, str] | None:
    found = _find(lines, _GUARD_BLOCKED)
    if found:
        reason = found[1].group(1).strip() or "no reason given"
        return f"blocked by Cosmos' guardrail: {reason}", found[0]
    for pattern, what in ((_GUARD_PROMPT, "the prompt failed the safety check"),
                          (_GUARD_VIDEO, "the generated video failed the safety check"),
                          (_GUARD_BATCH, "generation was refused")):
        found = _find(lines, pattern)
        if found:
            return f"blocked by Cosmos' guardrail: {what}", found[0]
    return None


def _oom(lines: Sequence[str]) -> tuple[str, str] | None:
    found = _find(lines, _OOM)
    if not found:
        return None
    size = _OOM_SIZE.search(found[0])
    tried = f" (tried to allocate {size.group(1)})" if size else ""
    cause = (f"CUDA out of memory{tried}: turn on the offload flags (text encoder, guardrail, "
             "diffusion transformer) or use more/bigger GPUs (each GPU holds the full weights)")
    return cause, found[0]


def _missing_file(lines: Sequence[str]) -> tuple[str, str] | None:
    found = _find(lines, _MISSING)
    if not found:
        return None
    m = found[1]
    path = m.group(1) or m.group(2) or f"{m.group(3)}/{m.group(4)}"
    if _CKPT_HINT.search(path):
        cause = (f"missing checkpoint: {path} (download it with scripts/download_checkpoints.py "
                 "or fix checkpoint_dir)")
        return cause, found[0]
    return f"missing file: {path}", found[0]


def _hf_offline(lines: Sequence[str]) -> tuple[str, str] | None:
    found = _find(lines, _HF_OFFLINE)
    if not found:
        return None
    cause = ("a Hugging Face model (Depth-Anything, SAM2 or GroundingDINO) is not cached and the "
             "box cannot download it: pre-warm HF_HOME or give control videos")
    return cause, found[0]


def _validation(lines: Sequence[str]) -> tuple[str, str] | None:
    found = _find(lines, _CP_DIVIDE)
    if found:
        return (f"Cosmos rejected the GPU count ({found[1].group(0)}): use 1, 2, 4 or 8 GPUs",
                found[0])
    found = _find(lines, _VALUE_ERROR)
    if found:
        return f"Cosmos rejected the settings: {found[1].group(1).strip()}", found[0]
    return None


def _port(lines: Sequence[str]) -> tuple[str, str] | None:
    found = _find(lines, _PORT)
    if not found:
        return None
    number = _PORT_NUMBER.search(found[0])
    which = f" {number.group(1)}" if number else ""
    cause = (f"torchrun's master port{which} is already in use (another job on this host?): "
             "re-run it to get another port")
    return cause, found[0]


def _nccl(lines: Sequence[str]) -> tuple[str, str] | None:
    found = _find(lines, _NCCL)
    if not found:
        return None
    return f"NCCL/distributed error between GPUs: {_message(found[0])[:200]}", found[0]


def _child_killed(lines: Sequence[str]) -> tuple[str, str] | None:
    found = _find(lines, _CHILD_SIGKILL)
    if not found:
        return None
    cause = ("a worker process was killed (SIGKILL), usually the host running out of RAM while "
             "loading checkpoints: use fewer GPUs per job or a box with more RAM")
    return cause, found[0]


def _terminated(lines: Sequence[str]) -> tuple[str, str] | None:
    found = _find(lines, _SIGTERM)
    if not found:
        return None
    return "terminated (SIGTERM): the job was stopped from outside", found[0]


_CAUSES = (_guardrail, _oom, _missing_file, _hf_offline, _validation, _port, _nccl,
           _child_killed, _terminated)


def _last_exception(lines: Sequence[str]) -> str | None:
    return _last(lines, lambda line: bool(_EXCEPTION.match(line))
                 and not any(w in line.split(":", 1)[0] for w in _WRAPPERS))


def _by_exit_code(exit_code: int | None, lines: Sequence[str]) -> tuple[str, str | None]:
    if exit_code is None:
        cause = ("container vanished before reporting an exit code (removed, or the Docker "
                 "daemon/host restarted)")
        return cause, None
    if exit_code == 137:
        return ("killed (SIGKILL, exit 137): docker kill, or the host ran out of memory", None)
    if exit_code == 143:
        return "terminated (SIGTERM, exit 143): the container was stopped", None
    exc = _last_exception(lines)
    if exc:
        return f"crashed (exit {exit_code}): {exc[:300]}", exc
    return f"crashed (exit {exit_code}) without an error message in the log", None


def _cancel_cause(exit_code: int | None) -> str:
    if exit_code is None:
        return "cancelled by user (container removed)"
    how = {0: "", 137: " (SIGKILL, exit 137)", 143: " (SIGTERM, exit 143)"}
    return "cancelled by user" + how.get(exit_code, f" (exit {exit_code})")


def _split(log_lines: Sequence[str]) -> tuple[list[str], list[str], list[str]]:
    """(all lines, Cosmos' warning/error records, error text) from the raw log.

    Why: the prompt is echoed in the log (JSON dumps of the arguments, INFO records such as
    `Upsampling prompt 1/1: <text>`), so a prompt that says "CUDA out of memory" or "Saved video
    to" must not decide the outcome. Markers are therefore read only from loguru records at
    WARNING level or above (or by their exact message start), and error patterns only from
    non-record lines (tracebacks, torchrun) and ERROR/CRITICAL records, never from JSON lines.
    """
    lines: list[str] = []
    alerts: list[str] = []
    errors: list[str] = []
    continuation = False  # inside the extra lines of an INFO record (a JSON dump, a prompt)
    owner: int | None = None  # the rank whose record opened the continuation
    for raw in log_lines:
        line = clean_line(raw)
        if not line:
            continue
        lines.append(line)
        rank = strip_rank_prefix(strip_ansi(raw).lstrip("\r"))[1]
        if rank != owner:
            continuation = False  # another rank's output interleaved: not a continuation
        record = parse_loguru(line)
        if record is not None:
            owner = rank
            continuation = record.level not in ("WARNING", "ERROR", "CRITICAL")
            if not continuation:
                alerts.append(line)
                if record.level != "WARNING":
                    errors.append(line)
        elif _NEW_BLOCK.search(line):
            continuation = False
            errors.append(line)
        elif not continuation and not line.startswith('"'):
            errors.append(line)
    return lines, alerts, errors


def _saved_line(lines: Sequence[str]) -> tuple[str, str] | None:
    """(line, path) of the last `Saved video to <path>` record."""
    for line in reversed(lines):
        record = parse_loguru(line)
        if record and record.message.startswith("Saved video to "):
            return line, record.message[len("Saved video to "):].strip()
    return None


def classify_outcome(*, exit_code: int | None, log_lines: Sequence[str], output_exists: bool,
                     killed_by_user: bool = False) -> Outcome:
    """Decide completed / failed / blocked / cancelled for a finished job.

    `exit_code` is the container's (None when it vanished), `log_lines` the run log in order,
    `output_exists` whether the expected mp4 was found, `killed_by_user` whether we stopped it.
    """
    lines, alerts, errors = _split(log_lines)
    saved = _saved_line(lines)
    if exit_code == 0 and saved and output_exists:
        return Outcome(COMPLETED, "completed", _evidence(saved[0]))
    if killed_by_user:
        return Outcome(CANCELLED, _cancel_cause(exit_code), None)
    found = _guardrail(alerts)
    if found:
        return Outcome(BLOCKED, found[0], _evidence(found[1]))
    if exit_code == 0:
        if saved:
            return Outcome(FAILED, f"Cosmos reported saving {saved[1]} but the file is missing",
                           _evidence(saved[0]))
        if output_exists:
            return Outcome(FAILED, "Cosmos exited 0 and a video exists, but the log never says "
                           "'Saved video to' (log incomplete?)", None)
        last = _last_exception(errors) or (lines[-1] if lines else None)
        return Outcome(FAILED, "Cosmos exited 0 but wrote no video",
                       _evidence(last) if last else None)
    for cause in _CAUSES[1:]:
        found = cause(errors)
        if found:
            return Outcome(FAILED, found[0], _evidence(found[1]))
    text, evidence = _by_exit_code(exit_code, errors)
    if evidence is None and text.startswith("crashed") and lines:
        evidence = lines[-1]
    return Outcome(FAILED, text, _evidence(evidence) if evidence else None)
