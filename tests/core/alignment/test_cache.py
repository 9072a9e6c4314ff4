"""The vocabulary-map cache: keyed by both vocabularies, hit on the second call, atomic, self-healing."""

from __future__ import annotations

import numpy as np

from fedmkt.core.alignment import VocabMap, cached_vocab_map, vocab_map_key
from fedmkt.core.alignment.cache import save_vocab_map


def _plant(path, vocab_map):
    """Overwrite a cache entry with a recognisably different but valid map of the same key."""
    planted = VocabMap(np.zeros_like(vocab_map.target_ids), vocab_map.distance, vocab_map.kind,
                       vocab_map.target_size, vocab_map.key)
    save_vocab_map(path, planted)
    return planted


def test_second_call_is_a_cache_hit(surfaces_by_kind, tmp_path):
    source, target = surfaces_by_kind["gemma_bpe"], surfaces_by_kind["byte_bpe"]
    built, hit = cached_vocab_map(source, target, tmp_path)
    assert not hit
    path = tmp_path / f"{built.key}.npz"
    written = path.stat().st_mtime_ns
    loaded, hit = cached_vocab_map(source, target, tmp_path)
    assert hit
    assert (loaded.target_ids == built.target_ids).all() and (loaded.distance == built.distance).all()
    assert (loaded.kind == built.kind).all() and loaded.key == built.key == vocab_map_key(source, target)
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary files left
    assert path.stat().st_mtime_ns == written, "a hit must not rebuild and write the entry again"


def test_a_hit_returns_what_the_file_holds_without_rebuilding(surfaces_by_kind, tmp_path):
    source, target = surfaces_by_kind["gemma_bpe"], surfaces_by_kind["byte_bpe"]
    built, _ = cached_vocab_map(source, target, tmp_path)
    assert built.target_ids.any()
    planted = _plant(tmp_path / f"{built.key}.npz", built)
    loaded, hit = cached_vocab_map(source, target, tmp_path)
    assert hit and np.array_equal(loaded.target_ids, planted.target_ids), "a hit must return the file's map"


def test_key_depends_on_direction_and_vocabulary(surfaces_by_kind):
    a, b, c = surfaces_by_kind["gemma_bpe"], surfaces_by_kind["byte_bpe"], surfaces_by_kind["unigram"]
    assert len({vocab_map_key(a, b), vocab_map_key(b, a), vocab_map_key(a, c)}) == 3


def test_a_torn_file_is_rebuilt(surfaces_by_kind, tmp_path):
    source, target = surfaces_by_kind["wordpiece"], surfaces_by_kind["unigram"]
    built, _ = cached_vocab_map(source, target, tmp_path)
    path = tmp_path / f"{built.key}.npz"
    path.write_bytes(b"not a zip file")
    rebuilt, hit = cached_vocab_map(source, target, tmp_path)
    assert not hit and np.array_equal(rebuilt.target_ids, built.target_ids)
    assert cached_vocab_map(source, target, tmp_path)[1]
