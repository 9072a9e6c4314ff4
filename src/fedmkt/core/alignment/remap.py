"""Carry a teacher's top-k distributions into the student's vocabulary and positions (paper: MinED).

Two steps, both vectorised (no Python loop over positions):

1. ``remap_topk``: gather the teacher's top-k ids through the vocabulary map; several teacher
   ids may land on one student id, and their probabilities are summed.
2. ``align_topk``: pick, for each student prediction position, the teacher position that
   predicts the same piece of text after the same context (``SequenceAlignment``); where
   there is none, fall back to a one-hot on the student's own true next token. (The
   reference implementation puts the one-hot on the token *at* the position, one step off:
   logits at position ``p`` predict token ``p + 1``.)

Probabilities are not renormalised: a top-k row sums to at most 1 and the KD loss decides.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from fedmkt.core.alignment.sequence import IdsLike, SequenceAlignment, as_id_array
from fedmkt.errors import FedMKTError


@dataclass(frozen=True)
class AlignedTopK:
    """Teacher distributions at student prediction positions, in the student's vocabulary.

    Attributes:
        ids: ``(T, k)`` int64 student-vocabulary ids, by descending probability.
        probs: ``(T, k)`` probabilities (dtype of the teacher's probs); slots past the merged
            entries hold probability 0 and repeat the row's first id.
        matched: ``(T,)`` bool, True where the row came from the teacher, False where it is
            the one-hot fallback on the true next token.
    """

    ids: torch.Tensor
    probs: torch.Tensor
    matched: torch.Tensor


def remap_topk(
    ids: torch.Tensor, probs: torch.Tensor, table: torch.Tensor | np.ndarray
) -> tuple[torch.Tensor, torch.Tensor]:
    """Map top-k ids through a vocabulary map and merge duplicates by summing probability.

    Runs in numpy on the CPU: these are small per-message arrays, and torch's intra-op
    threads cost more than the work on a busy machine.

    Args:
        ids: ``(N, k)`` int source-vocabulary ids.
        probs: ``(N, k)`` float probabilities (fp16/bf16/fp32).
        table: ``(source_vocab,)`` target id per source id, -1 for none (``VocabMap.table()``
            or ``VocabMap.target_ids``). Ids outside the table or mapped to -1 are dropped.

    Returns:
        ``(ids, probs)`` on the CPU, both ``(N, k)``: merged target ids (int64) by descending
        probability, ties by ascending id; unused slots have probability 0 and repeat the
        row's first id. ``probs`` keeps the input dtype.
    """
    if ids.dim() != 2 or ids.shape != probs.shape:
        raise FedMKTError(
            f"top-k: expected ids and probs of one (N, k) shape, "
            f"got {tuple(ids.shape)} and {tuple(probs.shape)}"
        )
    out_ids, out_w = _remap(ids.cpu().numpy(), probs.detach().cpu().float().numpy(), _lookup(table))
    return torch.from_numpy(out_ids), torch.from_numpy(out_w).to(probs.dtype)


def _lookup(table: torch.Tensor | np.ndarray) -> np.ndarray:
    return table.cpu().numpy() if isinstance(table, torch.Tensor) else np.asarray(table)


def _remap(src: np.ndarray, weight: np.ndarray, lookup: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """numpy core of ``remap_topk``: ``(N, k)`` ids and float32 weights in, merged ``(N, k)`` out."""
    src = src.astype(np.int64, copy=False)
    n, k = src.shape
    valid = (src >= 0) & (src < lookup.size)
    mapped = np.where(valid, lookup[np.clip(src, 0, max(lookup.size - 1, 0))], -1)
    weight = np.where(mapped >= 0, weight, 0.0)
    order = np.argsort(mapped, axis=1, kind="stable")
    sorted_ids = np.take_along_axis(mapped, order, axis=1)
    new_group = np.ones((n, k), dtype=bool)
    new_group[:, 1:] = sorted_ids[:, 1:] != sorted_ids[:, :-1]
    slot = (np.cumsum(new_group, axis=1) - 1 + np.arange(n)[:, None] * k).ravel()  # merged flat slot
    merged_w = np.bincount(slot, weights=np.take_along_axis(weight, order, axis=1).ravel(), minlength=n * k)
    merged_ids = np.full(n * k, -1, dtype=np.int64)
    merged_ids[slot] = sorted_ids.ravel()  # every entry of a slot carries the same id
    merged_w, merged_ids = merged_w.reshape(n, k), merged_ids.reshape(n, k)
    order = np.argsort(-merged_w, axis=1, kind="stable")
    out_w = np.take_along_axis(merged_w, order, axis=1).astype(np.float32)
    out_ids = np.take_along_axis(merged_ids, order, axis=1)
    return np.where(out_ids >= 0, out_ids, np.maximum(out_ids[:, :1], 0)), out_w


def one_hot_topk(
    next_ids: torch.Tensor, k: int, dtype: torch.dtype = torch.float32
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(N, k)`` top-k rows putting all mass on ``next_ids`` ``(N,)``, in the ``remap_topk`` layout."""
    ids = next_ids.to(torch.long).unsqueeze(1).expand(-1, k).clone()
    probs = torch.zeros(ids.shape, dtype=dtype, device=ids.device)
    probs[:, 0] = 1
    return ids, probs


def teacher_rows(
    alignment: SequenceAlignment,
    target_ids: IdsLike,
    target_positions: IdsLike,
    source_positions: IdsLike,
) -> tuple[np.ndarray, np.ndarray]:
    """Which teacher row feeds each student prediction position, and the student's true next token.

    Args:
        alignment: token alignment of the teacher (source) and student (target) sequences.
        target_ids: ``(m,)`` the student's real token ids of the sample.
        target_positions: ``(T,)`` student prediction positions wanting a teacher row
            (position ``p`` predicts ``target_ids[p + 1]``).
        source_positions: ``(S,)`` teacher prediction positions, one per teacher top-k row.

    Returns:
        ``(rows, next_ids)``, both ``(T,)`` int64: index into the teacher's ``S`` rows (-1 where
        no teacher position predicts the same text: the one-hot fallback), and ``target_ids[p + 1]``.
    """
    tgt = as_id_array(target_ids)
    want = as_id_array(target_positions)
    have = as_id_array(source_positions)
    if tgt.size != alignment.target_len:
        raise FedMKTError(f"target_ids: expected {alignment.target_len} tokens (as aligned), got {tgt.size}")
    if want.size and (want.min() < 0 or want.max() >= tgt.size - 1):
        raise FedMKTError(f"target_positions: expected positions in [0, {tgt.size - 1}) that predict a token")
    if have.size and (have.min() < 0 or have.max() >= alignment.source_len):
        raise FedMKTError(f"source_positions: expected positions in [0, {alignment.source_len})")
    row_of = np.full(alignment.source_len, -1, dtype=np.int64)
    row_of[have] = np.arange(have.size)
    src_pos = alignment.prediction_sources()[want]
    rows = np.where(src_pos >= 0, row_of[np.maximum(src_pos, 0)], -1)
    return rows, tgt[want + 1]


def gather_topk(
    rows: np.ndarray,
    next_ids: np.ndarray,
    source_topk_ids: torch.Tensor,
    source_topk_probs: torch.Tensor,
    table: torch.Tensor | np.ndarray,
) -> AlignedTopK:
    """Build ``(T, k)`` student rows: remapped teacher row ``rows[t]``, or a one-hot on ``next_ids[t]``.

    Args:
        rows, next_ids: ``(T,)`` from ``teacher_rows`` (possibly several samples concatenated,
            with ``rows`` offset into the concatenated teacher rows).
        source_topk_ids, source_topk_probs: ``(S, k)`` teacher top-k in the teacher vocabulary.
        table: ``(source_vocab,)`` vocabulary map (``VocabMap.table()``).

    Returns:
        CPU tensors (see ``AlignedTopK``).
    """
    if source_topk_ids.dim() != 2 or source_topk_ids.shape != source_topk_probs.shape:
        raise FedMKTError(
            f"source top-k: expected ids and probs of one (S, k) shape, got "
            f"{tuple(source_topk_ids.shape)} and {tuple(source_topk_probs.shape)}"
        )
    if rows.size and rows.max() >= source_topk_ids.shape[0]:
        raise FedMKTError(
            f"source top-k: expected at least {rows.max() + 1} rows, got {source_topk_ids.shape[0]}"
        )
    matched = rows >= 0
    k = source_topk_ids.shape[1]
    ids = np.repeat(next_ids.astype(np.int64)[:, None], k, axis=1)  # one-hot fallback layout
    probs = np.zeros(ids.shape, dtype=np.float32)
    probs[:, 0] = 1.0
    if matched.any():
        take = torch.from_numpy(rows[matched]).to(source_topk_ids.device)
        ids[matched], probs[matched] = _remap(
            source_topk_ids[take].cpu().numpy(),
            source_topk_probs[take].detach().cpu().float().numpy(),
            _lookup(table),
        )
    out_probs = torch.from_numpy(probs).to(source_topk_probs.dtype)
    return AlignedTopK(torch.from_numpy(ids), out_probs, torch.from_numpy(matched))


def align_topk(
    alignment: SequenceAlignment,
    target_ids: IdsLike,
    target_positions: IdsLike,
    source_positions: IdsLike,
    source_topk_ids: torch.Tensor,
    source_topk_probs: torch.Tensor,
    table: torch.Tensor | np.ndarray,
) -> AlignedTopK:
    """Teacher top-k of one sample at the student's prediction positions, in the student's vocabulary.

    ``(S, k)`` teacher rows at ``source_positions`` become ``(T, k)`` rows at
    ``target_positions``; see ``teacher_rows`` and ``gather_topk``.
    """
    if source_topk_ids.shape[0] != as_id_array(source_positions).size:
        raise FedMKTError(
            f"source top-k: expected one row per source position "
            f"({as_id_array(source_positions).size}), got {source_topk_ids.shape[0]}"
        )
    rows, next_ids = teacher_rows(alignment, target_ids, target_positions, source_positions)
    return gather_topk(rows, next_ids, source_topk_ids, source_topk_probs, table)
