"""On-disk cache of vocabulary maps (paper: MinED maps are built once per tokenizer pair).

A map depends only on the two vocabularies and on how surfaces are normalised, so its key is
a hash of both tokenizers' surfaces plus ``NORMALISATION_VERSION``: renaming a model folder
keeps the cache, changing a vocabulary or the normalisation rebuilds it. Files are written to
a temporary name and renamed, so a crashed or concurrent writer never leaves a torn file. The
folder comes from the caller (the drivers' default is ``fedmkt.setup.roles.default_alignment_cache``).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

import numpy as np

from fedmkt.core.alignment.markers import NORMALISATION_VERSION, TokenSurfaces
from fedmkt.core.alignment.vocab_map import VocabMap, build_vocab_map
from fedmkt.errors import FedMKTError


def vocab_map_key(source: TokenSurfaces, target: TokenSurfaces) -> str:
    """Cache key of the ``source -> target`` map (order matters: the map is not symmetric)."""
    text = f"v{NORMALISATION_VERSION}:{source.digest}->{target.digest}"
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def atomic_save_npz(path: Path, **arrays: np.ndarray) -> None:
    """Write ``arrays`` to ``path`` (.npz) through a temporary file in the same folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            np.savez(handle, **arrays)  # type: ignore[arg-type]  # numpy's stub types **kwds as allow_pickle
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_vocab_map(path: Path, key: str | None = None) -> VocabMap:
    """Read a map written by ``save_vocab_map``; ``key`` (if given) must match the stored key."""
    try:
        with np.load(path, allow_pickle=False) as data:
            stored = str(data["key"])
            if key is not None and stored != key:
                raise FedMKTError(f"{path}: vocabulary map key {stored} does not match expected {key}")
            return VocabMap(
                data["target_ids"], data["distance"], data["kind"], int(data["target_size"]), stored
            )
    except (OSError, KeyError, ValueError) as err:
        raise FedMKTError(f"{path}: not a readable vocabulary map ({err})") from err


def save_vocab_map(path: Path, vocab_map: VocabMap) -> None:
    atomic_save_npz(
        path,
        target_ids=vocab_map.target_ids,
        distance=vocab_map.distance,
        kind=vocab_map.kind,
        target_size=np.int64(vocab_map.target_size),
        key=np.str_(vocab_map.key),
    )


def cached_vocab_map(
    source: TokenSurfaces,
    target: TokenSurfaces,
    directory: Path,
    workers: int = -1,
) -> tuple[VocabMap, bool]:
    """Load the ``source -> target`` map from the cache, or build and store it.

    Args:
        directory: the cache folder (created when first written).
        workers: rapidfuzz threads when building (-1: all cores).

    Returns:
        ``(map, hit)`` where ``hit`` tells whether it came from the cache.
    """
    key = vocab_map_key(source, target)
    path = directory / f"{key}.npz"
    if path.is_file():
        try:
            return load_vocab_map(path, key), True
        except FedMKTError:
            path.unlink(missing_ok=True)  # torn or stale entry: rebuild it
    built = build_vocab_map(source, target, workers)
    vocab_map = VocabMap(built.target_ids, built.distance, built.kind, built.target_size, key)
    save_vocab_map(path, vocab_map)
    return vocab_map, False
