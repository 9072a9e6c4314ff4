"""Sparse top-k KD: equals the dense reference, floors at the entropy, tempers exactly, masks, fp32;
the fused SFT+KD that training runs equals the composition of SFT, KD and their weighting, also when
SFT reads only the answer rows (kd_positions all); without public SFT the loss is the KD term alone."""

import pytest
import torch
import torch.nn.functional as F

from fedmkt.core.losses import (
    fused_sft_kd,
    fused_sft_kd_rows,
    public_losses,
    sft_cross_entropy,
    sft_kd_loss,
    sft_kd_losses,
    sparse_kd_loss,
    sparse_kd_per_position,
)
from fedmkt.core.topk import topk_distribution
from fedmkt.data.example import Example
from fedmkt.errors import FedMKTError
from fedmkt.models.logits import selected_logits
from fedmkt.models.lora import attach_lora
from fedmkt.models.tiny import build_tiny_model
from fedmkt.training.batching import collate
from fedmkt.training.encode import encode_examples
from fedmkt.training.sft import answer_positions

VOCAB = 40


def dense_kd_reference(student_logits, teacher_ids, teacher_probs, temperature=1.0, weights=None):
    """The same loss with a dense (n, vocab) teacher target: zeros outside the top-k."""
    q = teacher_probs.float() ** (1.0 / temperature)
    q = q / q.sum(-1, keepdim=True)
    dense = torch.zeros(student_logits.shape, dtype=torch.float32).scatter_add(-1, teacher_ids, q)
    per = -(dense * F.log_softmax(student_logits.float() / temperature, -1)).sum(-1) * temperature**2
    if weights is not None:
        per = per * weights
    return per.mean()


def _logits(n=5, seed=0, scale=3.0):
    return torch.randn(n, VOCAB, generator=torch.Generator().manual_seed(seed)) * scale


def _teacher(n=5, k=8, seed=1):
    return topk_distribution(_logits(n, seed), k)


@pytest.mark.parametrize("temperature", [1.0, 0.5, 2.0])
def test_sparse_equals_dense_reference_value_and_gradient(temperature):
    ids, probs = _teacher()
    ids[0, -2:] = ids[0, 0]  # duplicated ids (as after vocabulary remapping) ...
    probs[1, -3:] = 0.0  # ... and empty slots
    weights = torch.tensor([1.0, 0.0, 1.0, 0.5, 1.0])
    student = _logits().requires_grad_()
    sparse = sparse_kd_loss(student, ids, probs, temperature=temperature, weights=weights)
    (grad_sparse,) = torch.autograd.grad(sparse, student)
    dense = dense_kd_reference(student, ids, probs, temperature, weights)
    (grad_dense,) = torch.autograd.grad(dense, student)
    torch.testing.assert_close(sparse, dense)
    torch.testing.assert_close(grad_sparse, grad_dense)


def test_student_equal_to_teacher_sits_at_the_entropy_floor_with_zero_gradient():
    logits = _logits()
    ids, probs = topk_distribution(logits, k=VOCAB)  # k = vocab: the whole distribution
    for temperature in (1.0, 2.0, 0.7):
        student = logits.clone().requires_grad_()
        loss = sparse_kd_loss(student, ids, probs, temperature=temperature)
        (grad,) = torch.autograd.grad(loss, student)
        tempered = torch.softmax(logits / temperature, -1)
        entropy = -(tempered * tempered.log()).sum(-1).mean() * temperature**2
        torch.testing.assert_close(loss, entropy)
        assert grad.abs().max() < 1e-6
        other = _logits(seed=7).requires_grad_()
        assert sparse_kd_loss(other, ids, probs, temperature=temperature) > loss  # any other student is worse


@pytest.mark.parametrize("k", [VOCAB, 6])
def test_temperature_on_wire_probabilities_equals_tempering_the_teacher_logits(k):
    """Wire probs are at T=1; q**(1/T) renormalised over the top-k is softmax(teacher/T) on those ids."""
    teacher_logits, student = _logits(seed=3), _logits(seed=4)
    ids, probs = topk_distribution(teacher_logits, k)
    temperature = 2.5
    loss = sparse_kd_loss(student, ids, probs, temperature=temperature)
    on_topk = torch.full_like(teacher_logits, float("-inf")).scatter(-1, ids, teacher_logits.gather(-1, ids))
    target = torch.softmax(on_topk / temperature, -1)
    expected = -(target * F.log_softmax(student / temperature, -1)).sum(-1).mean() * temperature**2
    torch.testing.assert_close(loss, expected)


def test_high_temperature_matches_hintons_logit_matching_limit():
    """As T grows, T^2 * KL(teacher_T || student_T) tends to half the variance of the logit gap."""
    teacher_logits, student = _logits(seed=3, scale=1.0), _logits(seed=4, scale=1.0)
    ids, probs = topk_distribution(teacher_logits, k=VOCAB)
    gaps = []
    for temperature in (1.0, 4.0, 100.0):
        target = torch.softmax(teacher_logits / temperature, -1)
        entropy = -(target * target.log()).sum(-1).mean() * temperature**2
        kl = sparse_kd_loss(student, ids, probs, temperature=temperature) - entropy  # T^2 * KL
        gaps.append(float(kl))
    half_var = 0.5 * (student - teacher_logits).var(-1, unbiased=False).mean()
    assert gaps[2] == pytest.approx(float(half_var), rel=2e-2)
    assert all(g > 0 for g in gaps)


def test_masked_positions_contribute_nothing_and_the_mean_runs_over_all_positions():
    ids, probs = _teacher()
    weights = torch.tensor([1.0, 0.0, 1.0, 0.0, 1.0])
    student = _logits().requires_grad_()
    loss = sparse_kd_loss(student, ids, probs, weights=weights)
    (grad,) = torch.autograd.grad(loss, student)
    assert grad[1].abs().max() == 0 and grad[3].abs().max() == 0 and grad[0].abs().max() > 0
    changed = student.detach().clone()
    changed[[1, 3]] = torch.randn(2, VOCAB) * 10
    torch.testing.assert_close(sparse_kd_loss(changed, ids, probs, weights=weights), loss.detach())
    per = sparse_kd_per_position(student.detach(), ids, probs)
    torch.testing.assert_close(loss.detach(), (per * weights).sum() / 5)
    zero = sparse_kd_loss(student, ids, probs, weights=torch.zeros(5))
    assert zero.item() == 0 and zero.requires_grad


def test_zero_mass_rows_and_empty_batches_give_zero():
    ids, probs = _teacher()
    probs[2] = 0.0
    per = sparse_kd_per_position(_logits(), ids, probs)
    assert per[2] == 0 and (per[[0, 1, 3, 4]] > 0).all()
    empty = torch.zeros(0, VOCAB, requires_grad=True)
    loss = sparse_kd_loss(empty, torch.zeros(0, 8, dtype=torch.long), torch.zeros(0, 8))
    loss.backward()
    assert loss.item() == 0 and loss.dtype == torch.float32 and empty.grad is not None


def test_bf16_logits_are_computed_in_fp32():
    ids, probs = _teacher()
    student = _logits().bfloat16().requires_grad_()
    loss = sparse_kd_loss(student, ids, probs.bfloat16())
    assert loss.dtype == torch.float32
    torch.testing.assert_close(
        loss, dense_kd_reference(student.detach().float(), ids, probs.bfloat16().float())
    )
    loss.backward()
    assert student.grad.dtype == torch.bfloat16 and student.grad.abs().sum() > 0


def test_bad_shapes_and_arguments_are_one_line_errors():
    ids, probs = _teacher()
    with pytest.raises(FedMKTError, match="teacher rows"):
        sparse_kd_loss(_logits(n=4), ids, probs)
    with pytest.raises(FedMKTError, match="teacher_probs"):
        sparse_kd_loss(_logits(), ids, probs[:, :3])
    with pytest.raises(FedMKTError, match="weights"):
        sparse_kd_loss(_logits(), ids, probs, weights=torch.ones(3))
    with pytest.raises(FedMKTError, match="temperature"):
        sparse_kd_loss(_logits(), ids, probs, temperature=0.0)


def test_sft_kd_combination_follows_the_reference_weights():
    sft, kd = torch.tensor(2.0), torch.tensor(5.0, dtype=torch.bfloat16)
    combined = sft_kd_loss(sft, kd, kd_weight=0.1)
    assert combined.dtype == torch.float32 and combined.item() == pytest.approx(0.9 * 2.0 + 0.1 * 5.0)
    assert sft_kd_loss(sft, kd, 0.0).item() == 2.0
    with pytest.raises(FedMKTError, match="kd_weight"):
        sft_kd_loss(sft, kd, 1.5)


def test_kd_trains_a_tiny_lora_student_toward_its_teacher():
    """Gradient flows through selected logits into LoRA weights, and a few steps lower the KD loss."""
    teacher, tok = build_tiny_model("tiny-llama-bpe", seed=1)
    base, _ = build_tiny_model("tiny-llama-bpe", seed=0)
    student = attach_lora(base, r=4, alpha=8, dropout=0.0)
    examples = [Example(f"p/{i}", f"Question: What is {i} plus {i}?\nAnswer:", f" {2 * i}") for i in range(4)]
    batch = collate(encode_examples(tok, examples, max_length=64), tok.pad_token_id)
    positions = answer_positions(batch["labels"])
    with torch.no_grad():
        ids, probs = topk_distribution(
            selected_logits(teacher, batch["input_ids"], batch["attention_mask"], positions), k=16
        )
    params = [p for p in student.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(params, lr=1e-2)
    losses = []
    for _ in range(8):
        logits = selected_logits(student, batch["input_ids"], batch["attention_mask"], positions)
        loss = sparse_kd_loss(logits, ids, probs)
        optimizer.zero_grad()
        loss.backward()
        assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in params)
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0] - 0.1, losses


def _unfused(logits, labels, ids, probs, weights, kd_weight, temperature=1.0):
    """SFT, KD and their weighting, each from its own pure function."""
    sft = sft_cross_entropy(logits, labels)
    kd = sparse_kd_loss(logits, ids, probs, temperature=temperature, weights=weights)
    return sft, kd, sft_kd_loss(sft, kd, kd_weight)


def _kd_rows(n, vocab, k, seed, unmatched_weight):
    """Teacher rows as training sees them: top-k of random logits, one-hot fallback rows (weight
    ``unmatched_weight``, None: none) and positions without a teacher (zero ids/probs, weight 0)."""
    gen = torch.Generator().manual_seed(seed)
    ids, probs = topk_distribution(torch.randn(n, vocab, generator=gen) * 3, k)
    weights = torch.ones(n)
    kind = torch.randint(0, 3, (n,), generator=gen)
    if unmatched_weight is not None:
        fallback = kind == 1
        ids[fallback] = torch.randint(0, vocab, (int(fallback.sum()), 1), generator=gen).expand(-1, k)
        probs[fallback] = F.one_hot(torch.zeros(int(fallback.sum()), dtype=torch.long), k).float()
        weights[fallback] = unmatched_weight
    absent = kind == 2
    ids[absent], probs[absent], weights[absent] = 0, 0.0, 0.0
    return ids, probs * 0.9, weights  # top-k mass below 1, as on the wire


@pytest.mark.parametrize(("n", "vocab", "k", "seed"), [(1, 7, 1, 0), (9, 40, 8, 1), (33, 300, 16, 2), (64, 50, 50, 3)])
@pytest.mark.parametrize("kd_weight", [0.0, 0.1, 0.5, 1.0])
@pytest.mark.parametrize("unmatched_weight", [None, 1.0, 0.3, 0.0])
def test_fused_sft_kd_equals_the_unfused_composition(n, vocab, k, seed, kd_weight, unmatched_weight):
    ids, probs, weights = _kd_rows(n, vocab, k, seed + 10, unmatched_weight)
    labels = torch.randint(0, vocab, (n,), generator=torch.Generator().manual_seed(seed + 20))
    logits = (torch.randn(n, vocab, generator=torch.Generator().manual_seed(seed)) * 2).requires_grad_()
    sft, kd, loss = fused_sft_kd(logits, labels, ids, probs, weights, kd_weight)
    (grad,) = torch.autograd.grad(loss, logits)
    ref_sft, ref_kd, ref_loss = _unfused(logits, labels, ids, probs, weights, kd_weight)
    (ref_grad,) = torch.autograd.grad(ref_loss, logits)
    torch.testing.assert_close(loss, ref_loss)
    torch.testing.assert_close(grad, ref_grad)
    torch.testing.assert_close(sft, ref_sft.detach())
    torch.testing.assert_close(kd, ref_kd.detach())
    assert not sft.requires_grad and not kd.requires_grad


@pytest.mark.parametrize("temperature", [0.5, 1.0, 2.0, 4.0])
def test_the_training_loss_is_the_composition_at_every_temperature(temperature):
    ids, probs, weights = _kd_rows(12, 40, 8, 5, 0.5)
    labels = torch.randint(0, 40, (12,), generator=torch.Generator().manual_seed(6))
    logits = _logits(n=12, seed=7).requires_grad_()
    sft, kd, loss = sft_kd_losses(logits, labels, ids, probs, weights, 0.3, temperature)
    ref_sft, ref_kd, ref_loss = _unfused(logits, labels, ids, probs, weights, 0.3, temperature)
    torch.testing.assert_close(loss, ref_loss)
    torch.testing.assert_close(torch.stack([sft, kd]), torch.stack([ref_sft, ref_kd]).detach())
    (grad,) = torch.autograd.grad(loss, logits)
    (ref_grad,) = torch.autograd.grad(ref_loss, logits)
    torch.testing.assert_close(grad, ref_grad)


def test_fused_sft_kd_on_no_positions_is_zero_and_attached():
    logits = torch.zeros(0, VOCAB, requires_grad=True)
    sft, kd, loss = fused_sft_kd(logits, torch.zeros(0, dtype=torch.long), torch.zeros(0, 4, dtype=torch.long),
                                 torch.zeros(0, 4), torch.zeros(0), 0.1)
    loss.backward()
    assert (sft.item(), kd.item(), loss.item()) == (0.0, 0.0, 0.0) and logits.grad is not None


@pytest.mark.parametrize(("n", "vocab", "k", "seed"), [(1, 7, 1, 0), (9, 40, 8, 1), (33, 300, 16, 2)])
@pytest.mark.parametrize("kd_weight", [0.0, 0.1, 0.5, 1.0])
def test_sft_on_answer_rows_and_kd_on_all_rows_is_the_composition_of_their_means(n, vocab, k, seed, kd_weight):
    """kd_positions all: SFT is the mean over the answer rows only, KD the weighted mean over every row."""
    ids, probs, weights = _kd_rows(n, vocab, k, seed + 10, 1.0)
    gen = torch.Generator().manual_seed(seed + 30)
    labels = torch.randint(0, vocab, (n,), generator=gen)
    answer = torch.rand(n, generator=gen) < 0.4
    answer[-1] = True  # every sample ends with its answer
    logits = (torch.randn(n, vocab, generator=torch.Generator().manual_seed(seed)) * 2).requires_grad_()
    for temperature in (1.0, 2.0):
        sft, kd, loss = public_losses(logits, labels, ids, probs, weights, kd_weight, temperature, sft_rows=answer)
        ref_sft = sft_cross_entropy(logits[answer], labels[answer])
        ref_kd = sparse_kd_loss(logits, ids, probs, temperature=temperature, weights=weights)
        ref_loss = (1 - kd_weight) * ref_sft + kd_weight * ref_kd
        torch.testing.assert_close(loss, ref_loss)
        torch.testing.assert_close(torch.stack([sft, kd]), torch.stack([ref_sft, ref_kd]).detach())
        (grad,) = torch.autograd.grad(loss, logits)
        (ref_grad,) = torch.autograd.grad(ref_loss, logits)
        torch.testing.assert_close(grad, ref_grad)
        if kd_weight < 1:  # the prompt rows' labels are not trained on
            other = labels.clone()
            other[~answer] = (other[~answer] + 1) % vocab
            (moved,) = torch.autograd.grad(public_losses(logits, other, ids, probs, weights, kd_weight, temperature,
                                                         sft_rows=answer)[2], logits)
            torch.testing.assert_close(moved, grad)


def test_sft_rows_covering_every_row_give_the_answer_only_loss():
    ids, probs, weights = _kd_rows(12, 40, 8, 3, 1.0)
    labels = torch.randint(0, 40, (12,), generator=torch.Generator().manual_seed(4))
    logits = _logits(n=12, seed=5)
    everything = torch.ones(12, dtype=torch.bool)
    torch.testing.assert_close(fused_sft_kd_rows(logits, labels, everything, ids, probs, weights, 0.3),
                               fused_sft_kd(logits, labels, ids, probs, weights, 0.3))
    assert torch.equal(public_losses(logits, labels, ids, probs, weights, 0.3)[2],
                       fused_sft_kd(logits, labels, ids, probs, weights, 0.3)[2]), "the default path is unchanged"


@pytest.mark.parametrize("temperature", [1.0, 2.0])
@pytest.mark.parametrize("answer_only", [True, False])
def test_without_public_sft_the_loss_is_the_kd_term_and_no_label_reaches_its_gradient(temperature, answer_only):
    ids, probs, weights = _kd_rows(20, 40, 8, 6, 0.0)
    labels = torch.randint(0, 40, (20,), generator=torch.Generator().manual_seed(7))
    rows = None if answer_only else torch.arange(20) >= 12
    logits = _logits(n=20, seed=8).requires_grad_()
    sft, kd, loss = public_losses(logits, labels, ids, probs, weights, 1.0, temperature, sft_rows=rows,
                                  public_sft=False)
    ref = sparse_kd_loss(logits, ids, probs, temperature=temperature, weights=weights)
    assert torch.equal(loss, ref) and torch.equal(kd, ref.detach())
    scored = slice(None) if rows is None else rows
    torch.testing.assert_close(sft, sft_cross_entropy(logits[scored], labels[scored]).detach())
    (grad,) = torch.autograd.grad(loss, logits)
    other = (labels + torch.randint(1, 40, (20,), generator=torch.Generator().manual_seed(9))) % 40
    assert (other != labels).all()
    (grad_other,) = torch.autograd.grad(public_losses(logits, other, ids, probs, weights, 1.0, temperature,
                                                      sft_rows=rows, public_sft=False)[2], logits)
    assert torch.equal(grad, grad_other), "the gold labels moved the gradient"
    (with_sft,) = torch.autograd.grad(public_losses(logits, other, ids, probs, weights, 0.5, temperature,
                                                    sft_rows=rows)[2], logits)
    assert not torch.equal(with_sft, torch.autograd.grad(public_losses(
        logits, labels, ids, probs, weights, 0.5, temperature, sft_rows=rows)[2], logits)[0]), "control: SFT reads them"
