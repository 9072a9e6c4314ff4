"""One entry point: score a model on a list of examples, with n and a bootstrap 95% interval.

Multiple-choice examples get ``acc`` (``extra`` holds ``acc_norm``, ``acc_pmi`` when a premise is
given, and their intervals);
generation examples get Rouge-L. Scores are percentages (0-100). The model is put in eval
mode for the call and restored afterwards. Progress is reported through a plain callback so
this module stays free of any UI library.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from torch import nn
from transformers import PreTrainedTokenizerBase

from fedmkt.data.example import Example
from fedmkt.errors import FedMKTError
from fedmkt.evaluation.bootstrap import bootstrap_ci
from fedmkt.evaluation.generation import score_generation
from fedmkt.evaluation.loglikelihood import Progress
from fedmkt.evaluation.multiple_choice import score_multiple_choice


@dataclass(frozen=True)
class EvalResult:
    """A score with its sample size and interval.

    Attributes:
        metric: ``"acc"`` (multiple choice) or ``"rougeL"`` (generation).
        value: mean of ``scores``, in percent.
        n: number of examples scored.
        ci_low, ci_high: percentile bootstrap 95% interval of ``value``.
        extra: for multiple choice ``acc_norm``, ``acc_norm_ci_low``, ``acc_norm_ci_high``, and the same
            three for ``acc_pmi`` when scored with a premise.
        scores: per-example scores of ``metric`` (0 or 100 for acc; 0-100 for Rouge-L).
        predictions: per example, the generated text or the picked choice (by raw sum).
        uids: per example, ``Example.uid``, aligned with ``scores``.
    """

    metric: str
    value: float
    n: int
    ci_low: float
    ci_high: float
    extra: dict[str, float] = field(default_factory=dict)
    scores: list[float] = field(default_factory=list)
    predictions: list[str] = field(default_factory=list)
    uids: list[str] = field(default_factory=list)


def _summary(scores: list[float], seed: int, n_resamples: int) -> tuple[float, float, float]:
    low, high = bootstrap_ci(scores, seed=seed, n_resamples=n_resamples)
    return float(np.mean(scores)), low, high


def evaluate(
    model: nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    examples: Sequence[Example],
    *,
    batch_size: int = 8,
    max_new_tokens: int = 64,
    stop: Sequence[str] = ("\n",),
    prefix_cache: bool = True,
    seed: int = 0,
    n_bootstrap: int = 1000,
    progress: Progress | None = None,
    max_length: int | None = None,
    pmi_premise: str | None = None,
) -> EvalResult:
    """Score ``model`` on ``examples`` (all multiple choice, or all generation).

    Args:
        batch_size: examples per forward pass / per ``generate`` call.
        max_new_tokens, stop: generation only; see ``fedmkt.evaluation.generation``.
        prefix_cache: multiple choice only; see ``score_multiple_choice``.
        seed: seed of the bootstrap resampling.
        n_bootstrap: bootstrap resamples for the 95% intervals.
        progress: called with the number of examples finished, after each batch.
        max_length: positions the model can attend to (default: its config's
            ``max_position_embeddings``); longer prompts are cut from the left, keeping BOS.
        pmi_premise: multiple choice only: the answer cue for ``acc_pmi`` (see ``score_multiple_choice``).

    Raises:
        FedMKTError: no examples, or a mix of multiple-choice and generation examples.
    """
    if not examples:
        raise FedMKTError("evaluate: the example list is empty; expected at least one example")
    kinds = {ex.is_multiple_choice for ex in examples}
    if len(kinds) > 1:
        raise FedMKTError(
            "evaluate: examples mix multiple choice and generation (field 'choices'); expected one kind"
        )
    if batch_size < 1:
        raise FedMKTError(f"evaluate: batch_size is {batch_size}; expected a positive integer")
    if max_length is None:
        max_length = getattr(getattr(model, "config", None), "max_position_embeddings", None)
    was_training = model.training
    model.eval()
    try:
        if kinds == {True}:
            mc = score_multiple_choice(
                model, tokenizer, examples,
                batch_size=batch_size, prefix_cache=prefix_cache, progress=progress, max_length=max_length,
                pmi_premise=pmi_premise,
            )
            metric = "acc"
            scores = [100.0 * a for a in mc.acc]
            norm, norm_low, norm_high = _summary([100.0 * a for a in mc.acc_norm], seed, n_bootstrap)
            extra = {"acc_norm": norm, "acc_norm_ci_low": norm_low, "acc_norm_ci_high": norm_high}
            if mc.acc_pmi:
                pmi, pmi_low, pmi_high = _summary([100.0 * a for a in mc.acc_pmi], seed, n_bootstrap)
                extra |= {"acc_pmi": pmi, "acc_pmi_ci_low": pmi_low, "acc_pmi_ci_high": pmi_high}
            predictions = [ex.choices[p] for ex, p in zip(examples, mc.pred, strict=True)]
        else:
            gen = score_generation(
                model, tokenizer, examples,
                max_new_tokens=max_new_tokens, batch_size=batch_size, stop=stop, progress=progress,
                max_length=max_length,
            )
            metric, scores, extra, predictions = "rougeL", gen.rouge_l, {}, gen.predictions
    finally:
        model.train(was_training)
    value, low, high = _summary(scores, seed, n_bootstrap)
    return EvalResult(
        metric=metric, value=value, n=len(scores), ci_low=low, ci_high=high, extra=extra,
        scores=scores, predictions=predictions, uids=[ex.uid for ex in examples],
    )
