from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from fedmkt.assets.download import (
    ensure_archives,
    find_archive,
    parse_requirement,
    pip_download,
    verify_archive,
    verify_sdist,
    verify_wheel,
)
from fedmkt.errors import FedMKTError

from .tiny_assets import write_sdist, write_wheel

FILES = {"demo_pkg/__init__.py": b"X = 1\n", "demo_pkg/data/blob.bin": bytes(range(256)) * 64}


def test_find_archive_matches_name_and_version(tmp_path: Path) -> None:
    write_wheel(tmp_path, "demo-pkg", "1.0.0", FILES)
    write_wheel(tmp_path, "demo-pkg-part1", "1.0.0", FILES)
    write_sdist(tmp_path, "other", "2.0", {"other/x.txt": b"x"})
    assert find_archive(tmp_path, "demo-pkg==1.0.0").name == "demo_pkg-1.0.0-py3-none-any.whl"
    assert find_archive(tmp_path, "Demo_Pkg_Part1==1.0.0").name.startswith("demo_pkg_part1-")
    assert find_archive(tmp_path, "other==2.0").name == "other-2.0.tar.gz"
    assert find_archive(tmp_path, "demo-pkg==2.0.0") is None
    assert find_archive(tmp_path / "absent", "demo-pkg") is None


def test_bad_requirement_is_one_clear_error() -> None:
    with pytest.raises(FedMKTError, match="not a valid pip requirement"):
        parse_requirement("demo pkg ==")


def test_wheel_with_true_record_passes(tmp_path: Path) -> None:
    verify_wheel(write_wheel(tmp_path, "demo-pkg", "1.0.0", FILES))


def test_wheel_whose_file_does_not_match_record_fails(tmp_path: Path) -> None:
    wheel = write_wheel(tmp_path, "demo-pkg", "1.0.0", FILES, wrong_hash_for="demo_pkg/data/blob.bin")
    with pytest.raises(FedMKTError, match="demo_pkg/data/blob.bin does not match the SHA-256"):
        verify_wheel(wheel)


def test_truncated_archives_fail(tmp_path: Path) -> None:
    wheel = write_wheel(tmp_path, "demo-pkg", "1.0.0", FILES)
    wheel.write_bytes(wheel.read_bytes()[:200])
    with pytest.raises(FedMKTError, match="damaged"):
        verify_archive(wheel)
    sdist = write_sdist(tmp_path, "demo", "1.0", {"demo/a.txt": b"a" * 50_000})
    sdist.write_bytes(sdist.read_bytes()[:-40])
    with pytest.raises(FedMKTError, match="damaged"):
        verify_sdist(sdist)


def test_wheel_without_record_fails(tmp_path: Path) -> None:
    path = tmp_path / "demo_pkg-1.0.0-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("demo_pkg/__init__.py", "")
    with pytest.raises(FedMKTError, match="expected one .*RECORD, found 0"):
        verify_wheel(path)


def test_ensure_archives_downloads_with_pip_then_reuses(index: Path, tmp_path: Path) -> None:
    write_wheel(index, "demo-pkg", "1.0.0", FILES)
    dest = tmp_path / "downloads"
    (wheel,) = ensure_archives(["demo-pkg==1.0.0"], dest)
    assert wheel.parent == dest and wheel.is_file()
    (index / wheel.name).unlink()  # pip could no longer find it: a second call must not need pip
    assert ensure_archives(["demo-pkg==1.0.0"], dest) == [wheel]


def test_ensure_archives_replaces_a_damaged_download(index: Path, tmp_path: Path) -> None:
    write_wheel(index, "demo-pkg", "1.0.0", FILES)
    dest = tmp_path / "downloads"
    (wheel,) = ensure_archives(["demo-pkg==1.0.0"], dest)
    wheel.write_bytes(b"not a zip")
    (again,) = ensure_archives(["demo-pkg==1.0.0"], dest)
    verify_wheel(again)


def test_ensure_archives_downloads_sdists(
    index: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # pip runs the sdist's setup.py for its metadata; with no index it must use this venv's setuptools
    # (pip reads PIP_NO_BUILD_ISOLATION=0 as --no-build-isolation).
    monkeypatch.setenv("PIP_NO_BUILD_ISOLATION", "0")
    setup = b"from setuptools import setup\nsetup(name='demo', version='1.0', packages=[])\n"
    write_sdist(index, "demo", "1.0", {"demo/a.txt": b"a", "setup.py": setup})
    (sdist,) = ensure_archives(["demo==1.0"], tmp_path / "dl", sdist=True)
    assert sdist.name == "demo-1.0.tar.gz"


def test_pip_failure_is_one_line_naming_the_requirement(home: Path, tmp_path: Path) -> None:
    with pytest.raises(
        FedMKTError, match=r"pip download demo-missing==9\.9 failed \(exit 1\): .*demo-missing"
    ):
        pip_download(["demo-missing==9.9"], tmp_path / "dl")
