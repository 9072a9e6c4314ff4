"""The per-pair Aligner: alignments cached across rounds (and on disk), batched remapping."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fedmkt.core.alignment import Aligner, VocabMap, vocab_map_key
from fedmkt.core.alignment.cache import save_vocab_map
from fedmkt.errors import FedMKTError

from .tokenizer_kinds import TRICKY


@pytest.fixture()
def aligner(tokenizers_by_kind, tmp_path) -> Aligner:
    return Aligner.from_tokenizers(tokenizers_by_kind["byte_bpe"], tokenizers_by_kind["unigram"], tmp_path)


def _encode(tokenizers_by_kind, text):
    return tokenizers_by_kind["byte_bpe"](text)["input_ids"], tokenizers_by_kind["unigram"](text)["input_ids"]


def test_second_call_is_served_from_the_cache(aligner, tokenizers_by_kind):
    src, tgt = _encode(tokenizers_by_kind, TRICKY[0])
    first = aligner.alignment("arc/1", src, tgt)
    second = aligner.alignment("arc/1", torch.tensor(src), np.array(tgt))
    assert second is first and (aligner.hits, aligner.misses) == (1, 1)
    other_src, other_tgt = _encode(tokenizers_by_kind, TRICKY[2])  # same uid, new tokens: recomputed
    assert aligner.alignment("arc/1", other_src, other_tgt) is not first and aligner.misses == 2


def test_vocab_map_comes_from_the_disk_cache(tokenizers_by_kind, tmp_path):
    source, target = tokenizers_by_kind["wordpiece"], tokenizers_by_kind["gemma_bpe"]
    first = Aligner.from_tokenizers(source, target, tmp_path)
    entry = tmp_path / f"{vocab_map_key(first.source, first.target)}.npz"
    assert sorted(tmp_path.iterdir()) == [entry], "the first build did not store its map in the cache"
    # Plant a recognisably different map under the same key: only a real cache read can return it.
    vocab_map = first.vocab_map
    planted = VocabMap(np.zeros_like(vocab_map.target_ids), vocab_map.distance, vocab_map.kind,
                       vocab_map.target_size, vocab_map.key)
    save_vocab_map(entry, planted)
    assert first.table.any()
    second = Aligner.from_tokenizers(source, target, tmp_path)
    read = np.array_equal(second.table.numpy(), planted.target_ids)
    assert read, "the second Aligner rebuilt its vocabulary map instead of reading the cached one"
    assert sorted(tmp_path.iterdir()) == [entry]


def test_save_and_load(aligner, tokenizers_by_kind, tmp_path):
    for uid, text in enumerate(TRICKY):
        aligner.alignment(str(uid), *_encode(tokenizers_by_kind, text))
    path = tmp_path / "alignments.npz"
    aligner.save(path)
    fresh = Aligner(aligner.source, aligner.target, aligner.vocab_map)
    assert fresh.load(path) == len(TRICKY)
    for uid, text in enumerate(TRICKY):
        restored = fresh.alignment(str(uid), *_encode(tokenizers_by_kind, text))
        assert np.array_equal(
            restored.target_to_source,
            aligner.alignment(str(uid), *_encode(tokenizers_by_kind, text)).target_to_source,
        )
    assert fresh.misses == 0
    other = Aligner.from_tokenizers(tokenizers_by_kind["unigram"], tokenizers_by_kind["byte_bpe"], tmp_path)
    with pytest.raises(FedMKTError, match="another tokenizer pair"):
        other.load(path)


def test_batch_equals_one_by_one(aligner, tokenizers_by_kind):
    gen = torch.Generator().manual_seed(0)
    samples = []
    for uid, text in enumerate(TRICKY[:6]):
        src, tgt = _encode(tokenizers_by_kind, text)
        have = np.arange(len(src) - 1)
        ids = torch.randint(0, len(aligner.source), (len(have), 5), generator=gen)
        probs = torch.softmax(torch.randn(len(have), 5, generator=gen), -1)
        samples.append((str(uid), src, tgt, np.arange(len(tgt) - 1), have, ids, probs))
    singles = [aligner.align_topk(*sample) for sample in samples]
    batch = aligner.align_topk_batch(
        *[list(column) for column in zip(*[s[:5] for s in samples], strict=True)],
        torch.cat([s[5] for s in samples]),
        torch.cat([s[6] for s in samples]),
    )
    assert torch.equal(batch.ids, torch.cat([s.ids for s in singles]))
    assert torch.equal(batch.probs, torch.cat([s.probs for s in singles]))
    assert torch.equal(batch.matched, torch.cat([s.matched for s in singles]))
