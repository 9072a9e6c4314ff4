"""Top-k remapping: a gather through the map, duplicates summed, one-hot fallback on the *next* token."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fedmkt.core.alignment import align_sequences, align_topk, build_vocab_map, one_hot_topk, remap_topk
from fedmkt.errors import FedMKTError

from .tokenizer_kinds import TRICKY


def test_duplicates_are_merged_and_sorted():
    table = torch.tensor([5, 5, 7, -1, 2])
    ids = torch.tensor([[0, 1, 2, 3], [4, 2, 9, 0]])
    probs = torch.tensor([[0.4, 0.3, 0.2, 0.1], [0.1, 0.1, 0.5, 0.3]])
    out_ids, out_probs = remap_topk(ids, probs, table)
    assert out_ids.tolist() == [[5, 7, 5, 5], [5, 2, 7, 5]]  # id 9 is outside the table: dropped
    assert torch.allclose(out_probs, torch.tensor([[0.7, 0.2, 0.0, 0.0], [0.3, 0.1, 0.1, 0.0]]))


def test_sparse_equals_dense():
    gen = torch.Generator().manual_seed(0)
    source_vocab, target_vocab, k = 300, 40, 16
    table = torch.randint(0, target_vocab, (source_vocab,), generator=gen)  # many-to-one
    ids = torch.stack([torch.randperm(source_vocab, generator=gen)[:k] for _ in range(8)])
    probs = torch.softmax(torch.randn(8, k, generator=gen), dim=-1).half()
    out_ids, out_probs = remap_topk(ids, probs, table)
    assert out_probs.dtype == torch.float16
    dense = torch.zeros(8, target_vocab).scatter_add_(1, table[ids], probs.float())
    sparse = torch.zeros(8, target_vocab).scatter_add_(1, out_ids, out_probs.float())
    assert torch.allclose(dense, sparse, atol=2e-3)
    assert (out_probs[:, :-1] >= out_probs[:, 1:]).all()
    for row_ids, row_probs in zip(out_ids, out_probs, strict=True):  # merged ids are unique
        kept = row_ids[row_probs > 0]
        assert kept.unique().numel() == kept.numel()


def test_one_hot_layout():
    ids, probs = one_hot_topk(torch.tensor([3, 9]), 4)
    assert ids.tolist() == [[3, 3, 3, 3], [9, 9, 9, 9]] and probs.tolist() == [[1, 0, 0, 0], [1, 0, 0, 0]]


@pytest.mark.parametrize(
    ("a", "b"), [("byte_bpe", "gemma_bpe"), ("gemma_bpe", "unigram"), ("wordpiece", "byte_bpe")]
)
def test_teacher_rows_land_on_the_right_positions(tokenizers_by_kind, surfaces_by_kind, a, b):
    """A teacher that is sure of its true next token becomes, after alignment, sure of the student's."""
    source, target = surfaces_by_kind[a], surfaces_by_kind[b]
    table = build_vocab_map(source, target).table()
    text = TRICKY[0] + " " + TRICKY[2]
    src, tgt = tokenizers_by_kind[a](text)["input_ids"], tokenizers_by_kind[b](text)["input_ids"]
    alignment = align_sequences(source, target, src, tgt)
    k = 8
    source_positions = np.arange(len(src) - 1)
    top_ids = torch.randint(0, len(source), (len(source_positions), k))
    top_ids[:, 0] = torch.tensor(src[1:])  # position i predicts token i + 1
    top_probs = torch.full((len(source_positions), k), 0.01)
    top_probs[:, 0] = 0.93
    target_positions = np.arange(len(tgt) - 1)
    out = align_topk(alignment, tgt, target_positions, source_positions, top_ids, top_probs, table)
    assert out.ids.shape == (len(target_positions), k) and out.matched.sum() > len(tgt) // 3
    for p in target_positions.tolist():
        top = int(out.ids[p, 0])
        if out.matched[p]:
            # the same text, up to what WordPiece loses (case, spaces)
            assert target.surfaces[top].strip().lower() == target.surfaces[tgt[p + 1]].strip().lower()
            assert out.probs[p, 0] >= 0.93 - 1e-6
        else:  # fallback: one-hot on the true *next* token (the reference puts it on token p)
            assert top == tgt[p + 1] and out.probs[p].tolist() == [1.0] + [0.0] * (k - 1)


def test_bad_positions_are_rejected(surfaces_by_kind):
    byte_bpe = surfaces_by_kind["byte_bpe"]
    alignment = align_sequences(byte_bpe, byte_bpe, [5, 6, 7], [5, 6, 7])
    rows = (torch.zeros(2, 4, dtype=torch.long), torch.zeros(2, 4))
    with pytest.raises(FedMKTError, match="target_positions"):
        align_topk(alignment, [5, 6, 7], [2], [0, 1], *rows, torch.arange(len(byte_bpe)))
    with pytest.raises(FedMKTError, match="one row per source position"):
        align_topk(alignment, [5, 6, 7], [0], [0], *rows, torch.arange(len(byte_bpe)))
