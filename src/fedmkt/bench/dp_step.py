"""What does DP-SGD cost a private step? One plain LoRA SFT optimizer step against one DP-SGD step.

Both train the same model's adapter on the same batch of ``B`` examples. The plain step is the
private phase's without privacy (:func:`~fedmkt.training.sft.sft_loss`, AdamW); the DP-SGD step is
:func:`fedmkt.privacy.dp_sgd.train_dp`'s: per-example gradients (Opacus hooks), clipping, Gaussian
noise, AdamW. Its Poisson sampling is pinned to the whole batch (``B`` examples, sample rate 1), so
each step sees exactly the plain step's examples, in one chunk of ``B``. Seconds are the median of
``repeats`` steps after one warm-up (each step's own timing, as the phase logs it; the phase's
set-up, wrapping the model and building the optimizer, is not counted). Peak memory is exact
(:class:`~fedmkt.bench.tensor_memory.TensorMemory`) for one step from a fresh AdamW on each side,
so both count the optimizer state they create; the DP figure also counts the per-example gradients
and the phase's set-up.
"""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass

from torch import nn
from transformers import PreTrainedTokenizerBase

from fedmkt.bench.step import _step_memory, ratio, step_inputs, time_steps
from fedmkt.bench.tensor_memory import TensorMemory
from fedmkt.privacy.budget import DPSettings, PrivacyLedger, phase_schedule
from fedmkt.privacy.dp_sgd import train_dp
from fedmkt.training.encode import encode_examples
from fedmkt.training.loop import TrainArgs
from fedmkt.training.optim import build_optimizer
from fedmkt.training.sft import sft_loss


@dataclass(frozen=True)
class DPStepBench:
    """Figures of ``fedmkt bench step --dp`` (seconds, bytes, ratios DP-SGD / plain)."""

    model: str
    task: str
    batch: int
    seq: int
    noise_multiplier: float
    max_grad_norm: float
    plain_seconds: float
    dp_seconds: float
    time_ratio: float | None
    plain_peak_bytes: int
    dp_peak_bytes: int
    memory_ratio: float | None
    memory_kind: str

    def as_dict(self) -> dict:
        return asdict(self)


def _dp_steps(model: nn.Module, encoded: list, pad: int, steps: int, *, noise: float, clip: float,
              seed: int) -> list[float]:
    """Seconds of each of ``steps`` DP-SGD steps over the whole batch (sample rate 1)."""
    args = TrainArgs(lr=1e-5, batch_size=len(encoded), weight_decay=0.0, warmup_ratio=0.0, epochs=steps, seed=seed)
    schedule = phase_schedule(len(encoded), len(encoded), 1, steps, None)
    seconds: list[float] = []
    ledger = PrivacyLedger(DPSettings(noise, clip, 1e-5), secret=seed)
    train_dp(model, encoded, pad, args, ledger, schedule, log=lambda step: seconds.append(float(step["seconds"])))
    return seconds


def bench_dp_step(
    model: nn.Module, tokenizer: PreTrainedTokenizerBase, model_name: str, *, batch: int, seq: int,
    repeats: int = 3, noise_multiplier: float = 1.0, max_grad_norm: float = 1.0, seed: int = 0,
) -> DPStepBench:
    """Time and measure one plain private step and one DP-SGD step of a LoRA-wrapped ``model`` on one batch."""
    task, examples, data = step_inputs(tokenizer, model_name, batch, seq, repeats)
    encoded = encode_examples(tokenizer, examples, seq)
    device = next(p for p in model.parameters() if p.requires_grad).device
    model.train()
    (plain,) = time_steps(model, data, [sft_loss], repeats=repeats)
    fresh = build_optimizer(model, lr=1e-5, weight_decay=0.0, betas=(0.9, 0.95))
    plain_peak = _step_memory(model, {k: v.to(device) for k, v in data.items()}, sft_loss, fresh, device)
    dp_seconds = statistics.median(_dp_steps(model, encoded, tokenizer.pad_token_id, repeats + 1,
                                             noise=noise_multiplier, clip=max_grad_norm, seed=seed)[1:])
    with TensorMemory() as memory:
        _dp_steps(model, encoded, tokenizer.pad_token_id, 1, noise=noise_multiplier, clip=max_grad_norm, seed=seed)
    return DPStepBench(
        model=model_name, task=task, batch=batch, seq=int(data["input_ids"].shape[1]),
        noise_multiplier=noise_multiplier, max_grad_norm=max_grad_norm, plain_seconds=plain.seconds,
        dp_seconds=dp_seconds, time_ratio=ratio(dp_seconds, plain.seconds), plain_peak_bytes=plain_peak,
        dp_peak_bytes=memory.peak, memory_ratio=ratio(memory.peak, plain_peak), memory_kind=TensorMemory.kind,
    )
