"""Peer: another participant seen from this one; its messages checked, its rows aligned into ours."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
from roles_fixtures import TOP_K, participant, tiny_qa_split

from fedmkt.core.messages import MessageRejected, encode
from fedmkt.core.peer import Peer
from fedmkt.errors import FedMKTError


@pytest.fixture(scope="module")
def public():
    return tiny_qa_split()[0]


def _dense(ids, probs, vocab):
    """``(n, vocab)`` distribution from ``(n, k)`` top-k rows (duplicate ids add up)."""
    ids, probs = torch.as_tensor(ids).long(), torch.as_tensor(probs).float()
    return torch.zeros(ids.shape[0], vocab).scatter_add(-1, ids, probs)


def test_peer_with_the_same_tokenizer_aligns_to_the_sender_rows_from_cache(public, tmp_path):
    sender = participant("llm", "tiny-llama-unigram", public, seed=1)
    receiver = participant("slm", "tiny-qwen2-unigram", public, seed=2)
    peer = receiver.peer(sender.info, tmp_path)
    assert (peer.aligner.misses, peer.aligner.hits) == (len(public), 0), "every sequence aligned up front"
    assert peer.setup_seconds > 0
    message = sender.public_distributions(0, TOP_K)
    uids = [public[i].uid for i in (7, 2, 11)]
    targets, matched = peer.align(message, uids)
    assert (peer.aligner.misses, peer.aligner.hits) == (len(public), 3)
    assert sorted(targets) == [2, 7, 11]
    assert matched == sum(t.n_positions for t in targets.values())
    by_uid = message.by_uid()
    vocab = len(receiver.tokenizer)
    for index, target in targets.items():
        sent = by_uid[public[index].uid]
        assert target.n_positions == receiver.view.positions[index].size
        # same vocabulary: the map is the identity except byte-fallback pieces (<0x77> -> "w")
        mapped = peer.aligner.table[torch.from_numpy(sent.token_ids.astype(np.int64))]
        torch.testing.assert_close(_dense(target.ids, target.probs, vocab), _dense(mapped, sent.probs, vocab))
        assert target.weight.tolist() == [1.0] * target.n_positions
    assert peer.align(message, []) == ({}, 0)


def test_peer_refuses_another_public_set(public, tmp_path):
    sender = participant("llm", "tiny-llama-unigram", public)
    receiver = participant("slm", "tiny-gpt2-bpe", public)
    with pytest.raises(FedMKTError, match="public set differs"):
        Peer(sender.info, public[:8], receiver.view, receiver.tokenizer, tmp_path)


def test_peer_receive_checks_sender_and_round(public, tmp_path):
    sender = participant("llm", "tiny-llama-unigram", public)
    receiver = participant("slm", "tiny-gpt2-bpe", public)
    peer = receiver.peer(sender.info, tmp_path)
    message = sender.public_distributions(2, TOP_K)
    assert peer.receive(encode(message), round=2, top_k=TOP_K).round == 2
    with pytest.raises(MessageRejected, match="round 2, expected 3"):
        peer.receive(encode(message), round=3, top_k=TOP_K)
    with pytest.raises(MessageRejected, match="sender"):
        peer.receive(encode(replace(message, sender="mallory")), round=2, top_k=TOP_K)
    with pytest.raises(MessageRejected, match="top_k"):
        peer.receive(encode(message), round=2, top_k=TOP_K * 2)
