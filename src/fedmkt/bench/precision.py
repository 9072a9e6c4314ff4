"""Does bf16 autocast pay on this machine, and does accuracy stay? fp32 against autocast, side by side.

Two figures per precision, on the same LoRA-wrapped model: the median seconds of one SFT+KD
optimizer step (the training cost of a round) and the seconds and accuracy of scoring ``n``
multiple-choice questions (``fedmkt.evaluation.evaluate``, the scoring cost). Agreement is the
share of questions where both precisions pick the same choice: accuracy can stay equal while
single answers flip, and that is what tells whether bf16 changes the model's behaviour.
Timed steps alternate between the precisions so machine drift falls on both alike.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from torch import nn
from transformers import PreTrainedTokenizerBase

from fedmkt.bench.step import KD_WEIGHT, build_batch, few_shot_examples, random_kd_targets, ratio, time_steps
from fedmkt.core.kd_training import make_kd_loss
from fedmkt.data.example import Example
from fedmkt.evaluation import EvalResult, evaluate
from fedmkt.models.logits import decoder_and_head
from fedmkt.models.precision import mixed_precision
from fedmkt.training.batching import Batch
from fedmkt.training.loop import LossFn


def _under(mode: str, loss_fn: LossFn) -> LossFn:
    """``loss_fn`` with its forward pass run under ``mixed_precision(mode)`` (backward follows it)."""

    def run(model: nn.Module, batch: Batch):
        device = next(model.parameters()).device
        with mixed_precision(mode, device):  # type: ignore[arg-type]
            return loss_fn(model, batch)

    return run


def _score(model: nn.Module, tokenizer: PreTrainedTokenizerBase, examples: Sequence[Example], mode: str,
           batch_size: int) -> tuple[EvalResult, float]:
    device = next(model.parameters()).device
    start = time.perf_counter()
    with mixed_precision(mode, device):  # type: ignore[arg-type]
        result = evaluate(model, tokenizer, list(examples), batch_size=batch_size, n_bootstrap=100)
    return result, time.perf_counter() - start


@dataclass(frozen=True)
class PrecisionBench:
    """Figures of ``fedmkt bench precision`` (seconds, percent, speed-ups fp32 / autocast)."""

    model: str
    batch: int
    seq: int
    top_k: int
    n: int
    step_seconds_fp32: float
    step_seconds_autocast: float
    step_speedup: float | None
    eval_seconds_fp32: float
    eval_seconds_autocast: float
    eval_speedup: float | None
    accuracy_fp32: float
    accuracy_autocast: float
    prediction_agreement: float

    def as_dict(self) -> dict:
        return asdict(self)


def bench_precision(
    model: nn.Module, tokenizer: PreTrainedTokenizerBase, model_name: str, train_examples: Sequence[Example],
    eval_examples: Sequence[Example], *, batch: int, seq: int, top_k: int, repeats: int = 3,
    eval_batch_size: int = 8, seed: int = 0,
) -> PrecisionBench:
    """Time an SFT+KD step and score ``eval_examples`` in fp32 and under bf16 autocast."""
    data = build_batch(tokenizer, few_shot_examples(train_examples, batch), seq)
    vocab = min(len(tokenizer), decoder_and_head(model)[1].weight.shape[0])
    kd = make_kd_loss(random_kd_targets(data, vocab, top_k, seed), KD_WEIGHT)
    model.train()
    fp32, bf16 = time_steps(model, data, [_under("off", kd), _under("bfloat16", kd)], repeats=repeats)
    model.eval()
    for mode in ("off", "bfloat16"):  # warm-up: first-call costs (kernels, allocator) fall on neither timing
        _score(model, tokenizer, eval_examples[:eval_batch_size], mode, eval_batch_size)
    full, full_seconds = _score(model, tokenizer, eval_examples, "off", eval_batch_size)
    mixed, mixed_seconds = _score(model, tokenizer, eval_examples, "bfloat16", eval_batch_size)
    same = sum(a == b for a, b in zip(full.predictions, mixed.predictions, strict=True))
    return PrecisionBench(
        model=model_name, batch=batch, seq=int(data["input_ids"].shape[1]), top_k=top_k, n=full.n,
        step_seconds_fp32=fp32.seconds, step_seconds_autocast=bf16.seconds,
        step_speedup=ratio(fp32.seconds, bf16.seconds), eval_seconds_fp32=full_seconds,
        eval_seconds_autocast=mixed_seconds, eval_speedup=ratio(full_seconds, mixed_seconds),
        accuracy_fp32=full.value, accuracy_autocast=mixed.value,
        prediction_agreement=100.0 * same / max(full.n, 1),
    )
