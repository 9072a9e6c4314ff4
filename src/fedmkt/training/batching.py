"""Padded batches, grouped by length so little compute goes to padding.

Order per epoch: shuffle all examples with ``seed + epoch``, cut into chunks of
``batch_size * bucket_batches``, sort each chunk by length, cut it into batches, and shuffle
the batches. Batches are right-padded (training reads labels; the attention mask hides pads).
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator, Sequence

import torch
from torch import Tensor
from transformers import PreTrainedTokenizerBase

from fedmkt.training.encode import IGNORE_INDEX, EncodedExample

Batch = dict[str, Tensor]
"""``input_ids``, ``attention_mask``, ``labels``: ``(batch, seq)``; ``index``: ``(batch,)`` positions in
the encoded list (to fetch per-example extras such as KD targets)."""


def pad_id(tokenizer: PreTrainedTokenizerBase) -> int:
    """The id padding is filled with: the pad token, else end-of-sequence, else 0 (the mask hides it)."""
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    return int(pad or 0)


def collate(examples: Sequence[EncodedExample], pad_id: int) -> Batch:
    """Right-pad ``examples`` to the longest one; labels of padding are ``-100``."""
    width = max(len(ex) for ex in examples)
    ids = torch.full((len(examples), width), pad_id, dtype=torch.long)
    labels = torch.full((len(examples), width), IGNORE_INDEX, dtype=torch.long)
    mask = torch.zeros((len(examples), width), dtype=torch.long)
    for row, ex in enumerate(examples):
        n = len(ex)
        ids[row, :n] = torch.tensor(ex.input_ids)
        labels[row, :n] = torch.tensor(ex.labels)
        mask[row, :n] = 1
    index = torch.tensor([ex.index for ex in examples], dtype=torch.long)
    return {"input_ids": ids, "attention_mask": mask, "labels": labels, "index": index}


def bucketed_order(
    lengths: Sequence[int], batch_size: int, seed: int, *, bucket_batches: int = 16
) -> list[list[int]]:
    """Index lists, one per batch: shuffled, then length-sorted within chunks of ``bucket_batches``."""
    rng = random.Random(seed)
    order = list(range(len(lengths)))
    rng.shuffle(order)
    chunk = batch_size * bucket_batches
    batches: list[list[int]] = []
    for start in range(0, len(order), chunk):
        part = sorted(order[start:start + chunk], key=lambda i: lengths[i])
        batches.extend(part[i:i + batch_size] for i in range(0, len(part), batch_size))
    rng.shuffle(batches)
    return batches


class BucketedBatches:
    """Batches of ``encoded`` for each epoch; ``len()`` is the number of batches per epoch.

    ``shuffle=False`` keeps the given order (evaluation, reproducible message order).
    """

    def __init__(self, encoded: Sequence[EncodedExample], batch_size: int, pad_id: int, *, seed: int = 0,
                 shuffle: bool = True, bucket_batches: int = 16) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.encoded = list(encoded)
        self.batch_size = batch_size
        self.pad_id = pad_id
        self.seed = seed
        self.shuffle = shuffle
        self.bucket_batches = bucket_batches

    def __len__(self) -> int:
        return math.ceil(len(self.encoded) / self.batch_size)

    def order(self, epoch: int) -> list[list[int]]:
        if not self.shuffle:
            n = len(self.encoded)
            return [list(range(i, min(i + self.batch_size, n))) for i in range(0, n, self.batch_size)]
        return bucketed_order([len(ex) for ex in self.encoded], self.batch_size, self.seed + epoch,
                              bucket_batches=self.bucket_batches)

    def epoch(self, epoch: int) -> Iterator[Batch]:
        for rows in self.order(epoch):
            yield collate([self.encoded[i] for i in rows], self.pad_id)
