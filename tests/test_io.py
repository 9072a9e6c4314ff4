"""Atomic writes: old or new content, never half; a failed write is one line naming the file."""

from __future__ import annotations

import errno
import os

import pytest

from fedmkt.errors import FedMKTError
from fedmkt.io import DiskWriteError, append_line, atomic_write_text, truncate_to


def test_a_failed_atomic_write_keeps_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "results.json"
    atomic_write_text(path, "old")

    def full(src, dst):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), src)

    monkeypatch.setattr(os, "replace", full)
    with pytest.raises(FedMKTError) as failed:
        atomic_write_text(path, "new")
    assert isinstance(failed.value, DiskWriteError)
    assert str(failed.value) == f"disk full writing {path}"  # the file meant, not the temporary one
    assert path.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.json"]


def test_other_write_errors_name_the_file_and_the_reason(tmp_path):
    blocker = tmp_path / "plots"
    blocker.write_text("a file where a folder should be")
    with pytest.raises(DiskWriteError, match=rf"^cannot write {blocker}/a\.png: .+$"):
        atomic_write_text(blocker / "a.png", "x")


def test_append_reports_the_length_and_truncate_cuts_back(tmp_path):
    path = tmp_path / "metrics.jsonl"
    first = append_line(path, '{"event": "a"}')
    assert append_line(path, '{"event": "b"}', durable=True) == path.stat().st_size > first
    assert truncate_to(path, first) and path.read_text() == '{"event": "a"}\n'
    assert not truncate_to(path, first + 100)  # never extends a file
