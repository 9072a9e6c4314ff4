from __future__ import annotations

import json
from pathlib import Path

from fedmkt.assets.manifest import (
    MANIFEST_NAME,
    disk_usage,
    folder_files,
    is_complete,
    read_manifest,
    write_manifest,
)


def _folder(tmp_path: Path) -> Path:
    folder = tmp_path / "asset"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.bin").write_bytes(b"x" * 10)
    (folder / "sub" / "b.txt").write_text("hello")
    return folder


def test_written_manifest_lists_files_and_marks_folder_complete(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    manifest = write_manifest(folder, "demo", "data", parameters=7)
    assert manifest["files"] == {"a.bin": 10, "sub/b.txt": 5}
    assert read_manifest(folder) == manifest
    assert json.loads((folder / MANIFEST_NAME).read_text())["parameters"] == 7
    assert is_complete(folder, "demo")
    assert not (folder / (MANIFEST_NAME + ".tmp")).exists()


def test_folder_without_valid_manifest_is_incomplete(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    assert not is_complete(folder, "demo")
    (folder / MANIFEST_NAME).write_text("{ half written")
    assert read_manifest(folder) is None
    assert not is_complete(folder, "demo")
    assert not is_complete(tmp_path / "missing", "demo")


def test_manifest_of_another_asset_does_not_count(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    write_manifest(folder, "other", "data")
    assert not is_complete(folder, "demo")


def test_deleted_or_truncated_file_makes_folder_incomplete(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    write_manifest(folder, "demo", "data")
    (folder / "a.bin").write_bytes(b"x" * 3)
    assert not is_complete(folder, "demo")
    (folder / "a.bin").write_bytes(b"x" * 10)
    assert is_complete(folder, "demo")
    (folder / "sub" / "b.txt").unlink()
    assert not is_complete(folder, "demo")


def test_folder_files_skips_manifest_and_disk_usage_counts_everything(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    write_manifest(folder, "demo", "data")
    assert set(folder_files(folder)) == {"a.bin", "sub/b.txt"}
    assert disk_usage(folder) == 15 + (folder / MANIFEST_NAME).stat().st_size
    assert disk_usage(tmp_path / "missing") == 0
