"""Multiple choice by log-likelihood, with lm-evaluation-harness's ``acc`` and ``acc_norm``.

Each choice is scored as ``log P(choice | prompt)`` (summed over its tokens);
``acc`` picks the highest sum, ``acc_norm`` the highest sum divided by the choice's length
in characters. lm-evaluation-harness divides by ``len(choice)`` of the choice *without* the
target delimiter (a single space); our choices carry that space, so we drop one leading
space before counting. Characters equal UTF-8 bytes for the English tasks used here; they
differ only for non-ASCII text. Ties go to the first choice, as ``numpy.argmax`` does.

``acc_pmi`` is domain-conditional PMI (Holtzman et al., 2021, "Surface Form Competition"): each
choice's sum minus ``log P(choice | premise)``, the premise being the task's answer cue alone
(``"Answer:"``). A choice that is likely whatever the question (a frequent word, BoolQ's "yes")
loses its head start; where the model already knows the answers it can cost accuracy (RESULTS.md).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from torch import nn
from transformers import PreTrainedTokenizerBase

from fedmkt.data.example import Example
from fedmkt.errors import FedMKTError
from fedmkt.evaluation.encoding import encode_choices
from fedmkt.evaluation.loglikelihood import Progress, cached_prefix_logprobs, full_sequence_logprobs


@dataclass(frozen=True)
class ChoiceScores:
    """Per-example results, in the order of the examples given.

    Attributes:
        loglikelihoods: per example, ``log P(choice | prompt)`` for each choice.
        pred: index picked by the raw sum.
        pred_norm: index picked by the length-normalised sum.
        acc: 1.0 where ``pred == gold`` else 0.0.
        acc_norm: 1.0 where ``pred_norm == gold`` else 0.0.
        pred_pmi, acc_pmi: the same for domain-conditional PMI (empty when no premise was given).
    """

    loglikelihoods: list[list[float]]
    pred: list[int]
    pred_norm: list[int]
    acc: list[float]
    acc_norm: list[float]
    pred_pmi: list[int] = field(default_factory=list)
    acc_pmi: list[float] = field(default_factory=list)


def choice_length(choice: str) -> int:
    """Characters lm-evaluation-harness divides by: the choice without its leading delimiter space."""
    return max(len(choice.removeprefix(" ")), 1)


def pick(loglikelihoods: Sequence[float], choices: Sequence[str]) -> tuple[int, int]:
    """``(argmax of the sums, argmax of sum / choice_length)``."""
    lls = np.asarray(loglikelihoods, dtype=np.float64)
    lengths = np.array([choice_length(c) for c in choices], dtype=np.float64)
    return int(np.argmax(lls)), int(np.argmax(lls / lengths))


def pick_pmi(loglikelihoods: Sequence[float], unconditional: Sequence[float]) -> int:
    """Argmax of ``log P(choice | prompt) - log P(choice | premise)``."""
    return int(np.argmax(np.asarray(loglikelihoods, dtype=np.float64) - np.asarray(unconditional, dtype=np.float64)))


def _check(example: Example) -> int:
    if not example.choices:
        raise FedMKTError(
            f"example {example.uid}: field 'choices' is empty; expected a multiple-choice example"
        )
    if example.gold is None or not 0 <= example.gold < len(example.choices):
        raise FedMKTError(
            f"example {example.uid}: field 'gold' is {example.gold!r}; "
            f"expected an index in [0, {len(example.choices)})"
        )
    return example.gold


def score_multiple_choice(
    model: nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    examples: Sequence[Example],
    *,
    batch_size: int = 8,
    prefix_cache: bool = True,
    progress: Progress | None = None,
    max_length: int | None = None,
    pmi_premise: str | None = None,
) -> ChoiceScores:
    """Score every choice of every example and pick answers.

    Args:
        batch_size: examples per forward pass; each brings all its choices.
        prefix_cache: run each prompt once and the choices on its key/value cache (exact,
            faster); ``False`` runs one full sequence per choice as lm-evaluation-harness does.
        progress: called with the number of examples finished after each batch.
        max_length: the model's positions; longer prompts are cut from the left (``fit_context``).
        pmi_premise: the answer cue alone (``"Answer:"``): also score each distinct choice after it
            and pick by domain-conditional PMI (``acc_pmi``); None skips it.
    """
    golds = [_check(ex) for ex in examples]
    encoded = [encode_choices(tokenizer, ex.prompt, ex.choices, uid=ex.uid, max_length=max_length)
               for ex in examples]
    contexts = [ctx for ctx, _ in encoded]
    conts = [cs for _, cs in encoded]
    score = cached_prefix_logprobs if prefix_cache else full_sequence_logprobs
    lls = score(model, contexts, conts, batch_size=batch_size, progress=progress)
    picks = [pick(ll, ex.choices) for ll, ex in zip(lls, examples, strict=True)]
    pmi: list[int] = []
    if pmi_premise is not None:
        prior = _unconditional(model, tokenizer, pmi_premise, examples, batch_size, score, max_length)
        pmi = [pick_pmi(ll, [prior[c] for c in ex.choices]) for ll, ex in zip(lls, examples, strict=True)]
    return ChoiceScores(
        loglikelihoods=lls,
        pred=[p for p, _ in picks],
        pred_norm=[p for _, p in picks],
        acc=[float(p == g) for (p, _), g in zip(picks, golds, strict=True)],
        acc_norm=[float(p == g) for (_, p), g in zip(picks, golds, strict=True)],
        pred_pmi=pmi,
        acc_pmi=[float(p == g) for p, g in zip(pmi, golds, strict=True)] if pmi else [],
    )


def _unconditional(
    model: nn.Module, tokenizer: PreTrainedTokenizerBase, premise: str, examples: Sequence[Example],
    batch_size: int, score: Callable[..., list[list[float]]], max_length: int | None,
) -> dict[str, float]:
    """``log P(choice | premise)`` for each distinct choice string, each scored once."""
    distinct = sorted({c for ex in examples for c in ex.choices})
    encoded = [encode_choices(tokenizer, premise, [c], uid=f"premise/{i}", max_length=max_length)
               for i, c in enumerate(distinct)]
    lls = score(model, [ctx for ctx, _ in encoded], [cs for _, cs in encoded], batch_size=batch_size)
    return {c: ll[0] for c, ll in zip(distinct, lls, strict=True)}
