"""Supervised fine-tuning: cross-entropy on answer tokens, LM-head logits only where scored.

The head of Gemma-3 has 262,144 rows; computing it only at answer positions (a few per
example) instead of every position is most of a training step's saving.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from transformers import PreTrainedTokenizerBase

from fedmkt.data.example import Example
from fedmkt.models.logits import selected_logits
from fedmkt.training.batching import Batch, BucketedBatches, pad_id
from fedmkt.training.encode import IGNORE_INDEX, encode_examples
from fedmkt.training.loop import ProgressCallback, TrainArgs, TrainStats, train


def next_token_labels(labels: Tensor) -> Tensor:
    """``(batch, seq)`` labels shifted left by one: entry ``i`` is the token position ``i`` predicts."""
    pad = torch.full_like(labels[:, :1], IGNORE_INDEX)
    return torch.cat([labels[:, 1:], pad], dim=1)


def next_token_ids(input_ids: Tensor) -> Tensor:
    """``(batch, seq)`` ids shifted left by one: entry ``i`` is token ``i + 1`` (the last column is meaningless)."""
    return torch.roll(input_ids, -1, dims=1)


def answer_positions(labels: Tensor) -> Tensor:
    """``(batch, seq)`` bool: positions whose next token is an answer token (where logits are needed)."""
    return next_token_labels(labels) != IGNORE_INDEX


def prediction_positions(attention_mask: Tensor) -> Tensor:
    """``(batch, seq)`` bool: real positions whose next token is real too, i.e. every position that predicts
    a token of the sample, prompt included (a right-padded row of ``m`` tokens has ``m - 1``)."""
    real = attention_mask != 0
    return real & torch.cat([real[:, 1:], torch.zeros_like(real[:, :1])], dim=1)


@dataclass(frozen=True)
class AnswerLogits:
    """A model's logits at a batch's scored positions, and the token each row predicts.

    Attributes:
        logits: ``(n, vocab)`` at the scored positions, batch-major then sequence order.
        targets: ``(n,)`` int64 token each row predicts (the answer token at answer positions).
        positions: ``(batch, seq)`` bool, where the rows were taken.
        answer: ``(n,)`` bool, the rows whose next token is an answer token; ``None``: every row
            (:func:`answer_logits`).
    """

    logits: Tensor
    targets: Tensor
    positions: Tensor
    answer: Tensor | None = None

    def counts(self) -> list[int]:
        """Rows per example of the batch."""
        return self.positions.sum(dim=1).tolist()

    def sample_index(self) -> Tensor:
        """``(n,)`` the example (batch row) of each row; non-decreasing."""
        return self.positions.nonzero()[:, 0]


def answer_logits(model: nn.Module, batch: Batch) -> AnswerLogits:
    """The opening of every loss and of the public pass: logits only where an answer token is next."""
    targets = next_token_labels(batch["labels"])  # (batch, seq)
    positions = targets != IGNORE_INDEX  # (batch, seq)
    logits = selected_logits(model, batch["input_ids"], batch["attention_mask"], positions)  # (n, vocab)
    return AnswerLogits(logits, targets[positions], positions)


def sequence_logits(model: nn.Module, batch: Batch) -> AnswerLogits:
    """Logits at every :func:`prediction_positions` of the batch, each row's next token, and which rows
    are answer rows (``answer``): what distillation over whole sequences (``kd_positions: all``) reads.

    The targets of answer rows come from the labels, as in :func:`answer_logits`, the others from the ids.
    """
    positions = prediction_positions(batch["attention_mask"])  # (batch, seq)
    logits = selected_logits(model, batch["input_ids"], batch["attention_mask"], positions)  # (n, vocab)
    labels = next_token_labels(batch["labels"])  # (batch, seq)
    targets = torch.where(labels != IGNORE_INDEX, labels, next_token_ids(batch["input_ids"]))
    return AnswerLogits(logits, targets[positions], positions, (labels != IGNORE_INDEX)[positions])


def sft_loss(model: nn.Module, batch: Batch) -> tuple[Tensor, dict[str, float]]:
    """Mean cross-entropy (fp32) over the batch's answer tokens, computed from selected logits only.

    Equals ``CrossEntropyLoss(ignore_index=-100)`` on the model's full shifted logits.
    """
    answers = answer_logits(model, batch)
    loss = F.cross_entropy(answers.logits.float(), answers.targets)
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
    batches = BucketedBatches(encoded, args.batch_size, pad_id(tokenizer), seed=args.seed)
    return train(model, batches, sft_loss, args, progress, log)
