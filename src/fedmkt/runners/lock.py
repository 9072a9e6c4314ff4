"""One process per run folder: ``.lock``, held with ``flock`` for as long as the run runs.

Two processes writing one folder (a second ``--resume`` of a run still running) would interleave
their logs and overwrite each other's checkpoints. The lock is an advisory ``flock`` on
``<run folder>/.lock``: the kernel drops it when the process ends, however it ends (a SIGKILL
included), so a stale lock never blocks a resume. The file holds the holder's pid, to name it.
The file is never deleted (deleting a lock file lets two processes lock two different files).
Where ``fcntl`` does not exist (Windows) there is no lock.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from fedmkt.errors import FedMKTError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

LOCK = ".lock"


def _open_folder(run_dir: Path) -> int:
    """Create ``run_dir`` if needed and open its lock file; a path that is not a folder is one line."""
    if run_dir.exists() and not run_dir.is_dir():
        raise FedMKTError(f"{run_dir} is a file, not a folder; pass a new or empty folder for the run")
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        return os.open(run_dir / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as error:  # not a disk running full: a path that cannot be a folder, or no permission
        raise FedMKTError(f"cannot use {run_dir} as a run folder: {error.strerror or error}") from None


@contextmanager
def held(run_dir: Path) -> Iterator[None]:
    """Hold ``run_dir``'s lock for the block; refuse in one line if another process holds it."""
    fd = _open_folder(run_dir)
    try:
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
                raise FedMKTError(f"{run_dir} is in use: another fedmkt process (pid {holder}) is running it; wait "
                                  f"for it to end, or stop it, then resume") from None
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        yield
    finally:
        os.close(fd)  # releases the lock
