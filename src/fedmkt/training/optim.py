"""AdamW over the trainable parameters and a cosine schedule with linear warmup."""

from __future__ import annotations

import math

from torch import nn
from torch.optim import AdamW, Optimizer
from torch.optim.lr_scheduler import LambdaLR
from transformers import get_cosine_schedule_with_warmup


def build_optimizer(model: nn.Module, *, lr: float, weight_decay: float, betas: tuple[float, float]) -> AdamW:
    """AdamW on parameters with ``requires_grad``; matrices decay, vectors (biases, norms) do not."""
    trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    decay = [p for _, p in trainable if p.ndim >= 2]
    no_decay = [p for _, p in trainable if p.ndim < 2]
    groups = [{"params": decay, "weight_decay": weight_decay}]
    if no_decay:
        groups.append({"params": no_decay, "weight_decay": 0.0})
    return AdamW(groups, lr=lr, betas=betas)


def warmup_steps(total_steps: int, warmup_ratio: float) -> int:
    """``ceil(ratio * total)``, as the transformers Trainer counts it."""
    return math.ceil(warmup_ratio * total_steps)


def build_scheduler(optimizer: Optimizer, *, total_steps: int, warmup_ratio: float) -> LambdaLR:
    """Linear warmup from 0 over ``ceil(warmup_ratio * total_steps)`` steps, then cosine decay to 0."""
    return get_cosine_schedule_with_warmup(
        optimizer, num_warmup_steps=warmup_steps(total_steps, warmup_ratio), num_training_steps=total_steps
    )
