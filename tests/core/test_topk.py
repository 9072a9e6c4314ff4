"""Top-k distributions and answer NLL: against plain softmax/cross-entropy and a tiny model's dense logits."""

import pytest
import torch
import torch.nn.functional as F

from fedmkt.core.topk import answer_nll, topk_distribution
from fedmkt.data.example import Example
from fedmkt.errors import FedMKTError
from fedmkt.models.logits import selected_logits
from fedmkt.models.tiny import build_tiny_model
from fedmkt.training.batching import collate
from fedmkt.training.encode import encode_examples
from fedmkt.training.sft import answer_positions, next_token_labels, sft_loss

PUBLIC = [
    Example("p/0", "Question: What is 2 plus 3?\nAnswer:", " 5"),
    Example("p/1", "Question: Reverse the word garden.\nAnswer:", " nedrag"),
    Example("p/2", "Question: Where does a whale usually live?\nAnswer:", " in the ocean"),
]


def _logits(n=6, vocab=50, seed=0, scale=3.0):
    return torch.randn(n, vocab, generator=torch.Generator().manual_seed(seed)) * scale


def test_topk_probabilities_are_those_of_the_full_softmax():
    logits = _logits()
    ids, probs = topk_distribution(logits, k=5)
    full = torch.softmax(logits, dim=-1)
    expected_probs, expected_ids = torch.topk(full, 5, dim=-1)
    assert ids.dtype == torch.int64 and probs.dtype == torch.float32
    assert torch.equal(ids, expected_ids)
    torch.testing.assert_close(probs, expected_probs)
    assert (probs[:, :-1] >= probs[:, 1:]).all()  # descending
    assert (probs.sum(-1) < 1).all()  # top-k mass, not renormalised


def test_k_covering_the_vocabulary_sums_to_one_and_k_is_capped():
    ids, probs = topk_distribution(_logits(vocab=20), k=128)
    assert ids.shape == (6, 20)
    torch.testing.assert_close(probs.sum(-1), torch.ones(6))
    assert all(sorted(row) == list(range(20)) for row in ids.tolist())


def test_bf16_logits_give_fp32_probabilities_close_to_fp32_maths():
    logits = _logits()
    _, probs32 = topk_distribution(logits, k=8)
    ids16, probs16 = topk_distribution(logits.bfloat16(), k=8)
    assert probs16.dtype == torch.float32
    expected = torch.softmax(logits.bfloat16().float(), -1).gather(-1, ids16)
    torch.testing.assert_close(probs16, expected)
    torch.testing.assert_close(probs16, probs32, atol=0.05, rtol=0.05)


def test_temperature_flattens_the_distribution():
    logits = _logits()
    _, sharp = topk_distribution(logits, k=1, temperature=0.5)
    _, plain = topk_distribution(logits, k=1)
    _, flat = topk_distribution(logits, k=1, temperature=4.0)
    assert (sharp > plain).all() and (plain > flat).all()
    torch.testing.assert_close(flat, torch.softmax(logits / 4.0, -1).max(-1, keepdim=True).values)


@pytest.mark.parametrize("k, temperature", [(0, 1.0), (3, 0.0), (3, -1.0)])
def test_bad_arguments_are_one_line_errors(k, temperature):
    with pytest.raises(FedMKTError):
        topk_distribution(_logits(), k=k, temperature=temperature)
    with pytest.raises(FedMKTError, match="shape"):
        topk_distribution(torch.zeros(2, 3, 4), k=2)


def test_answer_nll_sums_cross_entropy_per_sample_in_fp32():
    logits = _logits(n=7)
    next_ids = torch.tensor([1, 4, 9, 0, 3, 3, 7])
    sample_index = torch.tensor([0, 0, 0, 2, 2, 2, 2])  # sample 1 has no position
    nll = answer_nll(logits.bfloat16(), next_ids, sample_index, n_samples=4)
    per_token = F.cross_entropy(logits.bfloat16().float(), next_ids, reduction="none")
    assert nll.dtype == torch.float32 and nll.shape == (4,)
    torch.testing.assert_close(
        nll, torch.stack([per_token[:3].sum(), torch.tensor(0.0), per_token[3:].sum(), torch.tensor(0.0)])
    )
    assert answer_nll(logits, next_ids, sample_index).shape == (3,)  # n_samples from the index


def test_answer_nll_rejects_mismatched_shapes_and_indices():
    with pytest.raises(FedMKTError, match="next_ids"):
        answer_nll(_logits(n=3), torch.zeros(2, dtype=torch.long), torch.zeros(3, dtype=torch.long))
    with pytest.raises(FedMKTError, match="sample_index"):
        answer_nll(_logits(n=2), torch.zeros(2, dtype=torch.long), torch.tensor([0, 3]), n_samples=2)


def test_tiny_model_answer_nll_and_topk_match_its_dense_logits():
    model, tok = build_tiny_model("tiny-llama-bpe", seed=0)
    encoded = encode_examples(tok, PUBLIC, max_length=64)
    batch = collate(encoded, tok.pad_token_id)
    positions = answer_positions(batch["labels"])  # (batch, seq)
    with torch.no_grad():
        logits = selected_logits(model, batch["input_ids"], batch["attention_mask"], positions)  # (n, vocab)
        nll = answer_nll(logits, next_token_labels(batch["labels"])[positions], positions.nonzero()[:, 0])
        ids, probs = topk_distribution(logits, k=16)
        mean_ce, _ = sft_loss(model, batch)
    assert ids.shape == (sum(e.n_targets for e in encoded), 16)
    torch.testing.assert_close(nll.sum() / ids.shape[0], mean_ce)
    for row, example in enumerate(encoded):  # each sample alone, unpadded, through the full head
        input_ids = torch.tensor([example.input_ids])
        with torch.no_grad():
            dense = model(input_ids=input_ids).logits[0, :-1].float()  # (seq - 1, vocab)
        targets = torch.tensor(example.labels[1:])
        scored = targets != -100
        expected = F.cross_entropy(dense[scored], targets[scored], reduction="sum")
        torch.testing.assert_close(nll[row], expected, rtol=1e-4, atol=1e-4)
