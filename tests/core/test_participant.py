"""Participant and Peer: public-set messages, cached alignments, identity alignment, training reports."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
from roles_fixtures import MAX_LENGTH, TOP_K, lora_model, tiny_qa_split, train_args

from fedmkt.core.message_checks import receive
from fedmkt.core.messages import MessageRejected, decode, encode
from fedmkt.core.participant import Participant, Peer, PublicView
from fedmkt.errors import FedMKTError
from fedmkt.models.lora import get_adapter_state
from fedmkt.training.batching import collate
from fedmkt.training.sft import answer_positions, sft_loss


@pytest.fixture(scope="module")
def public():
    return tiny_qa_split()[0]


def _participant(name, model_name, public, seed=0):
    model, tokenizer = lora_model(model_name, seed)
    return Participant(name, model, tokenizer, public, MAX_LENGTH)


def _dense(ids, probs, vocab):
    """``(n, vocab)`` distribution from ``(n, k)`` top-k rows (duplicate ids add up)."""
    ids, probs = torch.as_tensor(ids).long(), torch.as_tensor(probs).float()
    return torch.zeros(ids.shape[0], vocab).scatter_add(-1, ids, probs)


def test_public_view_positions_are_the_batched_answer_positions(public):
    p = _participant("a", "tiny-gpt2-bpe", public)
    batch = collate(p.view.encoded, p.pad_id)
    mask = answer_positions(batch["labels"])
    for row, positions in enumerate(p.view.positions):
        assert positions.tolist() == mask[row].nonzero().flatten().tolist()
        assert p.view.ids[row].tolist() == list(p.view.encoded[row].input_ids)
    assert p.expected_positions() == {uid: int(m.sum()) for uid, m in zip(p.view.uids, mask, strict=True)}
    assert p.view.index_of(public[5].uid) == 5 and p.encoded_public[5].index == 5


def test_duplicate_public_uids_are_refused(public):
    model, tokenizer = lora_model("tiny-gpt2-bpe", 0)
    with pytest.raises(FedMKTError, match="uids must be unique"):
        PublicView(tokenizer, [public[0], public[1], public[0]], MAX_LENGTH)


def test_public_distributions_validate_and_do_not_depend_on_batching(public):
    p = _participant("client-a", "tiny-qwen2-wordpiece", public, seed=4)
    p.model.train()
    big = p.public_distributions(round=3, top_k=TOP_K, batch_size=16)
    one = p.public_distributions(round=3, top_k=TOP_K, batch_size=1)
    assert p.model.training, "the model's mode is restored"
    checked = receive(
        encode(big), expected_positions=p.expected_positions(), vocab_size=len(p.tokenizer),
        top_k=TOP_K, sender="client-a", round=3,
    )
    assert [s.uid for s in checked.samples] == [ex.uid for ex in public]
    assert big.vocab_size == len(p.tokenizer) == p.info.vocab_size
    for a, b in zip(big.samples, one.samples, strict=True):
        np.testing.assert_array_equal(a.token_ids, b.token_ids)
        np.testing.assert_allclose(a.probs.astype(np.float32), b.probs.astype(np.float32), atol=2e-3)
        assert a.nll == pytest.approx(b.nll, rel=1e-4)
    assert encode(p.public_distributions(3, TOP_K)) == encode(big), "deterministic"


def test_answer_nll_sums_to_the_sft_loss(public):
    p = _participant("a", "tiny-llama-unigram", public, seed=2)
    message = p.public_distributions(0, TOP_K)
    with torch.no_grad():
        loss, _ = sft_loss(p.model, collate(p.encoded_public, p.pad_id))
    total_positions = sum(p.expected_positions().values())
    assert sum(s.nll for s in message.samples) / total_positions == pytest.approx(float(loss), rel=1e-5)


def test_peer_with_the_same_tokenizer_aligns_to_the_sender_rows_from_cache(public, tmp_path):
    sender = _participant("llm", "tiny-llama-unigram", public, seed=1)
    receiver = _participant("slm", "tiny-qwen2-unigram", public, seed=2)
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
    sender = _participant("llm", "tiny-llama-unigram", public)
    receiver = _participant("slm", "tiny-gpt2-bpe", public)
    with pytest.raises(FedMKTError, match="public set differs"):
        Peer(sender.info, public[:8], receiver.view, receiver.tokenizer, tmp_path)


def test_peer_receive_checks_sender_and_round(public, tmp_path):
    sender = _participant("llm", "tiny-llama-unigram", public)
    receiver = _participant("slm", "tiny-gpt2-bpe", public)
    peer = receiver.peer(sender.info, tmp_path)
    message = sender.public_distributions(2, TOP_K)
    assert peer.receive(encode(message), round=2, top_k=TOP_K).round == 2
    with pytest.raises(MessageRejected, match="round 2, expected 3"):
        peer.receive(encode(message), round=3, top_k=TOP_K)
    with pytest.raises(MessageRejected, match="sender"):
        peer.receive(encode(replace(message, sender="mallory")), round=2, top_k=TOP_K)
    with pytest.raises(MessageRejected, match="top_k"):
        peer.receive(encode(message), round=2, top_k=TOP_K * 2)


def test_public_payload_reports_and_reuse_relabels_the_round(public):
    p = _participant("llm", "tiny-llama-unigram", public)
    message, data, report = p.public_payload(0, TOP_K)
    assert report.nbytes == len(data) and report.n_samples == len(public) and not report.reused
    assert report.n_positions == sum(p.expected_positions().values())
    assert report.compute_seconds > 0 and report.encode_seconds > 0
    again, data2, report2 = p.public_payload(4, TOP_K, reuse=message)
    assert report2.reused and decode(data2).round == 4 and again.samples is message.samples


def test_train_changes_the_adapter_and_reports_the_phase(public):
    p = _participant("a", "tiny-gpt2-bpe", public)
    before = get_adapter_state(p.model)
    steps = []
    report = p.train(p.encoded_public, sft_loss, train_args(), "public", log=steps.append)
    after = get_adapter_state(p.model)
    assert report.steps == 4 and report.examples == len(public) and report.tokens > 0
    assert report.metrics["sft_loss"] == pytest.approx(report.mean_loss)
    assert [s["step"] for s in steps] == [1, 2, 3, 4] and steps[0]["participant"] == "a"
    assert any(not torch.equal(before[k], after[k]) for k in before)
    assert report.to_dict()["phase"] == "public"
    with pytest.raises(FedMKTError, match="nothing to train"):
        p.train([], sft_loss, train_args(), "private")
