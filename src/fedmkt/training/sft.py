"""Supervised fine-tuning: cross-entropy on answer tokens, LM-head logits only where scored.

The head of Gemma-3 has 262,144 rows; computing it only at answer positions (a few per
example) instead of every position is most of a training step's saving.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from transformers import PreTrainedTokenizerBase

from fedmkt.data.example import Example
from fedmkt.models.logits import selected_logits
from fedmkt.training.batching import Batch, BucketedBatches
from fedmkt.training.encode import IGNORE_INDEX, encode_examples
from fedmkt.training.loop import ProgressCallback, TrainArgs, TrainStats, train


def next_token_labels(labels: Tensor) -> Tensor:
    """``(batch, seq)`` labels shifted left by one: entry ``i`` is the token position ``i`` predicts."""
    pad = torch.full_like(labels[:, :1], IGNORE_INDEX)
    return torch.cat([labels[:, 1:], pad], dim=1)


def answer_positions(labels: Tensor) -> Tensor:
    """``(batch, seq)`` bool: positions whose next token is an answer token (where logits are needed)."""
    return next_token_labels(labels) != IGNORE_INDEX


def sft_loss(model: nn.Module, batch: Batch) -> tuple[Tensor, dict[str, float]]:
    """Mean cross-entropy (fp32) over the batch's answer tokens, computed from selected logits only.

    Equals ``CrossEntropyLoss(ignore_index=-100)`` on the model's full shifted logits.
    """
    targets_full = next_token_labels(batch["labels"])
    positions = targets_full != IGNORE_INDEX
    logits = selected_logits(model, batch["input_ids"], batch["attention_mask"], positions)  # (n, vocab)
    loss = F.cross_entropy(logits.float(), targets_full[positions])
    return loss, {"sft_loss": float(loss.detach())}


def train_sft(
    model: nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    examples: Sequence[Example],
    args: TrainArgs,
    progress: ProgressCallback | None = None,
    log: Callable[[dict], None] | None = None,
) -> TrainStats:
    """Encode ``examples``, batch them by length and train ``model`` (its adapter) with :func:`sft_loss`."""
    encoded = encode_examples(tokenizer, examples, args.max_length)
    batches = BucketedBatches(encoded, args.batch_size, tokenizer.pad_token_id, seed=args.seed)
    return train(model, batches, sft_loss, args, progress, log)
