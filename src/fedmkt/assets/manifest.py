"""The ``fedmkt_asset.json`` manifest that marks an asset folder as complete.

A folder counts as present only if its manifest parses, names the expected asset, and every
file it lists is still there with the listed size. The check is a ``stat`` per file, so
``fedmkt assets list`` and the fast path of ``ensure_model`` stay cheap, yet a folder that was
half deleted or half copied is caught and rebuilt.
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

MANIFEST_NAME = "fedmkt_asset.json"
MANIFEST_FORMAT = 1


def folder_files(folder: Path) -> dict[str, int]:
    """Relative POSIX path -> size in bytes of every regular file under ``folder`` (manifest excluded)."""
    sizes: dict[str, int] = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.name != MANIFEST_NAME:
            sizes[path.relative_to(folder).as_posix()] = path.stat().st_size
    return sizes


def write_manifest(folder: Path, name: str, kind: str, **fields: Any) -> dict[str, Any]:
    """List the files now in ``folder`` and write the manifest last, atomically.

    ``fields`` (source hashes, versions, parameter count, timings...) are stored as given
    and must be JSON-serialisable. Returns the manifest as written.
    """
    manifest: dict[str, Any] = {
        "format": MANIFEST_FORMAT,
        "name": name,
        "kind": kind,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        **fields,
        "files": folder_files(folder),
    }
    tmp = folder / (MANIFEST_NAME + ".tmp")
    tmp.write_text(json.dumps(manifest, indent=2, sort_keys=False) + "\n")
    os.replace(tmp, folder / MANIFEST_NAME)
    return manifest


def read_manifest(folder: Path) -> dict[str, Any] | None:
    """The folder's manifest, or None when it is missing or not valid JSON."""
    try:
        data = json.loads((folder / MANIFEST_NAME).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def is_complete(folder: Path, name: str) -> bool:
    """True when ``folder`` holds a finished build of asset ``name`` (see module docstring)."""
    manifest = read_manifest(folder)
    if manifest is None or manifest.get("format") != MANIFEST_FORMAT or manifest.get("name") != name:
        return False
    files = manifest.get("files")
    if not isinstance(files, dict) or not files:
        return False
    for rel, size in files.items():
        path = folder / rel
        if not path.is_file() or path.stat().st_size != size:
            return False
    return True


def disk_usage(path: Path) -> int:
    """Bytes used by the regular files under ``path`` (0 when it does not exist)."""
    if path.is_file():
        return path.stat().st_size
    if not path.is_dir():
        return 0
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())
