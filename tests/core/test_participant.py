"""Participant: the public set encoded once, its top-k messages, their reports and reuse."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from roles_fixtures import TOP_K, lora_model, participant, tiny_qa_split

from fedmkt.core.message_checks import receive
from fedmkt.core.messages import decode, encode
from fedmkt.core.participant import logit_width
from fedmkt.training.batching import collate
from fedmkt.training.sft import sft_loss


@pytest.fixture(scope="module")
def public():
    return tiny_qa_split()[0]


def test_public_distributions_validate_and_do_not_depend_on_batching(public):
    p = participant("client-a", "tiny-qwen2-wordpiece", public, seed=4)
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
    p = participant("a", "tiny-llama-unigram", public, seed=2)
    message = p.public_distributions(0, TOP_K)
    with torch.no_grad():
        loss, _ = sft_loss(p.model, collate(p.encoded_public, p.pad_id))
    total_positions = sum(p.expected_positions().values())
    assert sum(s.nll for s in message.samples) / total_positions == pytest.approx(float(loss), rel=1e-5)


def test_public_payload_reports_and_reuse_relabels_the_round(public):
    p = participant("llm", "tiny-llama-unigram", public)
    message, data, report = p.public_payload(0, TOP_K)
    assert report.nbytes == len(data) and report.n_samples == len(public) and not report.reused
    assert report.n_positions == sum(p.expected_positions().values())
    assert report.compute_seconds > 0 and report.encode_seconds > 0
    again, data2, report2 = p.public_payload(4, TOP_K, reuse=message)
    assert report2.reused and decode(data2).round == 4 and again.samples is message.samples


def test_logit_width_is_the_heads_rows_not_the_tokenizers_length():
    model, tokenizer = lora_model("tiny-gpt2-bpe", 0)
    model.base_model.model.resize_token_embeddings(len(tokenizer) + 5)
    assert logit_width(model) == len(tokenizer) + 5
