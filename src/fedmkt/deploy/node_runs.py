"""The run state folders a SuperNode keeps in its cache, listed and pruned.

A node keeps each run's client state under ``<cache>/runs/<run key>/<client>/`` (adapters, the
last upload's losses, its event log: see :mod:`fedmkt.deploy.flower.node`) so that a stopped
server can resume the run. A node cannot tell a finished run from a paused one (only the server
knows), so pruning goes by age: a run whose files have not changed for a while is stale. The
newest runs are always kept, and ``<cache>/alignment/`` (the vocabulary maps, shared by every
run) is never touched.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from fedmkt.errors import FedMKTError


@dataclass(frozen=True)
class NodeRun:
    """One run's state folder on a node."""

    key: str
    path: Path
    last_change: datetime
    size_bytes: int
    clients: tuple[str, ...]


def run_state_folder(cache: Path, run_key: str, client: str) -> Path:
    """Where a node keeps one client's state for one run."""
    return cache / "runs" / run_key / client


def _files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()]


def node_runs(cache: Path) -> list[NodeRun]:
    """The run folders under ``cache/runs``, newest change first (an empty list when there are none)."""
    if not cache.is_dir():
        raise FedMKTError(f"{cache}: no such node cache folder (the SuperNode's `cache` node-config key)")
    root = cache / "runs"
    if not root.is_dir():
        return []
    runs = []
    for folder in (p for p in root.iterdir() if p.is_dir()):
        files = _files(folder)
        newest = max((f.stat().st_mtime for f in files), default=folder.stat().st_mtime)
        runs.append(NodeRun(
            key=folder.name,
            path=folder,
            last_change=datetime.fromtimestamp(newest, timezone.utc),
            size_bytes=sum(f.stat().st_size for f in files),
            clients=tuple(sorted(p.name for p in folder.iterdir() if p.is_dir())),
        ))
    return sorted(runs, key=lambda run: run.last_change, reverse=True)


def stale_runs(runs: list[NodeRun], older_than: timedelta, keep: int, now: datetime | None = None) -> list[NodeRun]:
    """The runs unchanged for longer than ``older_than``, the ``keep`` newest excepted.

    ``runs`` must be newest first, as :func:`node_runs` returns them.
    """
    if keep < 0:
        raise FedMKTError(f"keep: expected 0 or more runs to keep, got {keep}")
    now = now or datetime.now(timezone.utc)
    return [run for run in runs[keep:] if now - run.last_change > older_than]


def remove_runs(runs: list[NodeRun]) -> int:
    """Delete the runs' folders; returns the bytes freed."""
    for run in runs:
        shutil.rmtree(run.path)
    return sum(run.size_bytes for run in runs)
