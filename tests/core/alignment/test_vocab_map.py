"""Vocabulary maps: exact matches kept, identity on one tokenizer, exact minimum edit distance."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
from rapidfuzz import process
from rapidfuzz.distance import Levenshtein

from fedmkt.core.alignment import build_vocab_map, nearest_by_edit_distance
from fedmkt.core.alignment.vocab_map import EDIT, EXACT, ROLE, _as_text

PAIRS = [
    (a, b)
    for a in ("byte_bpe", "unigram", "wordpiece", "gemma_bpe")
    for b in ("byte_bpe", "unigram", "gemma_bpe")
]


@pytest.mark.parametrize(("a", "b"), PAIRS)
def test_every_id_is_mapped_and_exact_matches_are_kept(surfaces_by_kind, a, b):
    source, target = surfaces_by_kind[a], surfaces_by_kind[b]
    vocab_map = build_vocab_map(source, target)
    assert (vocab_map.target_ids >= 0).all() and (vocab_map.target_ids < len(target)).all()
    target_texts = {target.surfaces[j] for j in range(len(target)) if not target.special[j]}
    for i in range(len(source)):
        if source.special[i]:
            continue
        j = int(vocab_map.target_ids[i])
        if source.surfaces[i] in target_texts:
            assert vocab_map.kind[i] == EXACT and target.surfaces[j] == source.surfaces[i]
        else:
            assert vocab_map.kind[i] == EDIT
            assert vocab_map.distance[i] == Levenshtein.distance(
                _as_text(source.surfaces[i]), _as_text(target.surfaces[j])
            )


def test_identity_for_one_tokenizer(surfaces_by_kind):
    byte_bpe = surfaces_by_kind["byte_bpe"]
    assert (build_vocab_map(byte_bpe, byte_bpe).target_ids == np.arange(len(byte_bpe))).all()
    # With byte fallback "A" and "<0x41>" share a surface: both go to the ordinary piece.
    unigram = surfaces_by_kind["unigram"]
    vocab_map = build_vocab_map(unigram, unigram)
    ordinary = ~unigram.byte_token
    assert (vocab_map.target_ids[ordinary] == np.flatnonzero(ordinary)).all()
    byte_a = unigram.tokens.index("<0x61>")
    assert unigram.tokens[vocab_map.target_ids[byte_a]] == "a"
    assert (vocab_map.distance == 0).all()


def test_special_tokens_map_by_role(tokenizers_by_kind, surfaces_by_kind):
    vocab_map = build_vocab_map(surfaces_by_kind["unigram"], surfaces_by_kind["gemma_bpe"])
    src, tgt = tokenizers_by_kind["unigram"], tokenizers_by_kind["gemma_bpe"]
    for role in ("eos", "bos", "unk"):
        source_id = getattr(src, f"{role}_token_id")
        assert vocab_map.target_ids[source_id] == getattr(tgt, f"{role}_token_id")
        assert vocab_map.kind[source_id] == ROLE


def test_building_is_deterministic(surfaces_by_kind):
    first = build_vocab_map(surfaces_by_kind["gemma_bpe"], surfaces_by_kind["wordpiece"], workers=1)
    second = build_vocab_map(surfaces_by_kind["gemma_bpe"], surfaces_by_kind["wordpiece"], workers=-1)
    assert (first.target_ids == second.target_ids).all() and (first.distance == second.distance).all()


def test_nearest_equals_a_full_scan_with_lowest_index_ties():
    rng = random.Random(0)
    alphabet = "abcde ▁é"
    choices = ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 7))) for _ in range(400)]
    queries = ["".join(rng.choice(alphabet + "東京ж") for _ in range(rng.randint(0, 9))) for _ in range(300)]
    queries += ["東京", "жжжжжжжжжжжж", "東a京"]  # no shared character / mostly foreign
    index, dist = nearest_by_edit_distance(queries, choices)
    full = process.cdist(queries, choices, scorer=Levenshtein.distance, dtype=np.int32)
    assert (dist == full.min(axis=1)).all()
    assert (index == full.argmin(axis=1)).all()  # argmin: first (lowest) index among ties


def test_coverage_is_json_able(surfaces_by_kind):
    stats = build_vocab_map(surfaces_by_kind["wordpiece"], surfaces_by_kind["byte_bpe"]).coverage()
    data = json.loads(json.dumps(stats.to_dict()))
    assert data["exact"] + data["role"] + data["edit"] + data["unmapped"] == data["source_size"]
    assert data["edit"] > 0 and data["mean_distance"] >= 1


def test_token_dict_uses_raw_tokens(surfaces_by_kind):
    source, target = surfaces_by_kind["byte_bpe"], surfaces_by_kind["unigram"]
    pairs = build_vocab_map(source, target).token_dict(source, target)
    assert pairs["Ġ"] == "▁" and pairs["Ċ"] == "\n"  # an ordinary "\n" piece beats <0x0A>
    assert pairs["ĠQuestion"] == "▁Question"
    assert len(pairs) == len(source)
