"""DP-SGD on a LoRA adapter with Opacus: Poisson-sampled batches, per-sample gradients clipped, Gaussian noise.

What each part is for (the guarantee is the sampled Gaussian mechanism's, docs/privacy.md):

- **Per-sample gradients** come from Opacus's ``GradSampleModule`` (hooks), which computes them only for
  trainable layers: the LoRA ``lora_A`` / ``lora_B`` Linears. The frozen base (embeddings, norms, the
  base projections, the head) has none and is never updated.
- **The loss** is each example's mean cross-entropy over its own answer tokens, averaged over the batch.
  The non-private loop weights tokens across the batch (:mod:`fedmkt.training.loop`), which makes one
  example's gradient depend on the other examples' lengths; here an example's gradient depends on it
  alone, so clipping it bounds what any one example can change.
- **Batches** are drawn as Opacus's ``DPDataLoader`` draws them (``UniformWithReplacementSampler``: each
  example joins with probability ``q``, :func:`fedmkt.privacy.budget.phase_schedule`), a batch may be
  empty (a noise-only step) or larger than ``batch_size``: it is run in chunks of ``batch_size``, each
  chunk's per-sample gradients clipped and summed, and the noise added once per step.
- **Randomness** (sampling and noise) comes from generators seeded by the client's secret and the phase's
  seed (:func:`fedmkt.privacy.budget.phase_seed`), never from the run's shared seed alone.
- **The update** (AdamW, cosine schedule with warmup, as every phase) only post-processes the noisy
  gradient, and Opacus's accountant, attached to the optimizer, records each noisy step in the ledger.

The model is left as it was found: hooks and Opacus's attributes removed, train/eval mode restored.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from fedmkt.privacy import require_opacus
from fedmkt.privacy.budget import PrivacyLedger, Schedule, phase_seed
from fedmkt.training.batching import Batch, collate
from fedmkt.training.encode import EncodedExample
from fedmkt.training.loop import (
    ProgressCallback,
    TrainArgs,
    TrainStats,
    check_grad_norm,
    check_loss,
    drive_steps,
    record_step,
    trainable_parameters,
)
from fedmkt.training.optim import build_optimizer, build_scheduler
from fedmkt.training.sft import answer_logits

Inspect = Callable[[Any, bool], None]
"""Called with Opacus's ``DPOptimizer`` after each chunk is clipped (``noised`` False) and after the step's noise
(True), before the update: ``p.grad_sample`` holds the chunk's raw per-sample gradients, ``p.summed_grad`` the
clipped sum so far, and once noised ``p.grad`` the noisy mean. What the tests read clipping and noise from."""


def per_sample_sft_loss(model: nn.Module, batch: Batch) -> tuple[Tensor, dict[str, float]]:
    """The batch's mean over examples of each example's mean cross-entropy over its answer tokens (fp32)."""
    answers = answer_logits(model, batch)
    token_loss = F.cross_entropy(answers.logits.float(), answers.targets, reduction="none")
    rows = answers.sample_index()
    n = batch["input_ids"].shape[0]
    sums = token_loss.new_zeros(n).index_add(0, rows, token_loss)
    counts = token_loss.new_zeros(n).index_add(0, rows, torch.ones_like(token_loss))
    loss = (sums / counts.clamp(min=1)).mean()
    return loss, {"sft_loss": float(loss.detach())}


def per_sample_norms(params: Sequence[Tensor]) -> Tensor:
    """``(batch,)`` each example's gradient norm over all ``params`` (as Opacus clips it: one flat vector)."""
    flat = [p.grad_sample.reshape(len(p.grad_sample), -1).norm(2, dim=-1) for p in params]  # type: ignore[attr-defined]
    return torch.stack(flat, dim=1).norm(2, dim=1)


def train_dp(
    model: nn.Module, encoded: Sequence[EncodedExample], pad_id: int, args: TrainArgs, ledger: PrivacyLedger,
    schedule: Schedule, progress: ProgressCallback | None = None, log: Callable[[dict], None] | None = None,
    inspect: Inspect | None = None,
) -> TrainStats:
    """One private phase of DP-SGD on ``model``'s trainable (LoRA) parameters; ``ledger.history`` grows by its steps.

    ``schedule`` (from :func:`~fedmkt.privacy.budget.phase_schedule` with ``len(encoded)`` and ``args``) gives
    the sampling rate and the steps; ``args.batch_size`` is the chunk a forward pass takes, ``args.max_grad_norm``
    is not used (the per-sample bound is the ledger's). ``log`` gets one dict per step, as the plain loop's plus
    ``batch`` (the Poisson batch's size) and ``clipped`` (the share of its examples whose gradient was clipped).
    """
    require_opacus()
    from opacus import GradSampleModule
    from opacus.accountants import create_accountant
    from opacus.optimizers import DPOptimizer
    from opacus.utils.uniform_sampler import UniformWithReplacementSampler

    params = trainable_parameters(model)
    settings, device = ledger.settings, params[0].device
    seed = phase_seed(ledger.secret, args.seed)
    sampling = torch.Generator().manual_seed(seed)
    noise = torch.Generator(device=device).manual_seed(seed ^ 1)
    optimizer = build_optimizer(model, lr=args.lr, weight_decay=args.weight_decay, betas=args.betas)
    scheduler = build_scheduler(optimizer, total_steps=schedule.steps, warmup_ratio=args.warmup_ratio)
    dp = DPOptimizer(optimizer, noise_multiplier=settings.noise_multiplier, max_grad_norm=settings.max_grad_norm,
                     expected_batch_size=schedule.sample_rate * len(encoded),
                     loss_reduction="mean", generator=noise)
    accountant = create_accountant(mechanism=settings.accountant)
    accountant.history = list(ledger.history)
    account = accountant.get_optimizer_hook_fn(sample_rate=schedule.sample_rate)
    dp.attach_step_hook(account)  # called once per noisy step (not for a chunk's clipping)
    sampler = UniformWithReplacementSampler(num_samples=len(encoded), sample_rate=schedule.sample_rate,
                                            generator=sampling, steps=round(1 / schedule.sample_rate))
    stats = TrainStats()
    with warnings.catch_warnings():  # LoRA's input needs no gradient: torch notes it on every backward hook
        warnings.filterwarnings("ignore", message=".*Full backward hook is firing.*")
        hooked = GradSampleModule(model, batch_first=True, loss_reduction="mean", strict=True)
        try:
            drive_steps(
                model, device, args, schedule.steps, stats,
                step_inputs=lambda epoch: sampler,  # Poisson batches; the generator runs on across epochs
                step=lambda indices: _step(model, encoded, pad_id, indices, args.batch_size, dp, params, stats,
                                           device, inspect),
                scheduler=scheduler, progress=progress, log=log,
            )
        finally:
            ledger.history = [tuple(entry) for entry in accountant.history]  # steps taken count, even if it failed
            ledger.phases += 1
            hooked._close()
            for p in params:
                p.grad = None
                if hasattr(p, "summed_grad"):
                    del p.summed_grad
    return stats


def _step(model: nn.Module, encoded: Sequence[EncodedExample], pad_id: int, indices: list[int], chunk: int,
          dp: Any, params: Sequence[Tensor], stats: TrainStats, device: torch.device,
          inspect: Inspect | None = None) -> dict:
    """One noisy step over the Poisson batch ``indices``, in chunks of ``chunk`` examples; updates ``stats``."""
    start = time.perf_counter()
    order = sorted(indices, key=lambda i: len(encoded[i]))  # similar lengths share a chunk: less padding
    chunks = [order[i:i + chunk] for i in range(0, len(order), chunk)]
    dp.zero_grad(set_to_none=True)
    if not chunks:  # an empty batch still takes its noise step: the accountant counts it
        for p in params:
            p.grad_sample = p.new_zeros((0, *p.shape))  # type: ignore[attr-defined]
    loss_sum, tokens, clipped = 0.0, 0, 0
    for i, rows in enumerate(chunks):
        batch = {k: v.to(device) for k, v in collate([encoded[j] for j in rows], pad_id).items()}
        loss, _ = per_sample_sft_loss(model, batch)
        value = float(loss.detach())
        check_loss(value, stats.steps + 1, f"chunk {i + 1}")
        loss.backward()
        clipped += int((per_sample_norms(params) > dp.max_grad_norm).sum())
        loss_sum += value * len(rows) / len(order)
        tokens += int(batch["attention_mask"].sum())
        if i < len(chunks) - 1:  # clip and add to the step's sum; noise comes once, after the last chunk
            dp.signal_skip_step(do_skip=True)
            dp.pre_step()
            if inspect is not None:
                inspect(dp, False)
            dp.zero_grad(set_to_none=True)
    dp.pre_step()  # clip, sum, noise, scale by the expected batch; the accountant records the step
    if inspect is not None:
        inspect(dp, True)
    grad_norm = float(torch.nn.utils.get_total_norm([p.grad for p in params if p.grad is not None]))
    check_grad_norm(grad_norm, stats.steps + 1)
    lr = dp.original_optimizer.param_groups[0]["lr"]
    dp.original_optimizer.step()
    seconds = time.perf_counter() - start
    record_step(stats, micro_batches=len(chunks), tokens=tokens, seconds=seconds,
                loss=loss_sum if order else None)  # an empty batch has no loss to average
    return {"step": stats.steps, "loss": loss_sum, "lr": lr, "grad_norm": grad_norm, "tokens": tokens,
            "seconds": seconds, "sft_loss": loss_sum, "batch": len(order),
            "clipped": clipped / len(order) if order else 0.0}
