"""Scoring a participant's model on the eval set, and the result rows and score file of one scoring.

``evaluate_examples`` runs ``fedmkt.evaluation.evaluate`` with the experiment's ``eval`` entry and
logs it; ``record_scores`` keeps the main metric's per-example scores for ``fedmkt report``'s paired
tests and returns the rows of ``results.json`` (plus acc_norm and acc_pmi for multiple choice).

A domain federation scores every model on each domain's eval set with that domain's metric
(``evaluate_sets``, ``record_sets``): its rows carry the domain as their ``task``, its events and
score files name it; one task is one set, logged and filed as before.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from torch import nn
from transformers import PreTrainedTokenizerBase

from fedmkt.config import EvalConfig, ParticipantConfig
from fedmkt.data.example import Example
from fedmkt.evaluation import evaluate
from fedmkt.evaluation.evaluate import EvalResult
from fedmkt.report.results import ResultRow
from fedmkt.report.scores import write_scores
from fedmkt.setup.callbacks import Tasks, WriteEvent

Scored = dict[str, EvalResult]
"""One model's scoring: domain (the task's label for one task) -> its result."""


def evaluate_sets(
    model: nn.Module, tokenizer: PreTrainedTokenizerBase, sets: Mapping[str, Sequence[Example]],
    settings: EvalConfig, *, domains: bool, seed: int, phase: str, write_event: WriteEvent, progress: Tasks,
) -> Scored:
    """Score ``model`` on each eval set; with ``domains`` each is logged as ``<phase>/<domain>`` with its task."""
    return {label: evaluate_examples(model, tokenizer, examples, settings, seed=seed, phase=phase,
                                     write_event=write_event, progress=progress, task=label if domains else None)
            for label, examples in sets.items()}


def record_sets(
    run_dir: Path, scored: Scored, spec: ParticipantConfig, *, domains: bool, role: str, method: str,
    scenario: str, round_: int | None = None,
) -> list[ResultRow]:
    """The result rows of every set's scoring (:func:`record_scores`), each with its domain as ``task``."""
    return [row for label, result in scored.items()
            for row in record_scores(run_dir, result, spec, role=role, method=method, scenario=scenario, task=label,
                                     round_=round_, domain=domains)]


def evaluate_examples(
    model: nn.Module, tokenizer: PreTrainedTokenizerBase, examples: Sequence[Example], settings: EvalConfig,
    *, seed: int, phase: str, write_event: WriteEvent, progress: Tasks, task: str | None = None,
) -> EvalResult:
    """Score ``model`` on ``examples`` (one bar of ``progress``), logged as an ``eval`` event of ``phase``
    (of ``<phase>/<task>`` naming the ``task``, for a domain's eval set)."""
    if task is not None:
        phase = f"{phase}/{task}"
    start = time.perf_counter()
    with progress(f"eval  {phase}", len(examples)) as update:
        result = evaluate(
            model, tokenizer, examples, batch_size=settings.batch_size, max_new_tokens=settings.max_new_tokens,
            seed=seed, n_bootstrap=settings.bootstrap, progress=update, pmi_premise=settings.pmi_premise,
        )
    named = {} if task is None else {"task": task}
    write_event("eval", phase=phase, **named, metric=result.metric, value=result.value, n=result.n,
                seconds=round(time.perf_counter() - start, 3), **result.extra)
    return result


def record_scores(
    run_dir: Path, result: EvalResult, spec: ParticipantConfig, *, role: str, method: str, scenario: str,
    task: str, round_: int | None = None, domain: bool = False,
) -> list[ResultRow]:
    """The result rows of one scoring: the main metric, plus acc_norm (and acc_pmi) for multiple choice.

    The main metric's per-example scores go to ``scores/`` in ``run_dir`` (``report.scores``; a
    ``domain``'s file is named after its ``task``), for the paired tests of ``fedmkt report``; a step
    redone on resume overwrites its file.
    """
    write_scores(run_dir, method=method, participant=spec.name, model=spec.model, task=task,
                 metric=result.metric, round_=round_, value=result.value, uids=result.uids,
                 scores=result.scores, predictions=result.predictions, domain=domain)

    def row(metric: str, value: float, ci_low: float, ci_high: float) -> ResultRow:
        return ResultRow(scenario=scenario, method=method, model=spec.model, role=role, participant=spec.name,
                         task=task, metric=metric, value=value, n=result.n, ci_low=ci_low, ci_high=ci_high,
                         round=round_)

    rows = [row(result.metric, result.value, result.ci_low, result.ci_high)]
    e = result.extra
    rows += [row(m, e[m], e[f"{m}_ci_low"], e[f"{m}_ci_high"]) for m in ("acc_norm", "acc_pmi") if m in e]
    return rows
