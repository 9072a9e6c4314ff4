"""Build an asset folder so that it appears complete or not at all.

Two helpers:
- ``asset_lock(name)``: an exclusive ``flock`` per asset, so two processes (a CLI fetch and a
  test run, say) never build the same folder at once. The OS drops the lock when a process
  dies, so a killed run never leaves a stale lock behind.
- ``staged_folder(final)``: yields an empty temporary sibling ``.<name>.partial``; on a clean
  exit it takes the place of ``final`` by renames only (an old ``final`` is moved aside to
  ``.<name>.old`` first and deleted after), so readers never see a half-deleted folder.
  Siblings left by a killed run are removed first; holding the asset lock makes that safe.
"""

from __future__ import annotations

import fcntl
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from fedmkt.assets.registry import locks_dir


@contextmanager
def asset_lock(name: str) -> Iterator[None]:
    """Hold ``$FEDMKT_HOME/locks/<name>.lock`` exclusively (blocks while another process builds)."""
    folder = locks_dir()
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / f"{name}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def partial_path(final: Path) -> Path:
    """The temporary sibling that ``staged_folder`` builds in."""
    return final.with_name(f".{final.name}.partial")


def remove_tree(path: Path) -> None:
    """Remove a file or folder if it exists."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


@contextmanager
def staged_folder(final: Path) -> Iterator[Path]:
    """Yield an empty temporary folder that becomes ``final`` when the block exits cleanly.

    Call with the asset lock held. On an exception the temporary folder is removed and
    ``final`` is left as it was.
    """
    tmp = partial_path(final)
    old = final.with_name(f".{final.name}.old")
    remove_tree(tmp)  # left over from a killed run
    remove_tree(old)
    tmp.mkdir(parents=True)
    try:
        yield tmp
    except BaseException:
        remove_tree(tmp)
        raise
    if final.exists() or final.is_symlink():  # an incomplete or outdated build
        os.replace(final, old)
    os.replace(tmp, final)
    remove_tree(old)
