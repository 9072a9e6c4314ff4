"""Pin checks: a file is refused in one line naming the asset; a manifest must record the pins."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from fedmkt.assets.pins import check_pin, recorded_pins_match, sha256_file
from fedmkt.errors import FedMKTError


def test_sha256_file_reads_files_larger_than_one_block(tmp_path: Path) -> None:
    data = bytes(range(256)) * 5000  # 1.2 MiB: more than one read
    path = tmp_path / "blob"
    path.write_bytes(data)
    assert sha256_file(path) == hashlib.sha256(data).hexdigest()


def test_check_pin_returns_the_digest_or_refuses_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "pkg-1.0-py3-none-any.whl"
    path.write_bytes(b"the real wheel")
    real = hashlib.sha256(b"the real wheel").hexdigest()
    assert check_pin("demo", path, real) == real
    assert check_pin("demo", path, None) == real  # unpinned: recorded, not refused
    path.write_bytes(b"a swapped wheel")
    found = hashlib.sha256(b"a swapped wheel").hexdigest()
    with pytest.raises(FedMKTError) as caught:
        check_pin("demo", path, real, advice=f"delete {path}")
    assert str(caught.value) == (
        f"asset demo: {path.name} has SHA-256 {found[:12]}..., expected {real[:12]}... "
        f"(pinned in fedmkt.assets.registry); refusing to use it; delete {path}"
    )


def test_recorded_pins_match_needs_every_pin_in_order() -> None:
    manifest = {"archives": [{"sha256": "a" * 64}, {"sha256": "b" * 64}], "gguf": {"sha256": "c" * 64}}
    assert recorded_pins_match(manifest, ["a" * 64, "b" * 64], "c" * 64)
    assert recorded_pins_match(manifest, ["a" * 64, None], None)  # an unpinned archive matches what was recorded
    assert not recorded_pins_match(manifest, ["b" * 64, "a" * 64], "c" * 64)  # order matters
    assert not recorded_pins_match(manifest, ["a" * 64, "b" * 64], "d" * 64)
    assert not recorded_pins_match(manifest, ["a" * 64], None)
    assert not recorded_pins_match({"archives": [{"file": "x.whl"}]}, [None], None)  # no digest recorded
    assert not recorded_pins_match({}, [], None) and not recorded_pins_match({"archives": []}, [], "c" * 64)
