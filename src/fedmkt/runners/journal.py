"""What a run folder has finished, and where its logs stood then: the run-level half of resume.

Every durable record of finished work (the run's start, a finished phase's ``phases/<id>.json``,
a federated phase's checkpoint manifest) stores a :class:`Watermark`: the byte lengths of
``metrics.jsonl`` and ``comm.jsonl`` when it was written, both fsynced first. The logs only
grow, so the record with the largest watermark is the newest; whatever the logs hold beyond it
was written by work that did not finish (a killed step, a phase cut short) and will be redone.
:func:`rewind_logs` cuts both files back to it, so a resumed run's logs hold every event once.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from fedmkt.errors import FedMKTError
from fedmkt.io import atomic_write_text, truncate_to, writing
from fedmkt.report.results import ResultRow

METRICS = "metrics.jsonl"
COMM = "comm.jsonl"
START_RECORD = Path("checkpoints") / "run.json"


@dataclass(frozen=True, order=True)
class Watermark:
    """Byte lengths of ``metrics.jsonl`` and ``comm.jsonl`` at a moment when no step was half done."""

    metrics_bytes: int = 0
    comm_bytes: int = 0

    @classmethod
    def of(cls, record: dict) -> Watermark | None:
        """The watermark stored in a JSON record, or None if it has none (older run folders)."""
        try:
            return cls(int(record["metrics_bytes"]), int(record["comm_bytes"]))
        except (KeyError, TypeError, ValueError):
            return None


def _size_synced(path: Path) -> int:
    """``path``'s length after fsyncing it, so a recorded length never exceeds what is on disk."""
    if not path.is_file():
        return 0
    with writing(path):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
            return os.fstat(fd).st_size
        finally:
            os.close(fd)


def current_watermark(run_dir: Path) -> Watermark:
    """The logs' lengths now (fsynced): call it when the work logged so far is complete."""
    return Watermark(_size_synced(run_dir / METRICS), _size_synced(run_dir / COMM))


def phase_file(run_dir: Path, phase_id: str) -> Path:
    return run_dir / "phases" / f"{phase_id.replace('/', '__')}.json"


def write_phase(run_dir: Path, phase_id: str, rows: list[ResultRow]) -> None:
    """Record a finished phase: its rows and the watermark (its ``phase_end`` event included)."""
    record = {"phase": phase_id, **asdict(current_watermark(run_dir)), "rows": [asdict(r) for r in rows]}
    atomic_write_text(phase_file(run_dir, phase_id), json.dumps(record, indent=2))


def _read_json(path: Path) -> object:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise FedMKTError(f"{path}: unreadable ({error}); delete it to redo that part of the run") from None


def read_phase(run_dir: Path, phase_id: str) -> list[ResultRow] | None:
    """A finished phase's rows, or None if it has not finished (or is not in this run)."""
    path = phase_file(run_dir, phase_id)
    if not path.is_file():
        return None
    record = _read_json(path)
    rows = record["rows"] if isinstance(record, dict) else record  # a bare list: run folders before watermarks
    if not isinstance(rows, list):
        raise FedMKTError(f"{path}: expected a list of result rows; delete it to redo that phase")
    return [ResultRow.from_dict(d) for d in rows]


def mark_start(run_dir: Path) -> None:
    """Record the run's opening events (``run_start``, ``data_split``) as finished, once per run folder."""
    path = run_dir / START_RECORD
    if not path.is_file():
        atomic_write_text(path, json.dumps(asdict(current_watermark(run_dir))))


def latest_watermark(run_dir: Path) -> Watermark | None:
    """The newest watermark among the run's records (start, finished phases, phase checkpoints)."""
    paths = [run_dir / START_RECORD, *sorted((run_dir / "phases").glob("*.json")),
             *sorted((run_dir / "checkpoints").glob("*/manifest.json"))]
    marks = [Watermark.of(record) for p in paths if p.is_file() and isinstance(record := _read_json(p), dict)]
    return max((m for m in marks if m is not None), default=None)


def rewind_logs(run_dir: Path) -> Watermark | None:
    """Cut ``metrics.jsonl`` and ``comm.jsonl`` back to the newest record; returns its watermark.

    None (nothing cut) when the folder has no record with a watermark: killed before its first
    one, or written by an older fedmkt.
    """
    mark = latest_watermark(run_dir)
    if mark is not None:
        truncate_to(run_dir / METRICS, mark.metrics_bytes)
        truncate_to(run_dir / COMM, mark.comm_bytes)
    return mark
