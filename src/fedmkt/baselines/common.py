"""Steps the baselines share: load a participant's model, fine-tune it, score it."""

from __future__ import annotations

import time
from pathlib import Path

from fedmkt.config import ParticipantConfig
from fedmkt.core.train_phase import train_phase
from fedmkt.data.example import Example
from fedmkt.evaluation import evaluate
from fedmkt.evaluation.evaluate import EvalResult
from fedmkt.models.loading import load_model_and_tokenizer
from fedmkt.models.lora import attach_lora, save_adapter
from fedmkt.report.results import ResultRow
from fedmkt.report.scores import write_scores
from fedmkt.runners.context import RunContext
from fedmkt.runners.progress import TrainingBar
from fedmkt.training.batching import pad_id
from fedmkt.training.encode import encode_examples
from fedmkt.training.loop import TrainArgs
from fedmkt.training.sft import sft_loss


def load_participant(ctx: RunContext, participant: ParticipantConfig):
    """The participant's base model and tokenizer on the run's device and dtype."""
    return load_model_and_tokenizer(
        participant.model, dtype=ctx.config.runtime.dtype, device=ctx.config.runtime.device,
        seed=ctx.config.seed,
    )


def train_args(participant: ParticipantConfig, seed: int) -> TrainArgs:
    t = participant.train
    return TrainArgs(
        lr=t.lr, epochs=t.epochs, batch_size=t.batch_size, grad_accum=t.grad_accum,
        weight_decay=t.weight_decay, betas=t.betas, warmup_ratio=t.warmup_ratio,
        max_grad_norm=t.max_grad_norm, max_length=t.max_length, seed=seed, max_steps=t.max_steps,
    )


def attach_participant_lora(model, participant: ParticipantConfig):
    """A fresh LoRA adapter with the participant's settings (the only trainable weights)."""
    lora = participant.lora
    return attach_lora(model, r=lora.r, alpha=lora.alpha, dropout=lora.dropout, target_modules=lora.target_modules)


def finetune(
    ctx: RunContext, participant: ParticipantConfig, model, tokenizer, examples: list[Example],
    method: str, adapter_dir: Path,
):
    """Attach a fresh LoRA adapter, SFT it on ``examples``, save it; returns the peft model.

    Training goes through the same `train_phase` as the federated roles.
    """
    model = attach_participant_lora(model, participant)
    args = train_args(participant, ctx.config.seed)
    phase = f"{method}/{participant.name}"

    def log_step(record: dict) -> None:
        ctx.log.write("train_step", **{**record, "data": record.get("phase"), "phase": phase})

    encoded = encode_examples(tokenizer, examples, args.max_length)
    report = train_phase(participant.name, model, pad_id(tokenizer), encoded, sft_loss, args, "private",
                         progress=TrainingBar(ctx.board, f"train {phase}"), log=log_step)
    ctx.log.write("train_end", phase=phase, steps=report.steps, tokens=report.tokens,
                  seconds=round(report.seconds, 3), mean_loss=report.mean_loss)
    save_adapter(model, adapter_dir)
    return model


def evaluate_eval_set(ctx: RunContext, phase: str, model, tokenizer) -> EvalResult:
    """Score ``model`` on the run's eval set (logged as an ``eval`` event of ``phase``)."""
    examples = ctx.split.eval
    start = time.perf_counter()
    with ctx.board.task(f"eval  {phase}", total=len(examples)) as update:
        result = evaluate(
            model, tokenizer, examples, batch_size=ctx.config.eval.batch_size,
            max_new_tokens=ctx.config.eval.max_new_tokens, seed=ctx.config.seed,
            n_bootstrap=ctx.config.eval.bootstrap, progress=update, pmi_premise=ctx.config.eval.pmi_premise,
        )
    ctx.log.write("eval", phase=phase, metric=result.metric, value=result.value, n=result.n,
                  seconds=round(time.perf_counter() - start, 3), **result.extra)
    return result


def record_scores(
    ctx: RunContext, participant: ParticipantConfig, role: str, method: str, result: EvalResult,
    round_: int | None = None,
) -> list[ResultRow]:
    """The result rows of one scoring: the main metric, plus acc_norm (and acc_pmi) for multiple choice.

    The main metric's per-example scores go to ``scores/`` in the run folder (``report.scores``),
    for the paired tests of ``fedmkt report``; a step redone on resume overwrites its file.
    """
    write_scores(ctx.run_dir, method=method, participant=participant.name, model=participant.model,
                 task=ctx.config.task_label, metric=result.metric, round_=round_, value=result.value,
                 uids=result.uids, scores=result.scores, predictions=result.predictions)
    def row(metric: str, value: float, ci_low: float, ci_high: float) -> ResultRow:
        return ResultRow(scenario=ctx.scenario, method=method, model=participant.model, role=role,
                         participant=participant.name, task=ctx.config.task_label, metric=metric, value=value,
                         n=result.n, ci_low=ci_low, ci_high=ci_high, round=round_)

    rows = [row(result.metric, result.value, result.ci_low, result.ci_high)]
    e = result.extra
    rows += [row(m, e[m], e[f"{m}_ci_low"], e[f"{m}_ci_high"]) for m in ("acc_norm", "acc_pmi") if m in e]
    return rows


def score(
    ctx: RunContext, participant: ParticipantConfig, role: str, method: str, model, tokenizer,
    round_: int | None = None,
) -> list[ResultRow]:
    """Evaluate on the run's eval set and record the scoring (`evaluate_eval_set`, `record_scores`)."""
    result = evaluate_eval_set(ctx, f"{method}/{participant.name}", model, tokenizer)
    return record_scores(ctx, participant, role, method, result, round_)
