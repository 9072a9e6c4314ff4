"""``metrics.jsonl``: one JSON line per event of a run (phase start/end, train step, eval).

Append-only and flushed per line, so a killed run keeps every event it finished. Events written
after a run's last checkpoint belong to unfinished work: ``fedmkt run --resume`` cuts the file
back to the length the checkpoint recorded (:meth:`EventLog.truncate`) before redoing it, so no
event appears twice.

A damaged line (a torn write, a disk error, a hand edit) is never a ``JSONDecodeError``
traceback: :func:`read_jsonl` names the file and line in one ``FedMKTError``, and
:func:`scan_jsonl` reads what is readable and lists the damaged lines (``fedmkt report``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from fedmkt.errors import FedMKTError
from fedmkt.io import append_line, truncate_to


def _parse(line: bytes) -> dict[str, Any] | str:
    """The JSON object on ``line``, or why it is not one."""
    try:
        record = json.loads(line.decode("utf-8"))
    except UnicodeDecodeError as error:
        return f"not UTF-8 text (byte {error.start})"
    except ValueError as error:
        return f"not a JSON line ({str(error).split(':')[0]})"
    return record if isinstance(record, dict) else f"a JSON {type(record).__name__}, not an object"


def scan_jsonl(path: Path) -> tuple[list[dict[str, Any]], list[str]]:
    """Every readable record of a JSON-lines file, and ``"<path>:<line>: <what is wrong>"`` for each damaged line."""
    if not path.is_file():
        return [], []
    records: list[dict[str, Any]] = []
    damaged: list[str] = []
    for number, line in enumerate(path.read_bytes().split(b"\n"), start=1):
        if not line.strip():
            continue
        parsed = _parse(line)
        if isinstance(parsed, str):
            damaged.append(f"{path}:{number}: {parsed}")
        else:
            records.append(parsed)
    return records, damaged


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Every record of a JSON-lines file; a damaged line raises a one-line ``FedMKTError`` naming it."""
    records, damaged = scan_jsonl(path)
    if damaged:
        more = f" (and {len(damaged) - 1} more damaged lines)" if len(damaged) > 1 else ""
        raise FedMKTError(f"{damaged[0]}{more}; the file is damaged")
    return records


Sink = Callable[[dict[str, Any]], None]
"""Called with each event's record once its line is written (``fedmkt.tracking`` feeds trackers so)."""


class EventLog:
    """Appends timestamped events to a JSON-lines file, and hands each to the ``sinks``.

    A sink sees an event only after its line is in the file, so what a tracker shows is always
    in the log too; a sink that must see the earlier events (a resumed run) reads them from the file.
    """

    def __init__(self, path: Path, sinks: Sequence[Sink] = ()) -> None:
        self.path = path
        self.sinks: list[Sink] = list(sinks)
        path.parent.mkdir(parents=True, exist_ok=True)

    def write(self, event: str, **fields: Any) -> None:
        record = {"time": round(time.time(), 3), "event": event, **fields}
        line = json.dumps(record, default=str)
        append_line(self.path, line)
        for sink in self.sinks:
            sink(json.loads(line))  # what the file holds: values as JSON wrote them

    def size(self) -> int:
        """Bytes in the file now (0 before the first event): a checkpoint's watermark."""
        return self.path.stat().st_size if self.path.exists() else 0

    def truncate(self, size: int) -> bool:
        """Drop everything after byte ``size`` (events of an unfinished step); True if any was dropped."""
        return truncate_to(self.path, size)

    def read(self) -> list[dict[str, Any]]:
        """Every event; a damaged line raises a one-line ``FedMKTError`` naming ``metrics.jsonl:<line>``."""
        return read_jsonl(self.path)
