"""Where the run's logs stand: their byte lengths and the sha256 of those bytes (a :class:`Watermark`).

Every durable record of finished work stores one (``report.journal``); the logs only grow, so
the newest record has the largest, and the digests show damage inside the counted part. Hashing
continues from the last prefix hashed, so a watermark reads only the bytes written since.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fedmkt.io import writing

METRICS = "metrics.jsonl"
COMM = "comm.jsonl"


@dataclass(frozen=True)
class Watermark:
    """Byte lengths (and sha256 of those bytes) of ``metrics.jsonl`` and ``comm.jsonl`` between steps."""

    metrics_bytes: int = 0
    comm_bytes: int = 0
    metrics_sha256: str | None = None  # None: a record of an older fedmkt, which kept lengths only
    comm_sha256: str | None = None

    @classmethod
    def of(cls, record: dict) -> Watermark | None:
        """The watermark stored in a JSON record, or None if it has none (older run folders)."""
        try:
            digests = [record.get(k) for k in ("metrics_sha256", "comm_sha256")]
            return cls(int(record["metrics_bytes"]), int(record["comm_bytes"]),
                       *(d if isinstance(d, str) else None for d in digests))
        except (KeyError, TypeError, ValueError):
            return None

    @property
    def key(self) -> tuple[int, int]:
        """Orders records oldest first (the logs only grow)."""
        return self.metrics_bytes, self.comm_bytes


_hashed: dict[Path, tuple[tuple[int, int], int, Any]] = {}
"""path -> ((device, inode), bytes hashed, sha256 state): so each watermark hashes only the new bytes."""


def _prefix_sha256(path: Path, size: int) -> str:
    """sha256 of ``path``'s first ``size`` bytes, continuing from the last prefix hashed if the file only grew."""
    stat = os.stat(path)
    cached = _hashed.get(path)
    if cached is not None and cached[0] == (stat.st_dev, stat.st_ino) and cached[1] <= size <= stat.st_size:
        start, digest = cached[1], cached[2].copy()
    else:
        start, digest = 0, hashlib.sha256()
    with path.open("rb") as handle:
        handle.seek(start)
        remaining = size - start
        while remaining > 0:
            chunk = handle.read(min(remaining, 1 << 20))
            if not chunk:
                raise OSError(f"{path} is shorter than {size} bytes")
            digest.update(chunk)
            remaining -= len(chunk)
    _hashed[path] = ((stat.st_dev, stat.st_ino), size, digest.copy())
    return digest.hexdigest()


def forget(path: Path) -> None:
    """Drop the cached hash of ``path``: call it after cutting or deleting the file."""
    _hashed.pop(path, None)


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
    """The logs' lengths and digests now (fsynced): call it when the work logged so far is complete."""
    metrics, comm = run_dir / METRICS, run_dir / COMM
    sizes = _size_synced(metrics), _size_synced(comm)
    with writing(metrics):
        digests = [_prefix_sha256(p, n) if p.is_file() else hashlib.sha256().hexdigest()
                   for p, n in ((metrics, sizes[0]), (comm, sizes[1]))]
    return Watermark(*sizes, *digests)
