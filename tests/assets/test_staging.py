from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from fedmkt.assets.registry import locks_dir
from fedmkt.assets.staging import asset_lock, partial_path, staged_folder

_TRY_LOCK = """
import fcntl, sys
with open(sys.argv[1], "w") as handle:
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        sys.exit(3)
"""


def _other_process_can_lock(path: Path) -> bool:
    return subprocess.run([sys.executable, "-c", _TRY_LOCK, str(path)]).returncode == 0


def test_staged_folder_appears_only_when_block_finishes(tmp_path: Path) -> None:
    final = tmp_path / "models" / "demo"
    with staged_folder(final) as tmp:
        assert tmp == partial_path(final) and tmp.is_dir()
        (tmp / "w.bin").write_bytes(b"1")
        assert not final.exists()
    assert (final / "w.bin").read_bytes() == b"1"
    assert not partial_path(final).exists()


def test_staged_folder_replaces_old_build_and_removes_stale_partial(tmp_path: Path) -> None:
    final = tmp_path / "demo"
    (final / "old").mkdir(parents=True)
    stale = partial_path(final)
    stale.mkdir()
    (stale / "junk").write_text("from a killed run")
    with staged_folder(final) as tmp:
        assert list(tmp.iterdir()) == []
        (tmp / "new").write_text("ok")
    assert sorted(p.name for p in final.iterdir()) == ["new"]


def test_failed_build_leaves_previous_folder_and_no_partial(tmp_path: Path) -> None:
    final = tmp_path / "demo"
    final.mkdir()
    (final / "keep").write_text("previous")
    with pytest.raises(RuntimeError), staged_folder(final) as tmp:
        (tmp / "half").write_text("x")
        raise RuntimeError("conversion failed")
    assert (final / "keep").read_text() == "previous"
    assert not partial_path(final).exists()


def test_asset_lock_excludes_other_processes_until_released(home: Path) -> None:
    lock_file = locks_dir() / "demo.lock"
    with asset_lock("demo"):
        assert lock_file.exists()
        assert not _other_process_can_lock(lock_file)
    assert _other_process_can_lock(lock_file)


def test_replaced_folder_leaves_no_old_sibling(tmp_path: Path) -> None:
    final = tmp_path / "demo"
    final.mkdir()
    (final / "v1").write_text("1")
    old = tmp_path / ".demo.old"
    old.mkdir()  # left by a run killed between the two renames
    with staged_folder(final) as tmp:
        (tmp / "v2").write_text("2")
    assert [p.name for p in final.iterdir()] == ["v2"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo"]
