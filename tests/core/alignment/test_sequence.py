"""Sequence alignment of two tokenizations of one text: 1:1 on the same text span, pad-free, deterministic."""

from __future__ import annotations

import numpy as np
import pytest

from fedmkt.core.alignment import SequenceAlignment, align_sequences, real_tokens
from fedmkt.errors import FedMKTError

from .tokenizer_kinds import KINDS, TRICKY

PAIRS = [(a, b) for a in KINDS for b in KINDS]
LOSSLESS = ("byte_bpe", "gemma_bpe")  # surfaces concatenate to the exact text


def _align(toks, surfs, a, b, text):
    src, tgt = toks[a](text)["input_ids"], toks[b](text)["input_ids"]
    return src, tgt, align_sequences(surfs[a], surfs[b], src, tgt)


@pytest.mark.parametrize(("a", "b"), PAIRS)
def test_matches_are_one_to_one_and_in_order(tokenizers_by_kind, surfaces_by_kind, a, b):
    matched_total = target_total = 0
    for text in TRICKY:
        src, tgt, alignment = _align(tokenizers_by_kind, surfaces_by_kind, a, b, text)
        assert alignment.target_len == len(tgt) and alignment.source_len == len(src)
        matched = alignment.target_to_source[alignment.target_to_source >= 0]
        assert (np.diff(matched) > 0).all()  # injective and monotone
        assert matched.size == 0 or matched.max() < len(src)
        if a == b:  # one tokenizer against itself: every token matches its own position
            assert alignment.target_to_source.tolist() == list(range(len(tgt))), text
        if text:  # every pair shares some whole tokens on each of these texts (37% to 100% of them)
            assert matched.size > 0, text
        matched_total += matched.size
        target_total += len(tgt)
    assert matched_total >= 0.3 * target_total, f"{matched_total} of {target_total} target tokens matched"


def _byte_spans(surfaces, ids):
    ends = np.cumsum([len(surfaces.surfaces[i]) for i in ids], dtype=np.int64)
    starts = ends - np.array([len(surfaces.surfaces[i]) for i in ids], dtype=np.int64)
    return list(zip(starts.tolist(), ends.tolist(), strict=True))


@pytest.mark.parametrize("a", LOSSLESS)
@pytest.mark.parametrize("b", LOSSLESS)
def test_lossless_pairs_match_exactly_the_tokens_with_equal_spans(tokenizers_by_kind, surfaces_by_kind, a, b):
    for text in TRICKY:
        src, tgt, alignment = _align(tokenizers_by_kind, surfaces_by_kind, a, b, text)
        src_spans, tgt_spans = _byte_spans(surfaces_by_kind[a], src), _byte_spans(surfaces_by_kind[b], tgt)
        expected = [
            src_spans.index(span) if span in src_spans and span[1] > span[0] else -1 for span in tgt_spans
        ]
        assert alignment.target_to_source.tolist() == expected, text


@pytest.mark.parametrize("kind", list(KINDS))
def test_identity_for_one_tokenizer(tokenizers_by_kind, surfaces_by_kind, kind):
    for text in TRICKY:
        tok = tokenizers_by_kind[kind]
        ids = tok(text)["input_ids"]
        alignment = align_sequences(surfaces_by_kind[kind], surfaces_by_kind[kind], ids, ids)
        assert (alignment.target_to_source == np.arange(len(ids))).all(), (kind, text)


def _pairs(toks, alignment, src, tgt, a, b):
    sa, sb = toks[a].convert_ids_to_tokens(src), toks[b].convert_ids_to_tokens(tgt)
    return {(sb[j], sa[i]) for j, i in enumerate(alignment.target_to_source.tolist()) if i >= 0}


def test_dummy_prefix_and_bytes(tokenizers_by_kind, surfaces_by_kind):
    toks, surfs = tokenizers_by_kind, surfaces_by_kind
    # Llama-style dummy prefix: "▁Question" covers the same word as "Question".
    src, tgt, alignment = _align(toks, surfs, "byte_bpe", "unigram", TRICKY[0])
    assert ("▁Question", "Question") in _pairs(toks, alignment, src, tgt, "byte_bpe", "unigram")
    # Characters outside both vocabularies: byte pieces <0xE6> and byte-level "æ" are the same byte.
    src, tgt, alignment = _align(toks, surfs, "byte_bpe", "gemma_bpe", TRICKY[4])
    pairs = _pairs(toks, alignment, src, tgt, "byte_bpe", "gemma_bpe")
    assert {("<0xE6>", "æ"), ("<0x9D>", "Ŀ"), ("▁is", "Ġis")} <= pairs


def test_wordpiece_lowercase_and_unknown(tokenizers_by_kind, surfaces_by_kind):
    """WordPiece drops case, spaces and unknown characters: words still match through the edit-distance DP."""
    src, tgt, alignment = _align(tokenizers_by_kind, surfaces_by_kind, "unigram", "wordpiece", TRICKY[2])
    pairs = _pairs(tokenizers_by_kind, alignment, src, tgt, "unigram", "wordpiece")
    assert {("question", "▁Question"), ("answer", "Answer"), ("?", "?")} <= pairs
    assert all(source != "<0x3D>" for _, source in pairs)  # "=" is [UNK] there: it pairs with nothing


def test_special_tokens_match_by_role(tokenizers_by_kind, surfaces_by_kind):
    a, b = tokenizers_by_kind["unigram"], tokenizers_by_kind["gemma_bpe"]
    text = "Answer: Paris"
    src = [a.bos_token_id, *a(text)["input_ids"], a.eos_token_id]
    tgt = [b.bos_token_id, *b(text)["input_ids"], b.eos_token_id]
    alignment = align_sequences(surfaces_by_kind["unigram"], surfaces_by_kind["gemma_bpe"], src, tgt)
    assert alignment.target_to_source[0] == 0 and alignment.target_to_source[-1] == len(src) - 1


def test_empty_and_deterministic(tokenizers_by_kind, surfaces_by_kind):
    src, tgt, first = _align(tokenizers_by_kind, surfaces_by_kind, "wordpiece", "gemma_bpe", TRICKY[3])
    second = align_sequences(surfaces_by_kind["wordpiece"], surfaces_by_kind["gemma_bpe"], src, tgt)
    assert np.array_equal(first.target_to_source, second.target_to_source)
    empty = align_sequences(surfaces_by_kind["byte_bpe"], surfaces_by_kind["unigram"], [], [])
    assert empty.target_len == 0 and empty.prediction_sources().size == 0


def test_pads_are_stripped_before_alignment(tokenizers_by_kind, surfaces_by_kind):
    tok = tokenizers_by_kind["wordpiece"]
    batch = tok(["Answer: Paris", "Question: What is the capital of France?"], padding=True)
    row, mask = batch["input_ids"][0], batch["attention_mask"][0]
    assert tok.pad_token_id in row
    ids = real_tokens(row, mask)
    assert tok.pad_token_id not in ids.tolist() and ids.tolist() == tok("Answer: Paris")["input_ids"]
    with pytest.raises(FedMKTError, match="attention_mask"):
        real_tokens(row, mask[:-1])


def test_prediction_positions_are_shifted_by_one():
    """Target position p predicts token p+1; it takes the source position predicting the same token."""
    alignment = SequenceAlignment(np.array([0, -1, 1, 3, 4]), source_len=5)
    # token 2 <- source token 1, so target position 1 <- source position 0; token 1 unmatched -> -1
    assert alignment.prediction_sources().tolist() == [-1, 0, 2, 3, -1]


def test_out_of_range_ids_are_rejected(surfaces_by_kind):
    with pytest.raises(FedMKTError, match="source token ids"):
        align_sequences(surfaces_by_kind["byte_bpe"], surfaces_by_kind["unigram"], [10**6], [1])
