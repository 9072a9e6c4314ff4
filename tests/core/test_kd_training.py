"""SFT+KD training loss: exactly SFT at lambda 0, equal to a dense computation, per-sample rows by index;
without public SFT no gold answer reaches it; with kd_positions all it covers every non-padding position."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from fedmkt.core.alignment import AlignedTopK
from fedmkt.core.kd_training import KDTargets, make_kd_loss, public_examples, targets_from_aligned
from fedmkt.core.topk import topk_distribution
from fedmkt.data.tasks import get_task
from fedmkt.errors import FedMKTError
from fedmkt.models.lora import attach_lora
from fedmkt.models.tiny import build_tiny_model
from fedmkt.training.batching import collate
from fedmkt.training.encode import encode_examples
from fedmkt.training.sft import answer_positions, prediction_positions, sft_loss


@pytest.fixture(scope="module")
def student():
    model, tokenizer = build_tiny_model("tiny-qwen2-wordpiece", seed=3)
    return attach_lora(model, r=4, alpha=8, dropout=0.0, seed=3), tokenizer


@pytest.fixture(scope="module")
def encoded(student):
    _, tokenizer = student
    return encode_examples(tokenizer, get_task("tiny_qa").load("train")[:6], 64)


def _batch(encoded, rows):
    return collate([encoded[i] for i in rows], pad_id=0)


def _rows(example, kd_positions="answer"):
    """Scored positions of one encoded example: its answer positions, or every one that predicts a token."""
    if kd_positions == "all":
        return len(example.input_ids) - 1
    return int(answer_positions(torch.tensor([example.labels])).sum())


def _random_targets(encoded, indices, k, vocab, seed=0, weight=1.0, kd_positions="answer"):
    """Per example: random teacher top-k rows at its scored positions."""
    gen = torch.Generator().manual_seed(seed)
    targets = {}
    for i in indices:
        n = _rows(encoded[i], kd_positions)
        ids, probs = topk_distribution(torch.randn(n, vocab, generator=gen) * 3, k)
        targets[i] = KDTargets(ids, probs, torch.full((n,), weight))
    return targets


def _grads(model):
    return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


def test_lambda_zero_equals_sft_loss_exactly_value_and_gradient(student, encoded):
    model, tokenizer = student
    batch = _batch(encoded, [0, 3, 5, 1])
    targets = _random_targets(encoded, [0, 5], k=8, vocab=len(tokenizer))
    model.zero_grad()
    loss, metrics = make_kd_loss(targets, kd_weight=0.0)(model, batch)
    loss.backward()
    kd_grads = _grads(model)
    model.zero_grad()
    ref, _ = sft_loss(model, batch)
    ref.backward()
    assert torch.equal(loss, ref)
    assert metrics["sft_loss"] == float(ref.detach()) and metrics["kd_loss"] > 0
    for name, grad in _grads(model).items():
        assert torch.equal(kd_grads[name], grad), name


@pytest.mark.parametrize(("kd_weight", "temperature"), [(0.1, 1.0), (0.5, 2.0), (1.0, 0.7)])
def test_equals_dense_computation_on_full_logits(student, encoded, kd_weight, temperature):
    """Teacher rows with k = vocab (a dense teacher) against a plain (batch, seq, vocab) computation."""
    model, tokenizer = student
    vocab = len(tokenizer)
    rows = [2, 0, 4]
    batch = _batch(encoded, rows)
    targets = _random_targets(encoded, [2, 4], k=vocab, vocab=vocab, seed=1)
    targets[4] = KDTargets(targets[4].ids, targets[4].probs, torch.rand(targets[4].n_positions))  # weights
    model.zero_grad()
    loss, _ = make_kd_loss(targets, kd_weight, temperature)(model, batch)
    loss.backward()
    sparse_grads = _grads(model)

    model.zero_grad()
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits.float()
    mask = answer_positions(batch["labels"])  # (b, seq)
    next_ids = torch.roll(batch["labels"], -1, dims=1)
    ce = F.cross_entropy(logits[mask], next_ids[mask])
    dense_teacher, weights = [], []
    for row in rows:  # batch-major, then sequence order: the order of logits[mask]
        if row in targets:
            t = targets[row]
            q = t.probs ** (1 / temperature)
            q = q / q.sum(-1, keepdim=True)
            dense_teacher.append(torch.zeros(t.n_positions, vocab).scatter_add(-1, t.ids, q))
            weights.append(t.weight)
        else:
            n = int(answer_positions(torch.tensor([encoded[row].labels])).sum())
            dense_teacher.append(torch.zeros(n, vocab))
            weights.append(torch.zeros(n))
    log_p = F.log_softmax(logits[mask] / temperature, dim=-1)
    per_position = -(torch.cat(dense_teacher) * log_p).sum(-1) * temperature**2
    kd = (per_position * torch.cat(weights)).mean()
    dense = (1 - kd_weight) * ce + kd_weight * kd
    dense.backward()
    torch.testing.assert_close(loss, dense)
    for name, grad in _grads(model).items():
        torch.testing.assert_close(sparse_grads[name], grad, msg=name)


def test_samples_without_targets_get_no_kd(student, encoded):
    model, _ = student
    batch = _batch(encoded, [1, 3])
    with torch.no_grad():
        loss, metrics = make_kd_loss({}, kd_weight=1.0)(model, batch)
    assert float(loss) == 0.0 and metrics["kd_positions"] == 0.0 and metrics["sft_loss"] > 0


def test_rows_of_different_k_are_padded_without_changing_the_loss(student, encoded):
    model, tokenizer = student
    batch = _batch(encoded, [0, 1])
    targets = _random_targets(encoded, [0, 1], k=6, vocab=len(tokenizer), seed=2)
    narrow = dict(targets)
    t = targets[1]
    narrow[1] = KDTargets(t.ids[:, :3], t.probs[:, :3] / t.probs[:, :3].sum(-1, keepdim=True) * 0.5, t.weight)
    manual = dict(targets)
    manual[1] = KDTargets(
        F.pad(narrow[1].ids, (0, 3)), F.pad(narrow[1].probs, (0, 3)), t.weight
    )
    with torch.no_grad():
        a, _ = make_kd_loss(narrow, 0.5)(model, batch)
        b, _ = make_kd_loss(manual, 0.5)(model, batch)
    torch.testing.assert_close(a, b)


def test_targets_for_another_tokenization_are_refused_naming_the_example(student, encoded):
    model, _ = student
    batch = _batch(encoded, [0, 1])
    bad = KDTargets(torch.zeros(7, 2, dtype=torch.long), torch.full((7, 2), 0.5), torch.ones(7))
    with pytest.raises(FedMKTError, match="example 1: 7 rows"):
        make_kd_loss({1: bad}, 0.1)(model, batch)


def test_arguments_are_checked():
    with pytest.raises(FedMKTError, match="kd_weight"):
        make_kd_loss({}, 1.5)
    with pytest.raises(FedMKTError, match="temperature"):
        make_kd_loss({}, 0.1, temperature=0.0)
    with pytest.raises(FedMKTError, match="KD targets"):
        KDTargets(torch.zeros(3, 2, dtype=torch.long), torch.zeros(3, 2), torch.zeros(2))


def test_targets_from_aligned_splits_per_sample_and_weights_fallback_rows():
    aligned = AlignedTopK(
        ids=torch.arange(10).reshape(5, 2),
        probs=torch.full((5, 2), 0.25, dtype=torch.float16),
        matched=torch.tensor([True, False, True, True, False]),
    )
    first, second = targets_from_aligned(aligned, [2, 3], unmatched_weight=0.0)
    assert first.ids.tolist() == [[0, 1], [2, 3]] and second.ids.dtype == torch.int64
    assert second.probs.dtype == torch.float32
    assert first.weight.tolist() == [1.0, 0.0] and second.weight.tolist() == [1.0, 1.0, 0.0]
    assert targets_from_aligned(aligned, [5])[0].weight.tolist() == [1.0] * 5
    with pytest.raises(FedMKTError, match="5 rows"):
        targets_from_aligned(aligned, [2, 2])


def _other_answers(batch, vocab):
    """The batch with every gold answer label replaced by another token; the input ids stay."""
    labels = batch["labels"].clone()
    answer = labels != -100
    labels[answer] = (labels[answer] + 1 + torch.arange(int(answer.sum())) % (vocab - 1)) % vocab
    assert (labels[answer] != batch["labels"][answer]).all()
    return {**batch, "labels": labels}


@pytest.mark.parametrize("kd_positions", ["answer", "all"])
def test_without_public_sft_the_gold_answers_reach_neither_the_loss_nor_its_gradient(student, encoded,
                                                                                    kd_positions):
    """Teacher rows fixed (one sample without any): replacing every gold answer token in the labels changes
    nothing without public SFT; with it (the control) the gradient moves, so the test can fail."""
    model, tokenizer = student
    vocab = len(tokenizer)
    batch = _batch(encoded, [0, 3, 5, 1])
    targets = _random_targets(encoded, [0, 5, 1], k=8, vocab=vocab, seed=4, kd_positions=kd_positions)
    t = targets[5]
    targets[5] = KDTargets(t.ids, t.probs * (torch.arange(t.n_positions) % 2)[:, None], t.weight % 2)  # gaps

    def run(kd_weight, public_sft, data):
        model.zero_grad()
        loss, metrics = make_kd_loss(targets, kd_weight, public_sft=public_sft, kd_positions=kd_positions)(model, data)
        loss.backward()
        return loss.detach(), _grads(model), metrics

    gold, gold_grads, metrics = run(1.0, False, batch)
    other, other_grads, _ = run(1.0, False, _other_answers(batch, vocab))
    assert torch.equal(gold, other) and float(gold) == metrics["kd_loss"] > 0
    for name, grad in gold_grads.items():
        assert torch.equal(grad, other_grads[name]), name
    _, sft_grads, _ = run(0.5, True, batch)
    _, moved_grads, _ = run(0.5, True, _other_answers(batch, vocab))
    assert any(not torch.equal(sft_grads[name], moved_grads[name]) for name in sft_grads)


@pytest.mark.parametrize(("kd_weight", "public_sft"), [(0.1, True), (0.7, True), (1.0, False)])
def test_kd_over_all_positions_equals_a_dense_computation_over_every_attended_token(student, encoded, kd_weight,
                                                                                     public_sft):
    """kd_positions all, against the reference's averaging on full logits: SFT the mean over answer tokens,
    KD the mean over every non-padding position that predicts a token (prompt included)."""
    model, tokenizer = student
    vocab = len(tokenizer)
    rows = [2, 0, 4]
    batch = _batch(encoded, rows)
    assert (batch["attention_mask"] == 0).any(), "padded rows"
    targets = _random_targets(encoded, [2, 4], k=vocab, vocab=vocab, seed=5, kd_positions="all")
    model.zero_grad()
    loss, metrics = make_kd_loss(targets, kd_weight, public_sft=public_sft, kd_positions="all")(model, batch)
    loss.backward()
    sparse_grads = _grads(model)

    model.zero_grad()
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits.float()
    mask = batch["attention_mask"].bool()
    scored = mask & torch.roll(mask, -1, dims=1)  # a real token follows
    scored[:, -1] = False
    assert int(scored.sum()) == int(mask.sum()) - len(rows), "every token but each row's last"
    answer = answer_positions(batch["labels"])
    ce = F.cross_entropy(logits[answer], torch.roll(batch["labels"], -1, dims=1)[answer])
    dense = [torch.zeros(_rows(encoded[r], "all"), vocab) for r in rows]
    weights = [torch.zeros(_rows(encoded[r], "all")) for r in rows]
    for slot, r in enumerate(rows):
        if r in targets:
            dense[slot] = dense[slot].scatter_add(-1, targets[r].ids, targets[r].probs / targets[r].probs.sum(-1,
                                                                                                          keepdim=True))
            weights[slot] = targets[r].weight
    kd = (-(torch.cat(dense) * F.log_softmax(logits[scored], -1)).sum(-1) * torch.cat(weights)).sum() / scored.sum()
    reference = (1 - kd_weight) * ce + kd_weight * kd if public_sft else kd
    reference.backward()
    torch.testing.assert_close(loss, reference)
    assert metrics["kd_positions"] == pytest.approx(float((torch.cat(weights) > 0).float().mean()))
    for name, grad in _grads(model).items():
        torch.testing.assert_close(sparse_grads[name], grad, msg=name)


def test_a_teacher_row_at_a_prompt_position_trains_only_with_all_positions(student, encoded):
    model, tokenizer = student
    batch = _batch(encoded, [0])
    prompt_row = int(prediction_positions(batch["attention_mask"])[0].nonzero()[0])  # the first position
    assert not bool(answer_positions(batch["labels"])[0, prompt_row])
    n = _rows(encoded[0], "all")
    weight = torch.zeros(n)
    weight[prompt_row] = 1.0
    ids, probs = torch.full((n, 1), 7), torch.ones(n, 1)
    model.zero_grad()
    make_kd_loss({0: KDTargets(ids, probs, weight)}, 1.0, kd_positions="all")(model, batch)[0].backward()
    assert any(g.abs().sum() > 0 for g in _grads(model).values())
    with pytest.raises(FedMKTError, match="kd_positions"):  # rows for all positions, read as answer rows
        make_kd_loss({0: KDTargets(ids, probs, weight)}, 1.0)(model, batch)
    with pytest.raises(FedMKTError, match="kd_positions must be 'answer' or 'all'"):
        make_kd_loss({}, 0.1, kd_positions="prompt")  # type: ignore[arg-type]


def test_without_gold_fallback_unaligned_rows_carry_no_mass_and_no_weight():
    aligned = AlignedTopK(
        ids=torch.tensor([[4, 5], [9, 9], [6, 7]]),  # row 1: the one-hot on the gold next token 9
        probs=torch.tensor([[0.5, 0.25], [1.0, 0.0], [0.75, 0.125]], dtype=torch.float16),
        matched=torch.tensor([True, False, True]),
    )
    (kept,) = targets_from_aligned(aligned, [3], unmatched_weight=1.0)
    (dropped,) = targets_from_aligned(aligned, [3], unmatched_weight=1.0, fallback=False)
    assert kept.weight.tolist() == [1.0, 1.0, 1.0] and kept.probs[1].tolist() == [1.0, 0.0]
    assert dropped.weight.tolist() == [1.0, 0.0, 1.0] and dropped.probs[1].tolist() == [0.0, 0.0]
    assert torch.equal(dropped.probs[[0, 2]], kept.probs[[0, 2]])


def test_without_public_sft_only_samples_with_a_weighted_teacher_row_are_trained(encoded):
    none = KDTargets(torch.zeros(2, 1, dtype=torch.long), torch.zeros(2, 1), torch.zeros(2))
    some = KDTargets(torch.zeros(2, 1, dtype=torch.long), torch.ones(2, 1), torch.tensor([0.0, 1.0]))
    targets = {1: none, 4: some}
    assert public_examples(encoded, targets) == list(encoded)
    assert [ex.index for ex in public_examples(encoded, targets, public_sft=False)] == [4]
    assert public_examples(encoded, {}, public_sft=False) == []
