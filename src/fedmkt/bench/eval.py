"""What does computing logits only at continuation positions save when scoring multiple choice?

Three ways to score the same questions by log-likelihood, each timed end to end (encoding,
forward passes, picking the answer):

- ``selected``: ``fedmkt.evaluation.evaluate(prefix_cache=False)``, one sequence per choice,
  LM head only at the continuation positions;
- ``selected_cached``: ``evaluate(prefix_cache=True)``, the context runs once per question;
- ``full_vocab``: the straightforward reference, :func:`full_vocab_logprobs`, which takes
  ``model(input_ids).logits`` (the head at every position) and a log-softmax over all of it.

All three must pick the same answers: the selected-logits paths are exact, not approximations.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from functools import partial

import torch
from torch import nn
from transformers import PreTrainedTokenizerBase

from fedmkt.bench.step import PeakMemory, ratio
from fedmkt.data.example import Example
from fedmkt.errors import FedMKTError
from fedmkt.evaluation import evaluate
from fedmkt.evaluation.encoding import encode_choices, pad_batch
from fedmkt.evaluation.multiple_choice import pick


@torch.inference_mode()
def full_vocab_logprobs(
    model: nn.Module,
    contexts: Sequence[Sequence[int]],
    choices: Sequence[Sequence[Sequence[int]]],
    *,
    batch_size: int = 8,
) -> list[list[float]]:
    """``log P(choices[e][c] | contexts[e])`` from the full ``(R, L, vocab)`` logits of each batch.

    Batched like ``fedmkt.evaluation.loglikelihood.full_sequence_logprobs`` (examples sorted by
    length, all choices of an example in one batch, right padding), but the LM head runs at
    every position and the log-softmax covers every position: the cost the selected-logits
    path avoids.
    """
    device = next(model.parameters()).device
    order = sorted(range(len(contexts)), key=lambda e: -max(len(contexts[e]) + len(c) for c in choices[e]))
    out: list[list[float]] = [[0.0] * len(choices[e]) for e in range(len(contexts))]
    for start in range(0, len(order), batch_size):
        pairs = [(e, c) for e in order[start : start + batch_size] for c in range(len(choices[e]))]
        seqs = [list(contexts[e]) + list(choices[e][c]) for e, c in pairs]
        ids, mask = pad_batch([s[:-1] for s in seqs], left=False)  # (R, L)
        logprobs = model(input_ids=ids.to(device), attention_mask=mask.to(device)).logits.float().log_softmax(-1)
        for r, (e, c) in enumerate(pairs):
            first = len(contexts[e]) - 1  # position predicting the choice's first token
            tgt = torch.tensor(choices[e][c], device=device)
            rows = logprobs[r, first : first + len(tgt)]  # (len(choice), vocab)
            out[e][c] = float(rows.gather(-1, tgt[:, None]).sum())
    return out


def reference_accuracy(
    model: nn.Module, tokenizer: PreTrainedTokenizerBase, examples: Sequence[Example], *, batch_size: int = 8
) -> list[float]:
    """Per-example accuracy (0 or 100, by the raw log-likelihood sum) from :func:`full_vocab_logprobs`."""
    encoded = [encode_choices(tokenizer, ex.prompt, ex.choices, uid=ex.uid) for ex in examples]
    lls = full_vocab_logprobs(model, [c for c, _ in encoded], [cs for _, cs in encoded], batch_size=batch_size)
    return [100.0 * (pick(ll, ex.choices)[0] == ex.gold) for ll, ex in zip(lls, examples, strict=True)]


@dataclass(frozen=True)
class Variant:
    """One scoring path: seconds, peak memory (bytes, see ``PeakMemory``), accuracy (%) and per-example scores."""

    seconds: float
    peak_bytes: int
    accuracy: float
    scores: list[float]


def _run(device: torch.device, score: Callable[[], list[float]]) -> Variant:
    with PeakMemory(device) as memory:
        start = time.perf_counter()
        scores = score()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        seconds = time.perf_counter() - start
    return Variant(seconds, memory.peak, sum(scores) / len(scores), scores)


@dataclass(frozen=True)
class EvalBench:
    """Figures of ``fedmkt bench eval``; ratios are selected-path seconds / full-vocabulary seconds."""

    model: str
    task: str
    n: int
    selected_seconds: float
    selected_cached_seconds: float
    full_vocab_seconds: float
    selected_time_ratio: float | None
    selected_cached_time_ratio: float | None
    selected_peak_bytes: int
    selected_cached_peak_bytes: int
    full_vocab_peak_bytes: int
    selected_accuracy: float
    selected_cached_accuracy: float
    full_vocab_accuracy: float
    identical_accuracy: bool
    memory_kind: str

    def as_dict(self) -> dict:
        return asdict(self)


def bench_eval(
    model: nn.Module, tokenizer: PreTrainedTokenizerBase, examples: Sequence[Example], *,
    model_name: str, task: str, batch_size: int = 8,
) -> EvalBench:
    """Score ``examples`` three ways (see the module docstring), each after one untimed warm-up batch."""
    if not examples or not all(ex.is_multiple_choice for ex in examples):
        raise FedMKTError(f"bench eval: task {task!r} gave no multiple-choice examples; expected e.g. arc_easy")
    device = next(model.parameters()).device
    model.eval()

    def ours(prefix_cache: bool) -> Callable[[Sequence[Example]], list[float]]:
        return lambda exs: evaluate(model, tokenizer, exs, batch_size=batch_size, prefix_cache=prefix_cache,
                                    n_bootstrap=10).scores

    def reference(exs: Sequence[Example]) -> list[float]:
        return reference_accuracy(model, tokenizer, exs, batch_size=batch_size)

    variants = {"selected": ours(False), "cached": ours(True), "full": reference}
    for score in variants.values():  # warm-up: one batch each, untimed
        score(examples[:batch_size])
    selected, cached, full = (_run(device, partial(score, examples)) for score in variants.values())
    return EvalBench(
        model=model_name, task=task, n=len(examples),
        selected_seconds=selected.seconds, selected_cached_seconds=cached.seconds, full_vocab_seconds=full.seconds,
        selected_time_ratio=ratio(selected.seconds, full.seconds),
        selected_cached_time_ratio=ratio(cached.seconds, full.seconds),
        selected_peak_bytes=selected.peak_bytes, selected_cached_peak_bytes=cached.peak_bytes,
        full_vocab_peak_bytes=full.peak_bytes,
        selected_accuracy=selected.accuracy, selected_cached_accuracy=cached.accuracy,
        full_vocab_accuracy=full.accuracy,
        identical_accuracy=selected.scores == cached.scores == full.scores,
        memory_kind=PeakMemory(device).kind,
    )
