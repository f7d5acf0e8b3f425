"""Log lines of runs: stored with the remote byte offset after them, read by sequence number."""

from __future__ import annotations

import json
import time
from typing import Any, Sequence

from backend.events.types import LogAppended, ProgressMoved
from backend.store.models import LogLine, Run


class LogStore:
    """A mixin of Store (needs `writing` and `emit`)."""

    def append_log(self, run_id: str, lines: Sequence[tuple[int, str]], new_offset: int,
                   progress: dict[str, Any] | None = None, *,
                   expect_offset: int | None = None) -> bool:
        """Store complete log lines and the byte offset after them in one transaction.

        Storing both together is what makes following resumable: after any crash the stored
        offset points exactly past the last stored line, so nothing is lost or doubled.
        `expect_offset` is where these lines begin: if the stored offset is elsewhere (another
        follower stored them first), nothing is stored and False is returned.
        """
        with self.writing():
            run = (Run.select(Run.log_lines, Run.progress, Run.log_offset)
                   .where(Run.id == run_id).first())
            if run is None or (expect_offset is not None and run.log_offset != expect_offset):
                return False
            seq = run.log_lines
            if lines:
                LogLine.insert_many(
                    [{"run": run_id, "seq": seq + i, "offset": off, "text": text}
                     for i, (off, text) in enumerate(lines)]
                ).execute()
            fields: dict[str, Any] = {"log_offset": new_offset, "log_lines": seq + len(lines),
                                      "updated_at": time.time()}
            progress_text = json.dumps(progress) if progress is not None else None
            if progress_text is not None:
                fields["progress"] = progress_text
            Run.update(**fields).where(Run.id == run_id).execute()
            if lines:
                self.emit(LogAppended(run_id, first_seq=seq, count=len(lines)))
            if progress_text is not None and progress_text != run.progress:
                self.emit(ProgressMoved(run_id, progress=progress))
        return True

    def log_since(self, run_id: str, after_seq: int = -1, limit: int = 5000) -> list[LogLine]:
        return list(LogLine.select().where((LogLine.run == run_id) & (LogLine.seq > after_seq))
                    .order_by(LogLine.seq).limit(limit))

    def log_text(self, run_id: str) -> list[str]:
        return [row.text for row in LogLine.select(LogLine.text).where(LogLine.run == run_id)
                .order_by(LogLine.seq)]
