"""One explicit training loop for every phase (SFT, SFT+KD): the loss is passed in.

``loss_fn(model, batch) -> (loss, metrics)`` returns the MEAN loss over the batch's answer
tokens. With gradient accumulation the loop weights each micro-batch by its number of answer
tokens (``labels[:, 1:] != -100``), so ``batch_size=2, grad_accum=2`` gives the same gradient
as ``batch_size=4, grad_accum=1``. Dropout draws from ``seed`` inside ``fork_rng``; the caller's
global RNG state is left as it was. The model is put in train mode and restored afterwards.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol, TypeVar, runtime_checkable

import torch
from torch import Tensor, nn
from torch.optim.lr_scheduler import LRScheduler

from fedmkt.errors import FedMKTError
from fedmkt.training.batching import Batch
from fedmkt.training.encode import IGNORE_INDEX
from fedmkt.training.optim import build_optimizer, build_scheduler

LossFn = Callable[[nn.Module, Batch], tuple[Tensor, dict[str, float]]]
T = TypeVar("T")


@dataclass(frozen=True)
class TrainArgs:
    """Optimisation settings of one training phase (defaults: FATE-LLM's FedMKT examples).

    ``batch_size * grad_accum`` examples make one optimizer step; the reference uses 1 x 4,
    the default here is 4 x 1 (same gradient, faster on CPU).
    """

    lr: float = 3e-5
    epochs: int = 1
    batch_size: int = 4
    grad_accum: int = 1
    weight_decay: float = 0.1
    betas: tuple[float, float] = (0.9, 0.95)
    warmup_ratio: float = 0.008
    max_grad_norm: float = 1.0  # 0 disables clipping
    max_length: int = 512
    seed: int = 0
    max_steps: int | None = None  # stop early after this many optimizer steps

    def __post_init__(self) -> None:
        object.__setattr__(self, "betas", tuple(float(b) for b in self.betas))
        checks = [
            ("lr", self.lr > 0, "> 0"),
            ("epochs", self.epochs >= 1, ">= 1"),
            ("batch_size", self.batch_size >= 1, ">= 1"),
            ("grad_accum", self.grad_accum >= 1, ">= 1"),
            ("weight_decay", self.weight_decay >= 0, ">= 0"),
            ("betas", len(self.betas) == 2 and all(0 <= b < 1 for b in self.betas), "two numbers in [0, 1)"),
            ("warmup_ratio", 0 <= self.warmup_ratio < 1, "in [0, 1)"),
            ("max_grad_norm", self.max_grad_norm >= 0, ">= 0"),
            ("max_length", self.max_length >= 2, ">= 2"),
            ("max_steps", self.max_steps is None or self.max_steps >= 1, ">= 1 or unset"),
        ]
        for name, ok, expected in checks:
            if not ok:
                raise FedMKTError(f"training.{name} = {getattr(self, name)!r}; expected {expected}")


@dataclass
class TrainStats:
    """What a phase did; ``losses`` holds one (token-weighted) loss per optimizer step."""

    steps: int = 0
    micro_batches: int = 0
    tokens: int = 0
    seconds: float = 0.0
    losses: list[float] = field(default_factory=list)

    @property
    def mean_loss(self) -> float:
        return sum(self.losses) / len(self.losses) if self.losses else float("nan")

    @property
    def tokens_per_second(self) -> float:
        return self.tokens / self.seconds if self.seconds > 0 else 0.0


class ProgressCallback(Protocol):
    """Progress display hook; the CLI adapts it to a rich progress bar."""

    def start(self, total_steps: int) -> None: ...

    def update(self, step: int, loss: float, tokens_per_second: float) -> None: ...

    def finish(self) -> None: ...


@runtime_checkable
class EpochBatches(Protocol):
    """Batches that may change per epoch (e.g. :class:`~fedmkt.training.batching.BucketedBatches`)."""

    def __len__(self) -> int: ...

    def epoch(self, epoch: int) -> Iterable[Batch]: ...


def answer_token_count(batch: Batch) -> int:
    """Scored positions in ``batch``: labels after the first column that are not ``-100``."""
    labels = batch.get("labels")
    if labels is None:
        return int(batch["input_ids"].shape[0])
    return int((labels[:, 1:] != IGNORE_INDEX).sum())


def _epoch_iter(batches: EpochBatches | Sequence[Batch], epoch: int) -> Iterable[Batch]:
    return batches.epoch(epoch) if isinstance(batches, EpochBatches) else batches


def _windows(batches: Iterable[Batch], size: int) -> Iterator[list[Batch]]:
    window: list[Batch] = []
    for batch in batches:
        window.append(batch)
        if len(window) == size:
            yield window
            window = []
    if window:
        yield window


def total_steps(n_batches: int, args: TrainArgs) -> int:
    """Optimizer steps a phase takes: a short last window per epoch still makes a step."""
    steps = math.ceil(n_batches / args.grad_accum) * args.epochs
    return min(steps, args.max_steps) if args.max_steps else steps


def _to(batch: Batch, device: torch.device) -> Batch:
    return {k: v.to(device) for k, v in batch.items()}


def train(
    model: nn.Module,
    batches: EpochBatches | Sequence[Batch],
    loss_fn: LossFn,
    args: TrainArgs,
    progress: ProgressCallback | None = None,
    log: Callable[[dict], None] | None = None,
) -> TrainStats:
    """Optimise the trainable parameters of ``model`` on ``batches`` with ``loss_fn``.

    ``log`` receives one dict per optimizer step: ``step, epoch, loss, lr, grad_norm, tokens,
    seconds`` plus the token-weighted ``metrics`` of ``loss_fn``. A non-finite loss or gradient
    norm raises FedMKTError naming the step; nothing is applied from that step (earlier steps of
    this call are: a runner restores its last checkpoint, see ``fedmkt.runners.checkpoint``).

    The optimizer and scheduler are built here, fresh for every call (as the reference does), so no
    optimizer state outlives a call and a checkpoint between calls needs only the weights.
    """
    params = trainable_parameters(model)
    total = total_steps(len(batches), args)
    optimizer = build_optimizer(model, lr=args.lr, weight_decay=args.weight_decay, betas=args.betas)
    scheduler = build_scheduler(optimizer, total_steps=total, warmup_ratio=args.warmup_ratio)
    device = params[0].device
    stats = TrainStats()
    drive_steps(
        model, device, args, total, stats,
        step_inputs=lambda epoch: _windows(_epoch_iter(batches, epoch), args.grad_accum),
        step=lambda window: _step(model, window, loss_fn, params, optimizer, args, stats, device),
        scheduler=scheduler, progress=progress, log=log,
    )
    return stats


def trainable_parameters(model: nn.Module) -> list[nn.Parameter]:
    """The parameters a phase trains (a LoRA adapter's); refused when there are none."""
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise FedMKTError("model has no trainable parameters; attach a LoRA adapter first")
    return params


def trainable_count(model: nn.Module) -> int:
    """How many numbers a phase trains (a LoRA adapter's): what DP-SGD's noise is spread over."""
    return sum(p.numel() for p in trainable_parameters(model))


def drive_steps(
    model: nn.Module, device: torch.device, args: TrainArgs, total: int, stats: TrainStats, *,
    step_inputs: Callable[[int], Iterable[T]], step: Callable[[T], dict], scheduler: LRScheduler,
    progress: ProgressCallback | None = None, log: Callable[[dict], None] | None = None,
) -> None:
    """The loop every phase shares, plain or DP-SGD: epochs of ``step_inputs(epoch)``, at most ``total`` steps.

    ``step`` takes one optimizer step on its input and returns the step's record (``stats.steps`` counts
    them); the schedule advances after each, ``log`` and ``progress`` hear of it. Dropout draws from
    ``args.seed`` inside ``fork_rng`` (the caller's RNG state is left as it was); train mode is set for the
    loop and restored after it, whatever happens.
    """
    was_training = model.training
    model.train()
    if progress is not None:
        progress.start(total)
    try:
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            torch.manual_seed(args.seed)
            for epoch in range(args.epochs):
                for item in step_inputs(epoch):
                    if stats.steps >= total:
                        break
                    record = {"epoch": epoch, **step(item)}
                    scheduler.step()
                    if log is not None:
                        log(record)
                    if progress is not None:
                        progress.update(stats.steps, record["loss"], stats.tokens_per_second)
    finally:
        model.train(was_training)
        if progress is not None:
            progress.finish()


def check_loss(value: float, step: int, part: str) -> None:
    """A non-finite loss stops the phase before its gradient reaches the weights; ``part`` names the slice."""
    if not math.isfinite(value):
        raise FedMKTError(f"training loss is {value} at optimizer step {step} ({part}); lower the learning rate "
                          "or check the data")


def check_grad_norm(value: float, step: int) -> None:
    """A non-finite gradient never reaches the weights, clipped or not."""
    if not math.isfinite(value):
        raise FedMKTError(f"gradient norm is {value} at optimizer step {step}; lower the learning rate or check "
                          "the data")


def record_step(stats: TrainStats, *, micro_batches: int, tokens: int, seconds: float,
                loss: float | None) -> None:
    """Add one optimizer step to ``stats`` (``loss`` None: a step with no examples, nothing to average)."""
    stats.steps += 1
    stats.micro_batches += micro_batches
    stats.tokens += tokens
    stats.seconds += seconds
    if loss is not None:
        stats.losses.append(loss)


def _step(model: nn.Module, window: list[Batch], loss_fn: LossFn, params: Sequence[Tensor],
          optimizer: torch.optim.Optimizer, args: TrainArgs, stats: TrainStats, device: torch.device) -> dict:
    """One optimizer step over the micro-batches in ``window``; updates ``stats`` in place."""
    start = time.perf_counter()
    counts = [answer_token_count(b) for b in window]
    denominator = max(sum(counts), 1)
    optimizer.zero_grad(set_to_none=True)
    loss_sum, tokens = 0.0, 0
    metric_sums: dict[str, float] = {}
    for micro, (batch, count) in enumerate(zip(window, counts, strict=True)):
        batch = _to(batch, device)
        loss, metrics = loss_fn(model, batch)
        value = float(loss.detach())
        check_loss(value, stats.steps + 1, f"micro-batch {micro + 1}")
        weight = count / denominator
        (loss * weight).backward()
        loss_sum += value * weight
        for key, val in metrics.items():
            metric_sums[key] = metric_sums.get(key, 0.0) + float(val) * weight
        mask = batch.get("attention_mask")
        tokens += int(mask.sum()) if mask is not None else batch["input_ids"].numel()
    if args.max_grad_norm > 0:
        grad_norm = float(torch.nn.utils.clip_grad_norm_(params, args.max_grad_norm))
    else:  # no clipping, but a non-finite gradient must still never reach the weights
        grad_norm = float(torch.nn.utils.get_total_norm([p.grad for p in params if p.grad is not None]))
    check_grad_norm(grad_norm, stats.steps + 1)
    lr = optimizer.param_groups[0]["lr"]
    optimizer.step()
    seconds = time.perf_counter() - start
    record_step(stats, micro_batches=len(window), tokens=tokens, seconds=seconds, loss=loss_sum)
    return {"step": stats.steps, "loss": loss_sum, "lr": lr, "grad_norm": grad_norm, "tokens": tokens,
            "seconds": seconds, **metric_sums}
