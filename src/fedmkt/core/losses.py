"""SFT + lambda-weighted KD toward the selected teacher's top-k distribution, computed sparsely.

Paper section 3.2, Eq. (9)-(10): each side trains on the public set with its supervised loss
plus a distillation loss toward the teacher chosen by DualMinCE, weighted by a hyperparameter
(the equations were lost from the text; the reference code computes
``0.9 * SFT + 0.1 * KD``, i.e. ``(1 - lambda) * SFT + lambda * KD`` with ``lambda = 0.1``).

KD here is the cross-entropy from the teacher's top-k distribution to the student's softmax,
as in the reference (FuseLLM/FATE "ce"): its gradient equals that of KL(teacher || student);
its value exceeds the KL by the teacher's entropy, a constant for the student.

Sparse: the student's log-softmax is normalised over its FULL vocabulary row (``logsumexp``)
but only read at the teacher's k ids (a gather), so no dense ``(batch, seq, vocab)`` target is
ever built; the student's logits come from ``fedmkt.models.logits.selected_logits`` at the
scored positions only, shape ``(n, vocab)``. All maths in fp32.

What training runs is :func:`public_losses`: by default :func:`sft_kd_losses`, at ``T = 1`` (the
default) :func:`fused_sft_kd`, one gather for both terms, tested equal to composing
:func:`sft_cross_entropy`, :func:`sparse_kd_loss` and :func:`sft_kd_loss`, which it runs at any
other temperature. With ``kd_positions: all`` SFT reads the answer rows and KD every row
(:func:`fused_sft_kd_rows`); with ``public_sft: false`` the loss is the KD term alone.

Decisions:

- Teacher rows are renormalised over their k entries (the top-k mass is < 1 and the missing
  mass's whereabouts are unknown). Rows with zero mass contribute nothing.
- Temperature ``T`` divides the student's logits and tempers the teacher as ``q ** (1 / T)``
  renormalised over the k ids, which equals the teacher's softmax at temperature ``T``
  restricted to its top-k; the result is multiplied by ``T ** 2`` (Hinton et al., 2015) so
  gradient sizes do not shrink with ``T``.
- The mean runs over all ``n`` positions given, with per-position ``weights`` (0 for samples
  DualMinCE did not select): as in the paper's indicator form and the reference, unselected
  positions count as zero KD rather than being dropped from the average.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from fedmkt.errors import FedMKTError


def sparse_kd_per_position(
    student_logits: Tensor, teacher_ids: Tensor, teacher_probs: Tensor, *, temperature: float = 1.0
) -> Tensor:
    """KD cross-entropy at each position.

    Args:
        student_logits: ``(n, vocab)`` student logits at the scored positions (any float dtype).
        teacher_ids: ``(n, k)`` int64 teacher ids in the student's vocabulary (after alignment).
            Repeated ids are fine (their probabilities add up).
        teacher_probs: ``(n, k)`` non-negative teacher probabilities (need not sum to 1).
        temperature: softmax temperature ``T > 0``.

    Returns:
        ``(n,)`` float32 ``-T^2 * sum_j q_j log p_student(id_j)`` with ``q`` the tempered and
        renormalised teacher row.
    """
    if student_logits.dim() != 2 or teacher_ids.dim() != 2 or teacher_ids.shape != teacher_probs.shape:
        raise FedMKTError(
            "sparse_kd: expected student_logits (n, vocab), teacher_ids and teacher_probs (n, k), got "
            f"{tuple(student_logits.shape)}, {tuple(teacher_ids.shape)} and {tuple(teacher_probs.shape)}"
        )
    if teacher_ids.shape[0] != student_logits.shape[0]:
        raise FedMKTError(
            f"sparse_kd: {student_logits.shape[0]} student rows but {teacher_ids.shape[0]} teacher rows"
        )
    if not temperature > 0:
        raise FedMKTError(f"sparse_kd: temperature must be > 0, got {temperature}")
    scaled = student_logits.float()  # (n, vocab); no copy when already float32
    if temperature != 1.0:
        scaled = scaled / temperature
    student_logp = torch.log_softmax(scaled, dim=-1)  # (n, vocab)
    ids = teacher_ids.to(device=student_logp.device, dtype=torch.long)
    picked = student_logp.gather(-1, ids)  # (n, k)
    q = teacher_probs.detach().to(student_logp.device).float().clamp_min(0.0)
    if temperature != 1.0:
        q = q.pow(1.0 / temperature)
    q = _renormalised(q)  # (n, k)
    return -(q * picked).sum(dim=-1) * temperature**2


def _renormalised(q: Tensor) -> Tensor:
    """``(n, k)`` rows divided by their sums; a row of zeros stays zeros."""
    return q / q.sum(dim=-1, keepdim=True).clamp_min(torch.finfo(torch.float32).tiny)


def sparse_kd_loss(
    student_logits: Tensor,
    teacher_ids: Tensor,
    teacher_probs: Tensor,
    *,
    temperature: float = 1.0,
    weights: Tensor | None = None,
) -> Tensor:
    """Mean KD over the ``n`` positions, float32 scalar with gradient to ``student_logits``.

    Args:
        student_logits, teacher_ids, teacher_probs, temperature: as
            :func:`sparse_kd_per_position`.
        weights: optional ``(n,)`` per-position weights, e.g. 1 where DualMinCE selected the
            sample and 0 elsewhere (or 0 on alignment fallback rows). The sum is divided by
            ``n``, not by the weights' sum.

    Returns:
        Scalar; 0 (still attached to the graph) when ``n == 0``.
    """
    per_position = sparse_kd_per_position(student_logits, teacher_ids, teacher_probs, temperature=temperature)
    if weights is not None:
        if weights.shape != per_position.shape:
            raise FedMKTError(
                f"sparse_kd: expected weights of shape {tuple(per_position.shape)}, "
                f"got {tuple(weights.shape)}"
            )
        per_position = per_position * weights.to(per_position.device).float()
    if per_position.numel() == 0:
        return student_logits.float().sum() * 0.0
    return per_position.mean()


def sft_kd_loss(sft: Tensor, kd: Tensor, kd_weight: float) -> Tensor:
    """``(1 - kd_weight) * sft + kd_weight * kd``; the reference uses ``kd_weight = 0.1``."""
    if not 0.0 <= kd_weight <= 1.0:
        raise FedMKTError(f"kd_weight must be in [0, 1], got {kd_weight}")
    return (1.0 - kd_weight) * sft.float() + kd_weight * kd.float()


def sft_cross_entropy(logits: Tensor, labels: Tensor) -> Tensor:
    """SFT: mean cross-entropy (fp32) of ``(n, vocab)`` logits at answer positions against ``(n,)`` labels."""
    return F.cross_entropy(logits.float(), labels)


def fused_sft_kd(
    logits: Tensor, labels: Tensor, teacher_ids: Tensor, teacher_probs: Tensor, weights: Tensor, kd_weight: float
) -> tuple[Tensor, Tensor, Tensor]:
    """SFT, KD and ``(1 - lambda) * SFT + lambda * KD`` at temperature 1, from ONE gather.

    Equal (up to rounding) to :func:`sft_cross_entropy`, :func:`sparse_kd_loss` with
    ``weights`` and :func:`sft_kd_loss`. Both losses are cross-entropies against sparse targets
    on the same log-softmax: the label (weight ``1 - lambda``) and the teacher's top-k (weights
    ``lambda * w * q``). Gathering them together means backward builds one ``(n, vocab)``
    gradient, exactly as plain SFT does; separate ``nll_loss`` and ``gather`` calls would each
    build one and then add them (Gemma's rows are 262,144 wide, so that was the KD step's extra
    memory).

    Args:
        logits: ``(n, vocab)`` student logits at the answer positions (any float dtype).
        labels: ``(n,)`` int64 answer token each position predicts.
        teacher_ids: ``(n, k)`` int64 teacher ids in the student's vocabulary.
        teacher_probs: ``(n, k)`` teacher probabilities (renormalised over the k entries).
        weights: ``(n,)`` KD weight per position (0 where there is no teacher).
        kd_weight: lambda in ``[0, 1]``.

    Returns:
        The SFT and KD values (detached, for metrics) and the loss (with gradient), all fp32
        scalars; all three 0 when ``n == 0``.
    """
    logp = torch.log_softmax(logits.float(), dim=-1)  # (n, vocab): the one tensor kept for backward
    if logp.shape[0] == 0:
        zero = logp.sum() * 0.0
        return zero.detach(), zero.detach(), zero
    q = _renormalised(teacher_probs.float().clamp_min(0.0))  # (n, k)
    picked = logp.gather(-1, torch.cat([labels[:, None], teacher_ids.long()], dim=-1))  # (n, 1 + k)
    coef = torch.cat([torch.full_like(q[:, :1], 1.0 - kd_weight), kd_weight * weights.float()[:, None] * q], dim=-1)
    loss = -(coef * picked).sum(dim=-1).mean()
    with torch.no_grad():
        sft = -picked[:, 0].mean()
        kd = (-(q * picked[:, 1:]).sum(dim=-1) * weights.float()).mean()
    return sft, kd, loss


def sft_kd_losses(
    logits: Tensor, labels: Tensor, teacher_ids: Tensor, teacher_probs: Tensor, weights: Tensor,
    kd_weight: float, temperature: float = 1.0,
) -> tuple[Tensor, Tensor, Tensor]:
    """The public-phase loss: :func:`fused_sft_kd` at ``T = 1``, else SFT and tempered KD composed.

    At ``T != 1`` SFT reads the plain log-softmax and KD the tempered one, so one gather cannot
    serve both. Shapes and returns as :func:`fused_sft_kd` (SFT and KD detached).
    """
    if temperature == 1.0:
        return fused_sft_kd(logits, labels, teacher_ids, teacher_probs, weights, kd_weight)
    sft = sft_cross_entropy(logits, labels)
    kd = sparse_kd_loss(logits, teacher_ids, teacher_probs, temperature=temperature, weights=weights)
    return sft.detach(), kd.detach(), sft_kd_loss(sft, kd, kd_weight)


def fused_sft_kd_rows(
    logits: Tensor, labels: Tensor, sft_rows: Tensor, teacher_ids: Tensor, teacher_probs: Tensor, weights: Tensor,
    kd_weight: float,
) -> tuple[Tensor, Tensor, Tensor]:
    """:func:`fused_sft_kd` when SFT reads only some of the rows (``kd_positions: all``), at ``T = 1``.

    ``(1 - lambda) * SFT + lambda * KD`` with SFT the mean cross-entropy over the ``sft_rows`` (the
    answer positions) and KD the weighted mean over ALL ``n`` rows, each a mean over its own rows as
    the reference averages its LM loss (over labelled tokens) and its distillation loss (over every
    attended token); still one gather. Equal (up to rounding) to :func:`sft_cross_entropy` on the
    SFT rows, :func:`sparse_kd_loss` on all rows and :func:`sft_kd_loss`.

    Args:
        logits, labels, teacher_ids, teacher_probs, weights, kd_weight: as :func:`fused_sft_kd`, over
            every scored row (``labels``: each row's next token).
        sft_rows: ``(n,)`` bool, the rows SFT reads (at least one when ``n > 0``).
    """
    logp = torch.log_softmax(logits.float(), dim=-1)  # (n, vocab)
    n = logp.shape[0]
    if n == 0:
        zero = logp.sum() * 0.0
        return zero.detach(), zero.detach(), zero
    share = n / max(int(sft_rows.sum()), 1)  # the SFT mean over its rows, written as a mean over all n
    q = _renormalised(teacher_probs.float().clamp_min(0.0))  # (n, k)
    picked = logp.gather(-1, torch.cat([labels[:, None], teacher_ids.long()], dim=-1))  # (n, 1 + k)
    sft_coef = (1.0 - kd_weight) * share * sft_rows.float()[:, None]  # (n, 1)
    coef = torch.cat([sft_coef, kd_weight * weights.float()[:, None] * q], dim=-1)
    loss = -(coef * picked).sum(dim=-1).mean()
    with torch.no_grad():
        sft = -picked[sft_rows, 0].mean()
        kd = (-(q * picked[:, 1:]).sum(dim=-1) * weights.float()).mean()
    return sft, kd, loss


def public_losses(
    logits: Tensor, labels: Tensor, teacher_ids: Tensor, teacher_probs: Tensor, weights: Tensor,
    kd_weight: float, temperature: float = 1.0, *, sft_rows: Tensor | None = None, public_sft: bool = True,
) -> tuple[Tensor, Tensor, Tensor]:
    """The public-phase loss over ``n`` scored rows, for both switches of the exchange settings.

    - ``public_sft`` (the paper's loss): ``(1 - lambda) * SFT + lambda * KD``; with ``sft_rows`` None
      every row is an answer row and this is :func:`sft_kd_losses` exactly, else
      :func:`fused_sft_kd_rows` (composed at ``T != 1``).
    - not ``public_sft``: KD alone (:func:`sparse_kd_loss` with the weights), whatever ``kd_weight``;
      the gold ``labels`` never enter the loss. The SFT value is still returned, computed without
      gradient over the SFT rows, so a run can watch the gold answers' cross-entropy move.

    Returns the SFT and KD values (detached) and the loss, as :func:`fused_sft_kd`.
    """
    if public_sft and sft_rows is None:
        return sft_kd_losses(logits, labels, teacher_ids, teacher_probs, weights, kd_weight, temperature)
    rows = torch.ones_like(labels, dtype=torch.bool) if sft_rows is None else sft_rows
    if public_sft and temperature == 1.0:
        return fused_sft_kd_rows(logits, labels, rows, teacher_ids, teacher_probs, weights, kd_weight)
    kd = sparse_kd_loss(logits, teacher_ids, teacher_probs, temperature=temperature, weights=weights)
    if not public_sft:
        with torch.no_grad():
            sft = sft_cross_entropy(logits[rows], labels[rows]) if bool(rows.any()) else kd * 0.0
        return sft.detach(), kd.detach(), kd
    sft = sft_cross_entropy(logits[rows], labels[rows])
    return sft.detach(), kd.detach(), sft_kd_loss(sft, kd, kd_weight)
