"""Participant: the public set encoded once, its top-k messages (at answer or at all positions), their reports
and reuse."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
from roles_fixtures import MAX_LENGTH, TOP_K, lora_model, participant, tiny_qa_split

from fedmkt.core.message_checks import receive
from fedmkt.core.messages import decode, encode
from fedmkt.core.participant import Participant, logit_width
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


@pytest.mark.parametrize("model_name", ["tiny-qwen2-wordpiece", "tiny-gemma3-wordpiece"])
def test_all_position_messages_hold_the_answer_messages_rows_and_the_same_answer_nll(public, model_name):
    """kd_positions all: one row per position a token follows; at the answer rows the same top-k as the
    answer-only pass, the same answer NLL and gold agreement; the head in small chunks changes nothing."""
    answer = participant("a", model_name, public, seed=3)
    every = Participant("a", answer.model, answer.tokenizer, public, MAX_LENGTH, "all")
    narrow, wide = answer.public_payload(0, TOP_K), every.public_payload(0, TOP_K)
    assert wide[2].n_positions == sum(len(ids) - 1 for ids in every.view.ids) > 2 * narrow[2].n_positions
    receive(wide[1], expected_positions=every.expected_positions(), vocab_size=every.vocab_size, top_k=TOP_K,
            sender="a", round=0)
    for a, b, rows in zip(narrow[0].samples, wide[0].samples, every.view.answer_rows, strict=True):
        np.testing.assert_array_equal(a.token_ids, b.token_ids[rows])
        np.testing.assert_allclose(a.probs.astype(np.float32), b.probs[rows].astype(np.float32), atol=2e-3)
        assert a.nll == pytest.approx(b.nll, rel=1e-4)
    assert wide[2].gold_top1 == pytest.approx(narrow[2].gold_top1)
    assert wide[2].gold_prob == pytest.approx(narrow[2].gold_prob, abs=1e-3)
    every.head_chunk_logits = 3 * every.vocab_size  # three rows per head chunk
    chunked = every.public_distributions(0, TOP_K)
    for b, c in zip(wide[0].samples, chunked.samples, strict=True):
        np.testing.assert_array_equal(b.token_ids, c.token_ids)
        np.testing.assert_allclose(b.probs.astype(np.float32), c.probs.astype(np.float32), atol=1e-3)


def test_gold_agreement_of_an_all_positions_message_reads_its_answer_rows_only(public):
    """A message whose top token is the true next token at every prompt row and never at an answer row
    agrees with the gold answers nowhere; swapped, everywhere."""
    p = Participant("a", *lora_model("tiny-gpt2-bpe", 0), public, MAX_LENGTH, "all")
    sent = p.public_distributions(0, TOP_K)
    for answers_right in (False, True):
        samples = []
        for sample, ids, positions, rows in zip(sent.samples, p.view.ids, p.view.positions, p.view.answer_rows,
                                                strict=True):
            nxt = ids[positions + 1]
            is_answer = np.isin(np.arange(positions.size), rows)
            top = np.where(is_answer == answers_right, nxt, (nxt + 1) % len(p.tokenizer))
            token_ids = sample.token_ids.copy()
            token_ids[:, 0] = top
            samples.append(replace(sample, token_ids=token_ids))
        _, _, report = p.public_payload(1, TOP_K, reuse=replace(sent, samples=samples))
        assert report.gold_top1 == (1.0 if answers_right else 0.0)
