"""What does the KD term cost? One LoRA SFT optimizer step against one SFT+KD step.

Both steps use the same model (one LoRA adapter), the same batch and their own AdamW; the
SFT+KD step uses ``make_kd_loss`` with top-``k`` KD targets at every answer position (random
but valid: distinct ids below the vocabulary size, descending probabilities), ``kd_weight``
0.1. Each variant runs one warm-up step, then ``repeats`` timed steps; the figure is the
median. The targets for the design are ``time ratio <= 1.15`` and ``memory ratio <= 1.10``.

Peak memory is exact, on CPU as on GPU: one more (untimed) step of each variant runs under
:class:`~fedmkt.bench.tensor_memory.TensorMemory`, which counts the bytes of every tensor the
step's ops create (forward, backward, optimizer) and the peak of those alive at once. It is
measured apart from the timed steps because watching every op slows them.

:class:`PeakMemory` (sampled resident set size on CPU, ``max_memory_allocated`` on CUDA) is
what ``fedmkt bench eval`` uses: on CPU it sees the allocator's caching and misses short peaks,
so compare its ratios, not its bytes.
"""

from __future__ import annotations

import gc
import statistics
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from types import TracebackType

import psutil
import torch
from torch import nn
from transformers import PreTrainedTokenizerBase

from fedmkt.bench.tensor_memory import TensorMemory
from fedmkt.core.kd_training import KDTargets, make_kd_loss
from fedmkt.data.example import Example
from fedmkt.data.tasks import get_task
from fedmkt.errors import FedMKTError
from fedmkt.models.logits import decoder_and_head
from fedmkt.models.tiny import is_tiny_name
from fedmkt.training.batching import Batch, collate
from fedmkt.training.encode import encode_examples
from fedmkt.training.loop import LossFn
from fedmkt.training.optim import build_optimizer
from fedmkt.training.sft import answer_positions, sft_loss

TIME_RATIO_TARGET = 1.15
MEMORY_RATIO_TARGET = 1.10
KD_WEIGHT = 0.1


class PeakMemory:
    """Context manager measuring the peak memory added while its block runs, in bytes (``.peak``).

    See the module docstring for what is measured on CUDA (allocated tensors) and on CPU
    (sampled resident set size).
    """

    def __init__(self, device: torch.device, interval_s: float = 0.001) -> None:
        self.device = device
        self.interval_s = interval_s
        self.peak = 0
        self._start = 0
        self._max = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def kind(self) -> str:
        return "cuda_max_memory_allocated" if self.device.type == "cuda" else "cpu_rss_sampled"

    def _sample(self) -> None:
        process = psutil.Process()
        while not self._stop.is_set():
            self._max = max(self._max, process.memory_info().rss)
            time.sleep(self.interval_s)

    def __enter__(self) -> PeakMemory:
        gc.collect()
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self._start = torch.cuda.memory_allocated(self.device)
        else:
            self._start = self._max = psutil.Process().memory_info().rss
            self._stop.clear()
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            self.peak = torch.cuda.max_memory_allocated(self.device) - self._start
            return
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._max = max(self._max, psutil.Process().memory_info().rss)
        self.peak = max(self._max - self._start, 0)


def ratio(numerator: float, denominator: float) -> float | None:
    """``numerator / denominator``, or None when the denominator is 0 (JSON has no NaN)."""
    return numerator / denominator if denominator > 0 else None


def bench_task_name(model_name: str) -> str:
    """``tiny_qa`` for tiny models (their vocabularies are made for it), ``arc_easy`` otherwise."""
    return "tiny_qa" if is_tiny_name(model_name) else "arc_easy"


def few_shot_examples(examples: Sequence[Example], count: int) -> list[Example]:
    """``count`` examples whose prompts are preceded by earlier question/answer pairs.

    Single questions are a few tokens long; prepending the previous examples gives prompts long
    enough to be cut to the benchmark's sequence length, as few-shot training data would be.
    """
    if len(examples) < count:
        raise FedMKTError(f"bench step: the task has {len(examples)} examples; --batch {count} needs more")
    out = []
    for i in range(count):
        shots = "".join(ex.prompt + ex.target + "\n\n" for ex in examples[count + i * 8 : count + i * 8 + 8])
        out.append(Example(uid=examples[i].uid, prompt=shots + examples[i].prompt, target=examples[i].target))
    return out


def build_batch(tokenizer: PreTrainedTokenizerBase, examples: Sequence[Example], seq: int) -> Batch:
    """One padded training batch (``input_ids``/``labels``/``attention_mask`` ``(B, <= seq)``, ``index`` ``(B,)``)."""
    encoded = encode_examples(tokenizer, examples, seq)
    return collate(encoded, tokenizer.pad_token_id)


def random_kd_targets(batch: Batch, vocab_size: int, top_k: int, seed: int = 0) -> dict[int, KDTargets]:
    """Top-``k`` KD targets at every answer position of ``batch``, random but valid.

    Ids are ``k`` distinct ids in ``[0, vocab_size)`` per position; probabilities are a softmax
    of sorted Gaussian scores, so they are positive, descending and sum to 1 like a real top-k.
    """
    if not 1 <= top_k <= vocab_size:
        raise FedMKTError(f"bench step: --top-k {top_k} must be in [1, vocab size {vocab_size}]")
    generator = torch.Generator().manual_seed(seed)
    counts = answer_positions(batch["labels"]).sum(dim=1).tolist()
    targets = {}
    for index, count in zip(batch["index"].tolist(), counts, strict=True):
        ids = torch.stack([torch.randperm(vocab_size, generator=generator)[:top_k] for _ in range(count)])
        scores = torch.randn(count, top_k, generator=generator).sort(dim=-1, descending=True).values
        targets[int(index)] = KDTargets(ids.long(), scores.softmax(dim=-1), torch.ones(count))
    return targets


@dataclass(frozen=True)
class StepTiming:
    """Median seconds of the timed steps and the exact peak tensor memory (bytes) of one step."""

    seconds: float
    peak_bytes: int


def _one_step(model: nn.Module, batch: Batch, loss_fn: LossFn, optimizer: torch.optim.Optimizer,
              device: torch.device) -> float:
    """Seconds of one optimizer step (zero_grad, forward, backward, AdamW step)."""
    start = time.perf_counter()
    optimizer.zero_grad(set_to_none=True)
    loss, _ = loss_fn(model, batch)
    loss.backward()
    optimizer.step()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elapsed = time.perf_counter() - start
    optimizer.zero_grad(set_to_none=True)
    return elapsed


def _step_memory(model: nn.Module, batch: Batch, loss_fn: LossFn, optimizer: torch.optim.Optimizer,
                 device: torch.device) -> int:
    """Exact peak bytes of tensors one optimizer step creates (``TensorMemory``)."""
    with TensorMemory() as memory:
        _one_step(model, batch, loss_fn, optimizer, device)
    return memory.peak


def time_steps(model: nn.Module, batch: Batch, loss_fns: Sequence[LossFn], *, repeats: int) -> list[StepTiming]:
    """Per loss function: one warm-up optimizer step, ``repeats`` timed ones, one measuring memory.

    Each loss function has its own AdamW (state created in its warm-up). The timed steps are
    interleaved (``a, b, a, b, ...``) so drift of the machine (thermal, other processes,
    allocator growth) falls on every variant alike.
    """
    device = next(p for p in model.parameters() if p.requires_grad).device
    batch = {k: v.to(device) for k, v in batch.items()}
    optimizers = [build_optimizer(model, lr=1e-5, weight_decay=0.0, betas=(0.9, 0.95)) for _ in loss_fns]
    for loss_fn, optimizer in zip(loss_fns, optimizers, strict=True):
        _one_step(model, batch, loss_fn, optimizer, device)  # warm-up: lazy init, optimizer state
    runs: list[list[float]] = [[] for _ in loss_fns]
    for _ in range(repeats):
        for run, loss_fn, optimizer in zip(runs, loss_fns, optimizers, strict=True):
            run.append(_one_step(model, batch, loss_fn, optimizer, device))
    peaks = [_step_memory(model, batch, f, o, device) for f, o in zip(loss_fns, optimizers, strict=True)]
    return [StepTiming(statistics.median(run), peak) for run, peak in zip(runs, peaks, strict=True)]


@dataclass(frozen=True)
class StepBench:
    """Figures of ``fedmkt bench step`` (seconds, bytes, ratios KD / SFT)."""

    model: str
    task: str
    batch: int
    seq: int
    top_k: int
    answer_positions: int
    sft_seconds: float
    kd_seconds: float
    time_ratio: float | None
    sft_peak_bytes: int
    kd_peak_bytes: int
    memory_ratio: float | None
    memory_kind: str
    time_ratio_target: float = TIME_RATIO_TARGET
    memory_ratio_target: float = MEMORY_RATIO_TARGET

    def as_dict(self) -> dict:
        return asdict(self)


def step_inputs(tokenizer: PreTrainedTokenizerBase, model_name: str, batch: int, seq: int,
                repeats: int) -> tuple[str, list[Example], Batch]:
    """The task, the few-shot examples and their batch every ``bench step`` variant trains on (sizes checked)."""
    if batch < 1 or seq < 4 or repeats < 1:
        raise FedMKTError(f"bench step: expected --batch >= 1, --seq >= 4, repeats >= 1; got {batch}, {seq}, {repeats}")
    task = bench_task_name(model_name)
    examples = few_shot_examples(get_task(task).load("train"), batch)
    return task, examples, build_batch(tokenizer, examples, seq)


def bench_step(
    model: nn.Module, tokenizer: PreTrainedTokenizerBase, model_name: str, *,
    batch: int, seq: int, top_k: int, repeats: int = 3, seed: int = 0,
) -> StepBench:
    """Time and measure one SFT step and one SFT+KD step of a LoRA-wrapped ``model`` on one batch."""
    task, _, data = step_inputs(tokenizer, model_name, batch, seq, repeats)
    vocab = min(len(tokenizer), decoder_and_head(model)[1].weight.shape[0])
    targets = random_kd_targets(data, vocab, top_k, seed)
    model.train()
    sft, kd = time_steps(model, data, [sft_loss, make_kd_loss(targets, KD_WEIGHT)], repeats=repeats)
    return StepBench(
        model=model_name, task=task, batch=batch, seq=int(data["input_ids"].shape[1]), top_k=top_k,
        answer_positions=int(answer_positions(data["labels"]).sum()),
        sft_seconds=sft.seconds, kd_seconds=kd.seconds, time_ratio=ratio(kd.seconds, sft.seconds),
        sft_peak_bytes=sft.peak_bytes, kd_peak_bytes=kd.peak_bytes,
        memory_ratio=ratio(kd.peak_bytes, sft.peak_bytes), memory_kind=TensorMemory.kind,
    )
