"""The loss of the public-set phases: ``(1 - lambda) * SFT + lambda * KD`` toward aligned teacher rows.

Paper section 3.2, Eq. (9)-(10), workflow steps 4 (server) and 8 (clients). The teacher's
top-k distributions have already been aligned into the student's vocabulary and onto the
student's answer positions (``fedmkt.core.alignment``); here they become, per public sample,
a :class:`KDTargets` (one row per answer position), and :func:`make_kd_loss` turns a table of
them into a ``loss_fn(model, batch)`` for ``fedmkt.training.loop.train``.

How the mean is taken: the student's logits are computed once, at the batch's answer
positions only (``answer_logits``, ``(n, vocab)``). SFT is the mean cross-entropy over those
``n`` positions; KD is ``fedmkt.core.losses.sparse_kd_loss`` over the same ``n`` positions with
per-position weights, 0 on every position of a sample that DualMinCE did not select (or that
has no targets), and the sum is divided by ``n``, not by the weights' sum. So a sample without
a teacher is trained by SFT alone, and the KD term's strength scales with the share of
selected positions, as in the paper's indicator form and the reference code. The training
loop then weights micro-batches by their answer-token counts, so the whole phase averages
over answer tokens. Both terms come from ``fedmkt.core.losses.public_losses`` (by default
``sft_kd_losses``: at temperature 1 from one gather, ``fused_sft_kd``).

The two switches of :class:`~fedmkt.core.exchange_settings.ExchangeSettings`:

- ``public_sft`` False: the loss is the KD term alone, so the public set's gold answers never enter
  it (DualMinCE still compares answer NLLs, as the paper requires). Positions without an aligned
  teacher row carry no target at all (zero mass and weight: no gold one-hot, see
  :func:`targets_from_aligned`) and still count in the mean, as unselected positions always do;
  samples with no teacher row are left out of the phase (:func:`public_examples`), so they cost
  no step and dilute no batch, and a side with no teacher row anywhere skips the phase.
- ``kd_positions`` ``all``: the logits are taken at every position that predicts a token of the
  sample, prompt included (``fedmkt.training.sft.sequence_logits``); the targets have one row per
  such position; SFT stays the mean over the answer positions and KD is the mean over all of them,
  each over its own rows, as the reference averages its two terms. The loop weights micro-batches by
  their answer tokens, so the KD mean is exact per optimizer step at ``grad_accum`` 1 (the default).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from fedmkt.core.alignment import AlignedTopK
from fedmkt.core.losses import public_losses
from fedmkt.errors import FedMKTError
from fedmkt.training.batching import Batch
from fedmkt.training.encode import EncodedExample
from fedmkt.training.loop import LossFn
from fedmkt.training.sft import answer_logits, sequence_logits


@dataclass(frozen=True)
class KDTargets:
    """A teacher's distributions for one public sample, at the student's answer positions.

    Attributes:
        ids: ``(T, k)`` int64 ids in the student's vocabulary (``T`` = the sample's answer
            positions under the student's tokenizer, in sequence order).
        probs: ``(T, k)`` float32 teacher probabilities (need not sum to 1; the loss renormalises).
        weight: ``(T,)`` float32 KD weight per position (1 where distilled; see
            :func:`targets_from_aligned` for alignment fallback rows).
    """

    ids: Tensor
    probs: Tensor
    weight: Tensor

    def __post_init__(self) -> None:
        shapes_agree = self.probs.shape == self.ids.shape and self.weight.shape == self.ids.shape[:1]
        if self.ids.dim() != 2 or not shapes_agree:
            raise FedMKTError(
                f"KD targets: expected ids and probs (T, k) and weight (T,), got {tuple(self.ids.shape)}, "
                f"{tuple(self.probs.shape)} and {tuple(self.weight.shape)}"
            )

    @property
    def n_positions(self) -> int:
        return int(self.ids.shape[0])


def targets_from_aligned(
    aligned: AlignedTopK, counts: Sequence[int], unmatched_weight: float = 1.0, *, fallback: bool = True
) -> list[KDTargets]:
    """Split ``Aligner.align_topk_batch`` output into one :class:`KDTargets` per sample.

    Args:
        aligned: ``(sum T_i, k)`` rows of several samples, concatenated in order.
        counts: ``T_i``, each sample's number of scored positions.
        unmatched_weight: KD weight of alignment fallback rows (``aligned.matched`` False), which
            are a one-hot on the student's own next token, so at weight 1 they act as extra SFT
            there (what FuseLLM/FATE do); 0 drops them from the KD term.
        fallback: False (``public_sft`` False): fallback rows carry nothing, neither the gold
            one-hot's mass nor weight, whatever ``unmatched_weight`` says.
    """
    if sum(counts) != aligned.ids.shape[0]:
        raise FedMKTError(f"aligned top-k: {aligned.ids.shape[0]} rows for samples totalling {sum(counts)}")
    if not 0.0 <= unmatched_weight <= 1.0:
        raise FedMKTError(f"unmatched_weight must be in [0, 1], got {unmatched_weight}")
    weight = torch.where(aligned.matched, 1.0, float(unmatched_weight) if fallback else 0.0).float()
    probs_all = aligned.probs if fallback else torch.where(aligned.matched[:, None], aligned.probs, 0)
    counts = list(counts)
    return [
        KDTargets(ids.long(), probs.float(), w)
        for ids, probs, w in zip(
            aligned.ids.split(counts), probs_all.split(counts), weight.split(counts), strict=True
        )
    ]


def public_examples(
    encoded: Sequence[EncodedExample], targets_by_index: Mapping[int, KDTargets], public_sft: bool = True
) -> list[EncodedExample]:
    """The public samples a side trains on: all of them, or without public SFT only those with a teacher row.

    A sample with no weighted teacher row would add nothing to a KD-only loss but zeros to the mean
    and optimizer steps with no gradient (which AdamW's momentum and weight decay still move).
    """
    if public_sft:
        return list(encoded)
    return [ex for ex in encoded if (t := targets_by_index.get(ex.index)) is not None and bool((t.weight > 0).any())]


def _batch_targets(
    targets_by_index: Mapping[int, KDTargets], index: Tensor, counts: Sequence[int]
) -> tuple[Tensor, Tensor, Tensor]:
    """Concatenate the batch's rows (batch-major, then position order); zero rows where absent.

    Samples of one batch may come from teachers with different ``k``: narrower rows are padded
    with probability 0 (which the loss ignores).
    """
    found = [targets_by_index.get(int(i)) for i in index.tolist()]
    k = max((t.ids.shape[1] for t in found if t is not None), default=1)
    ids, probs, weights = [], [], []
    for row, (target, count) in enumerate(zip(found, counts, strict=True)):
        if target is None:
            ids.append(torch.zeros((count, k), dtype=torch.long))
            probs.append(torch.zeros((count, k)))
            weights.append(torch.zeros(count))
            continue
        if target.n_positions != count:
            raise FedMKTError(
                f"KD targets of example {int(index[row])}: {target.n_positions} rows, but the batch has "
                f"{count} scored positions for it (targets built for another tokenizer, max_length or kd_positions?)"
            )
        pad = k - target.ids.shape[1]
        ids.append(F.pad(target.ids, (0, pad)))
        probs.append(F.pad(target.probs.float(), (0, pad)))
        weights.append(target.weight.float())
    return torch.cat(ids), torch.cat(probs), torch.cat(weights)


def make_kd_loss(
    targets_by_index: Mapping[int, KDTargets], kd_weight: float, temperature: float = 1.0, *,
    public_sft: bool = True, kd_positions: Literal["answer", "all"] = "answer",
) -> LossFn:
    """A ``loss_fn(model, batch)`` computing ``(1 - kd_weight) * SFT + kd_weight * KD`` in fp32.

    Args:
        targets_by_index: encoded-example index (``batch["index"]``) -> that sample's targets;
            samples left out get KD weight 0 (SFT only).
        kd_weight: lambda in ``[0, 1]``; the reference uses 0.1. At 0 the loss equals
            ``fedmkt.training.sft.sft_loss`` exactly (KD is still computed, for the metrics).
        temperature: KD softmax temperature (``sparse_kd_loss``).
        public_sft: False: the loss is the KD term alone (see the module docstring).
        kd_positions: ``answer`` or ``all``: the rows the targets hold and KD averages over.

    Returns:
        ``loss_fn`` returning ``(loss, {"sft_loss", "kd_loss", "kd_positions"})`` where
        ``kd_loss`` is the weighted KD mean over all scored positions and ``kd_positions`` the
        share of positions with a non-zero KD weight.
    """
    if not 0.0 <= kd_weight <= 1.0:
        raise FedMKTError(f"kd_weight must be in [0, 1], got {kd_weight}")
    if not temperature > 0:
        raise FedMKTError(f"temperature must be > 0, got {temperature}")
    if kd_positions not in ("answer", "all"):
        raise FedMKTError(f"kd_positions must be 'answer' or 'all', got {kd_positions!r}")
    scored_logits = answer_logits if kd_positions == "answer" else sequence_logits

    def loss_fn(model: nn.Module, batch: Batch) -> tuple[Tensor, dict[str, float]]:
        scored = scored_logits(model, batch)  # logits (n, vocab)
        ids, probs, weights = _batch_targets(targets_by_index, batch["index"], scored.counts())
        device = scored.logits.device
        sft, kd, loss = public_losses(scored.logits, scored.targets, ids.to(device), probs.to(device),
                                      weights.to(device), kd_weight, temperature, sft_rows=scored.answer,
                                      public_sft=public_sft)
        share = float((weights > 0).float().mean()) if weights.numel() else 0.0
        return loss, {"sft_loss": float(sft), "kd_loss": float(kd), "kd_positions": share}

    return loss_fn
