"""``metrics.jsonl``: one JSON line per event of a run (phase start/end, train step, eval).

Append-only and flushed per line, so a killed run keeps every event it finished. Events written
after a run's last checkpoint belong to unfinished work: ``fedmkt run --resume`` cuts the file
back to the length the checkpoint recorded (:meth:`EventLog.truncate`) before redoing it, so no
event appears twice.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from fedmkt.io import append_line, truncate_to


class EventLog:
    """Appends timestamped events to a JSON-lines file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)

    def write(self, event: str, **fields: Any) -> None:
        record = {"time": round(time.time(), 3), "event": event, **fields}
        append_line(self.path, json.dumps(record, default=str))

    def size(self) -> int:
        """Bytes in the file now (0 before the first event): a checkpoint's watermark."""
        return self.path.stat().st_size if self.path.exists() else 0

    def truncate(self, size: int) -> bool:
        """Drop everything after byte ``size`` (events of an unfinished step); True if any was dropped."""
        return truncate_to(self.path, size)

    def read(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text(encoding="utf-8").splitlines() if line]
