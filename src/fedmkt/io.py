"""Crash-safe file writes: a reader sees the old file or the new one, never half of one.

A write that fails (a full disk above all) raises :class:`DiskWriteError`, a one-line
``FedMKTError`` naming the file, instead of a bare ``OSError`` traceback; the runner adds how to
resume. ``fsync`` on the file and on its folder makes a finished write survive a power cut, not
only a killed process: a checkpoint manifest must never point at data still in a page cache.
"""

from __future__ import annotations

import errno
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from fedmkt.errors import FedMKTError

_FULL = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}


class DiskWriteError(FedMKTError):
    """Writing ``path`` failed: ``disk full writing <path>`` or ``cannot write <path>: <reason>``."""

    def __init__(self, path: Path | str, error: OSError) -> None:
        self.path = Path(path)
        self.code = error.errno
        if error.errno in _FULL:
            text = f"disk full writing {path}"
        else:
            text = f"cannot write {path}: {error.strerror or error}"
        super().__init__(" ".join(text.split()))


@contextmanager
def writing(path: Path | str) -> Iterator[None]:
    """Turn any ``OSError`` raised inside the block into a :class:`DiskWriteError` for ``path``.

    ``path`` is what the caller set out to write (not a temporary sibling the error may name).
    """
    try:
        yield
    except DiskWriteError:
        raise
    except OSError as error:
        raise DiskWriteError(path, error) from error


def fsync_dir(folder: Path) -> None:
    """Make the folder's entries (a rename, a new file) durable; a no-op where folders cannot be opened."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # e.g. Windows
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems refuse fsync on folders; the rename itself is still atomic
    finally:
        os.close(fd)


def fsync_file(path: Path) -> None:
    """Flush ``path``'s data to disk (files written by other libraries, e.g. peft's ``save_pretrained``)."""
    with writing(path):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def fsync_tree(folder: Path) -> None:
    """:func:`fsync_file` every file under ``folder``, then each folder, deepest first."""
    for path in sorted(folder.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        if path.is_file():
            fsync_file(path)
        elif path.is_dir():
            fsync_dir(path)
    fsync_dir(folder)
    fsync_dir(folder.parent)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write to a temporary sibling, fsync it, rename it over ``path``, fsync the folder.

    Raises :class:`DiskWriteError` if any of it fails; ``path`` then still holds its old content.
    """
    with writing(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        fsync_dir(path.parent)


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def append_line(path: Path, line: str, *, durable: bool = False) -> int:
    """Append ``line`` + newline to ``path`` and flush; returns the file's new length in bytes.

    ``durable`` also fsyncs. A failed write raises :class:`DiskWriteError` (a torn last line can
    be left behind: resuming cuts the log back to the last checkpoint, see ``truncate_to``).
    """
    with writing(path), path.open("ab") as handle:
        handle.write(line.encode("utf-8") + b"\n")
        handle.flush()
        if durable:
            os.fsync(handle.fileno())
        return handle.tell()


def truncate_to(path: Path, size: int) -> bool:
    """Cut ``path`` back to ``size`` bytes if it is longer (a no-op otherwise); True if it was cut."""
    if not path.is_file() or path.stat().st_size <= size:
        return False
    with writing(path), path.open("r+b") as handle:
        handle.truncate(size)
        handle.flush()
        os.fsync(handle.fileno())
    return True
