"""A participant's training arguments, and the fine-tuning of the baselines.

``train_args`` reads the participant's ``train`` entry; a federated round reshuffles with a
seed that moves with the round (``round_args``). ``finetune`` is the baselines' one phase: a
fresh adapter, SFT through the same ``train_phase`` as the federated roles, saved to a folder.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from peft import PeftModel
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from fedmkt.config import ParticipantConfig
from fedmkt.core.reports import PrivacyReport
from fedmkt.core.train_phase import private_phase
from fedmkt.data.example import Example
from fedmkt.models.lora import save_adapter
from fedmkt.privacy.budget import PrivacyLedger
from fedmkt.setup.callbacks import WriteEvent
from fedmkt.setup.models import attach_spec_lora
from fedmkt.training.batching import pad_id
from fedmkt.training.encode import encode_examples
from fedmkt.training.loop import ProgressCallback, TrainArgs, trainable_count


def train_args(spec: ParticipantConfig, seed: int) -> TrainArgs:
    t = spec.train
    return TrainArgs(
        lr=t.lr, epochs=t.epochs, batch_size=t.batch_size, grad_accum=t.grad_accum,
        weight_decay=t.weight_decay, betas=t.betas, warmup_ratio=t.warmup_ratio,
        max_grad_norm=t.max_grad_norm, max_length=t.max_length, seed=seed, max_steps=t.max_steps,
    )


def round_args(spec: ParticipantConfig, seed: int, round_: int) -> TrainArgs:
    """Each round reshuffles: the seed moves with the round."""
    return replace(train_args(spec, seed), seed=seed + 1000 * round_)


def finetune(
    spec: ParticipantConfig, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, examples: Sequence[Example],
    *, seed: int, phase: str, adapter_dir: Path, write_event: WriteEvent, progress: ProgressCallback | None = None,
    privacy: PrivacyLedger | None = None,
) -> PeftModel:
    """Attach a fresh LoRA adapter, SFT it on ``examples``, save it to ``adapter_dir``; the peft model.

    Every step is a ``train_step`` event and the end a ``train_end`` event, both of ``phase``
    (the step's data, ``private``, moves to ``data``). With ``privacy`` the SFT is DP-SGD, and a ``privacy``
    event says what it spent.
    """
    peft_model = attach_spec_lora(model, spec)
    args = train_args(spec, seed)

    def log_step(record: dict) -> None:
        write_event("train_step", **{**record, "data": record.get("phase"), "phase": phase})

    encoded = encode_examples(tokenizer, examples, args.max_length)
    report = private_phase(spec.name, peft_model, pad_id(tokenizer), encoded, args, privacy, progress=progress,
                           log=log_step)
    write_event("train_end", phase=phase, steps=report.steps, tokens=report.tokens,
                seconds=round(report.seconds, 3), mean_loss=report.mean_loss)
    if privacy is not None:
        spent = PrivacyReport.of(privacy, spec.name, report.steps, trainable=trainable_count(peft_model),
                                 n_private=len(examples))
        write_event("privacy", phase=phase, **spent.to_dict())
    save_adapter(peft_model, adapter_dir)
    return peft_model
