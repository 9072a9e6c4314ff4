"""What a run folder has finished, and where its logs stood then: the run-level half of resume.

Every durable record of finished work (the run's start, a finished phase's ``phases/<id>.json``,
a federated phase's checkpoint manifest) stores a :class:`Watermark`: the byte lengths of
``metrics.jsonl`` and ``comm.jsonl`` when it was written (both fsynced first), and the sha256 of
those first bytes. The logs only grow, so the record with the largest watermark is the newest;
whatever the logs hold beyond it was written by work that did not finish (a killed step, a phase
cut short) and will be redone. :func:`rewind_logs` cuts both files back to it, so a resumed run's
logs hold every event once.

The digests make damage *inside* the counted part visible (a torn or edited line, a file cut
short): resuming then falls back to the newest record whose logs are intact, deletes the records
after it and redoes their work, which ends exactly as a clean run (every step is seeded); when
even the run's opening events are damaged it refuses in one line naming the file. A phase file
also carries the digest of its rows, so a damaged one is refused instead of trusted.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path

from fedmkt.errors import FedMKTError
from fedmkt.io import atomic_write_text, truncate_to, writing
from fedmkt.report.events import scan_jsonl
from fedmkt.report.results import ResultRow
from fedmkt.report.watermark import COMM, METRICS, Watermark, current_watermark, forget

START_RECORD = Path("checkpoints") / "run.json"
PRE_START = frozenset({"config.yaml", METRICS, COMM, "run.json", ".lock"})
"""Files a run writes before its start record: all a run that failed before its first phase leaves."""


def phase_file(run_dir: Path, phase_id: str) -> Path:
    return run_dir / "phases" / f"{phase_id.replace('/', '__')}.json"


def _rows_sha256(rows: list) -> str:
    return hashlib.sha256(json.dumps(rows, sort_keys=True, separators=(",", ":")).encode("utf-8")).hexdigest()


def write_phase(run_dir: Path, phase_id: str, rows: list[ResultRow]) -> None:
    """Record a finished phase: its rows, their digest and the watermark (its ``phase_end`` event included)."""
    data = [asdict(r) for r in rows]
    record = {"phase": phase_id, **asdict(current_watermark(run_dir)), "rows_sha256": _rows_sha256(data),
              "rows": data}
    atomic_write_text(phase_file(run_dir, phase_id), json.dumps(record, indent=2))


def _read_json(path: Path) -> object:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise FedMKTError(f"{path}: unreadable ({' '.join(str(error).split())}); delete it to redo that part "
                          f"of the run") from None


def _phase_rows(path: Path) -> list[ResultRow]:
    """A phase file's rows, checked against their digest; a damaged file raises a one-line FedMKTError."""
    record = _read_json(path)
    rows = record.get("rows") if isinstance(record, dict) else record  # a bare list: before watermarks
    redo = "delete it to redo that phase"
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise FedMKTError(f"{path}: expected a list of result rows; {redo}")
    digest = record.get("rows_sha256") if isinstance(record, dict) else None
    if digest is not None and digest != _rows_sha256(rows):
        raise FedMKTError(f"{path}: its rows do not match the digest written with them (damaged or edited); {redo}")
    try:
        return [ResultRow.from_dict(d) for d in rows]
    except TypeError as error:
        raise FedMKTError(f"{path}: a result row is incomplete ({error}); {redo}") from None


def read_phase(run_dir: Path, phase_id: str) -> list[ResultRow] | None:
    """A finished phase's rows, or None if it has not finished (or is not in this run)."""
    path = phase_file(run_dir, phase_id)
    return _phase_rows(path) if path.is_file() else None


def phase_damage(run_dir: Path) -> list[str]:
    """One line per phase file that cannot be trusted (unreadable, or rows that fail their digest)."""
    problems = []
    for path in sorted((run_dir / "phases").glob("*.json")):
        try:
            _phase_rows(path)
        except FedMKTError as error:
            problems.append(str(error).split("; delete")[0])
    return problems


def mark_start(run_dir: Path) -> None:
    """Record the run's opening events (``run_start``, ``data_split``) as finished, once per run folder."""
    path = run_dir / START_RECORD
    if not path.is_file():
        atomic_write_text(path, json.dumps(asdict(current_watermark(run_dir))))


def _records(run_dir: Path) -> list[tuple[Path, dict, Watermark]]:
    """The run's records that carry a watermark, oldest first."""
    paths = [run_dir / START_RECORD, *sorted((run_dir / "phases").glob("*.json")),
             *sorted((run_dir / "checkpoints").glob("*/manifest.json"))]
    found = []
    for path in paths:
        if path.is_file() and isinstance(record := _read_json(path), dict) and (mark := Watermark.of(record)):
            found.append((path, record, mark))
    return sorted(found, key=lambda item: item[2].key)


def _where(path: Path, start: int, end: int) -> str:
    """What is wrong with ``path`` between byte ``start`` and ``end`` (a part whose digest failed)."""
    data = path.read_bytes() if path.is_file() else b""
    if len(data) < end:
        return f"{path} is {len(data)} bytes, shorter than the {end} already counted (cut short)"
    first, last = data.count(b"\n", 0, start) + 1, data.count(b"\n", 0, max(end - 1, 0)) + 1
    _, damaged = scan_jsonl(path)
    for problem in damaged:
        if first <= int(problem.removeprefix(f"{path}:").split(":")[0]) <= last:
            return problem
    return f"{path} lines {first}-{last} differ from what was counted (edited or corrupted)"


@dataclass
class LogCheck:
    """The logs against the records: the newest record whose logs are intact, and the ones after it."""

    intact: Watermark | None = None
    discard: list[tuple[Path, dict]] = field(default_factory=list)  # records newer than the damage
    damages: list[str] = field(default_factory=list)  # each damaged log's first damage, earliest first

    @property
    def damage(self) -> str | None:
        """The earliest damage, one line (what the recovery works around)."""
        return self.damages[0] if self.damages else None

    @property
    def start_damaged(self) -> bool:
        return any(path.parent.name == "checkpoints" and path.name == "run.json" for path, _ in self.discard)


def check_logs(run_dir: Path) -> LogCheck:
    """Check each record's log digests (records of older fedmkt, with none, count as intact)."""
    records = _records(run_dir)
    check = LogCheck()
    hashes: dict[tuple[str, int], str | None] = {}
    for name, size_field in ((METRICS, "metrics_bytes"), (COMM, "comm_bytes")):
        path = run_dir / name
        data = path.read_bytes() if path.is_file() else b""
        for offset in {getattr(m, size_field) for _, _, m in records}:
            hashes[(name, offset)] = hashlib.sha256(data[:offset]).hexdigest() if offset <= len(data) else None
    first_bad: list[tuple[int, str]] = []  # per log: the first record whose digest of it fails
    for name, size_field, digest_field in ((METRICS, "metrics_bytes", "metrics_sha256"),
                                           (COMM, "comm_bytes", "comm_sha256")):
        start = 0
        for index, (path, _, mark) in enumerate(records):
            end, digest = getattr(mark, size_field), getattr(mark, digest_field)
            if digest is not None and hashes[(name, end)] != digest:
                where = _where(run_dir / name, start, end)
                first_bad.append((index, f"{where}, inside the part {path.relative_to(run_dir)} counts"))
                break
            start = end
    first_bad.sort(key=lambda bad: bad[0])
    intact = first_bad[0][0] if first_bad else len(records)
    check.intact = records[intact - 1][2] if intact else None
    check.discard = [(p, r) for p, r, _ in records[intact:]]
    check.damages = [text for _, text in first_bad]
    return check


def log_damage(run_dir: Path) -> list[str]:
    """One line per log whose part the records count is damaged (empty: none)."""
    try:
        return check_logs(run_dir).damages
    except FedMKTError as error:  # an unreadable record: phase_damage names it
        return [str(error).split("; delete")[0]]


def rewind_logs(run_dir: Path) -> tuple[Watermark | None, str | None]:
    """Cut the logs back to the newest intact record; returns its watermark and a note on any recovery.

    Records whose counted logs are damaged are deleted (a phase file: the phase is redone; a
    checkpoint: its phase restarts from round 1), so the resumed run redoes their work and ends as
    a clean run would. Damage inside the run's opening events cannot be worked around: one-line
    ``FedMKTError``. The watermark is None (nothing cut) when the folder has no record with one:
    killed before its first, or written by an older fedmkt.
    """
    check = check_logs(run_dir)
    note = None
    if check.discard:
        if check.start_damaged or check.intact is None:
            raise FedMKTError(f"{check.damage}: the run's opening events are damaged, so it cannot continue; start "
                              f"it again with `fedmkt run {run_dir / 'config.yaml'} --out <new folder>`")
        redone = []
        for path, record in check.discard:
            if path.name == "manifest.json":
                shutil.rmtree(path.parent, ignore_errors=True)
                redone.append(f"{record.get('phase', path.parent.name)} (from its first round)")
            else:
                path.unlink(missing_ok=True)
                redone.append(str(record.get("phase", path.stem)))
        note = f"{check.damage}: redoing {', '.join(redone)}, whose logged events it held"
    mark = check.intact
    if mark is not None:
        for name, size in ((METRICS, mark.metrics_bytes), (COMM, mark.comm_bytes)):
            truncate_to(run_dir / name, size)
            forget(run_dir / name)
    return mark, note


def leftovers(run_dir: Path) -> list[Path] | None:
    """The files in ``run_dir`` if all of them are what a run leaves before its start record, else None.

    Such a folder (a run that failed before its first phase) may be reused by a fresh run; a suite
    folder qualifies when each experiment subfolder does. A missing or empty folder gives [].
    """
    if not run_dir.is_dir():
        return []
    files = []
    for path in run_dir.rglob("*"):
        parts = path.relative_to(run_dir).parts
        if path.is_dir() and not path.is_symlink():
            if len(parts) > 1:
                return None
            continue
        if path.name not in PRE_START or len(parts) > 2 or path.is_symlink() or parts[0] in ("checkpoints", "phases"):
            return None
        files.append(path)
    return files


def clear_for_fresh_run(run_dir: Path) -> None:
    """Make ``run_dir`` ready for a fresh run: refuse a folder holding other files, delete a failed start's."""
    found = leftovers(run_dir)
    if found is None:
        raise FedMKTError(f"{run_dir} already holds files; pick a new folder or use --resume {run_dir}")
    for path in found:
        if path.name != ".lock":  # held by this process
            with writing(path):
                path.unlink()
            forget(path)
