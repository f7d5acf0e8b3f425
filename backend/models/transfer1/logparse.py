"""Cosmos-Transfer1's log lines are loguru records: the shared rules (backend/models/loguru.py)."""

from backend.models.loguru import (_ANSI, _BAR, _FRAMES, _LOGURU, _RANK_PREFIX,  # noqa: F401
                                   LogRecord, _log_seconds, _tail_prefix, clean_line,
                                   parse_bar, parse_loguru, strip_ansi, strip_rank_prefix)
