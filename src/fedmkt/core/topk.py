"""What a model says about the public set: top-k next-token distributions and the answer's NLL.

Paper section 3.2 (FedMKT workflow, steps 2 and 5) and 3.3 (communication complexity): each
side runs its model over the public set and sends, per sample, "output logits" (the top-k of
the next-token distribution at every scored position) and "the corresponding cross-entropy
losses" that DualMinCE compares (see ``fedmkt.core.selection``).

Scored positions are the answer positions of ``fedmkt.training.sft.answer_positions``: the
logits at position ``i`` predict token ``i + 1``, and only positions whose next token is an
answer (or ``eos``) token are kept. Callers get their logits with
``fedmkt.models.logits.selected_logits``, shape ``(n_positions, vocab)``, never the dense
``(batch, seq, vocab)`` tensor.

Decisions:

- Probabilities are those of the FULL softmax (over the whole vocabulary row), restricted to
  the top-k ids, and are NOT renormalised here: a row sums to the top-k mass (< 1), which the
  receiver can check and log. The KD loss renormalises (``fedmkt.core.losses``).
- Maths in fp32 whatever the logits' dtype (bf16 logits round probabilities to 3 digits).
"""

from __future__ import annotations

import torch
from torch import Tensor

from fedmkt.errors import FedMKTError


def topk_distribution(logits: Tensor, k: int, temperature: float = 1.0) -> tuple[Tensor, Tensor]:
    """Top-k of the softmax over each full row.

    Only the row's log-sum-exp and the ``k`` winning logits are turned into probabilities, so
    no second ``(n, vocab)`` probability tensor is built.

    Args:
        logits: ``(n, vocab)`` logits at scored positions (any float dtype).
        k: how many ids to keep per row; capped at ``vocab``.
        temperature: softmax temperature. Leave it at 1 for what goes on the wire (the KD loss
            applies its own temperature to both sides); other values are for experiments.

    Returns:
        ``ids`` ``(n, min(k, vocab))`` int64 by descending probability, and ``probs`` of the
        same shape, float32, each row summing to the top-k mass (at most 1).
    """
    if logits.dim() != 2:
        raise FedMKTError(
            f"topk_distribution: expected logits of shape (n, vocab), got {tuple(logits.shape)}"
        )
    if k < 1:
        raise FedMKTError(f"topk_distribution: k must be >= 1, got {k}")
    if not temperature > 0:
        raise FedMKTError(f"topk_distribution: temperature must be > 0, got {temperature}")
    scaled = logits.detach().float() / temperature  # (n, vocab)
    top_logits, ids = torch.topk(scaled, min(k, scaled.shape[-1]), dim=-1)  # (n, k)
    log_norm = torch.logsumexp(scaled, dim=-1, keepdim=True)  # (n, 1)
    return ids, torch.exp(top_logits - log_norm)


def answer_nll(
    logits: Tensor, next_ids: Tensor, sample_index: Tensor, n_samples: int | None = None
) -> Tensor:
    """Total negative log-likelihood (nats, fp32) of each sample's answer tokens.

    This is the per-sample "cross-entropy" that DualMinCE compares. It is a sum, not a mean
    per token: the answer text is the same for every model, so its total NLL is comparable
    across tokenizers, while a mean per token favours tokenizers that cut the text finer.

    Args:
        logits: ``(n, vocab)`` logits at scored positions.
        next_ids: ``(n,)`` the true next token at each position (the answer token it predicts).
        sample_index: ``(n,)`` int, which sample (``0 .. n_samples - 1``) each position belongs to.
        n_samples: number of samples; default ``sample_index.max() + 1``. Samples without any
            position get NLL 0.

    Returns:
        ``(n_samples,)`` float32 NLL per sample, on ``logits``' device, no gradient.
    """
    if logits.dim() != 2 or next_ids.shape != logits.shape[:1] or sample_index.shape != logits.shape[:1]:
        raise FedMKTError(
            "answer_nll: expected logits (n, vocab), next_ids (n,) and sample_index (n,), got "
            f"{tuple(logits.shape)}, {tuple(next_ids.shape)} and {tuple(sample_index.shape)}"
        )
    if n_samples is None:
        n_samples = int(sample_index.max()) + 1 if sample_index.numel() else 0
    if sample_index.numel() and (int(sample_index.min()) < 0 or int(sample_index.max()) >= n_samples):
        raise FedMKTError(f"answer_nll: sample_index must lie in [0, {n_samples})")
    nll = torch.nn.functional.cross_entropy(
        logits.detach().float(), next_ids.long(), reduction="none"
    )  # (n,)
    totals = torch.zeros(n_samples, dtype=torch.float32, device=logits.device)
    return totals.index_add_(0, sample_index.long().to(logits.device), nll)
