"""What every phase of a run needs (the config, the data split, the run folder, the log), and the
set-up functions bound to it: a phase says ``ctx.score(spec, ...)``, not where the folder is.

The runner builds one per run (``runners.local``), the Flower apps one per side; the baselines'
phases and the federated phases take it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from peft import PeftModel
from torch import nn
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from fedmkt.config import ExperimentConfig, ParticipantConfig
from fedmkt.data.example import Example
from fedmkt.data.partition import FederatedSplit
from fedmkt.privacy.budget import PrivacyLedger
from fedmkt.report.events import EventLog
from fedmkt.report.results import ResultRow
from fedmkt.setup import models, scoring, training
from fedmkt.setup.callbacks import Tasks, TrainingBar, no_progress


@dataclass
class RunContext:
    config: ExperimentConfig
    split: FederatedSplit
    run_dir: Path
    log: EventLog
    progress: Tasks = no_progress  # opens a progress bar (the runner's board's ``task``)
    scenario: str = "baselines"
    resume: bool = False  # continue unfinished phases from their checkpoints
    # base model name -> its zero-shot scoring, so LLM-ZS and SLM-ZS score each model once
    zero_shot_results: dict[str, scoring.Scored] = field(default_factory=dict)

    def private_data(self, client: ParticipantConfig) -> list[Example]:
        return self.split.private[self.config.clients.index(client)]

    def adapter_dir(self, method: str, participant: str) -> Path:
        return self.run_dir / "adapters" / method / participant

    def bar(self, description: str) -> TrainingBar:
        """A progress bar for one training phase."""
        return TrainingBar(self.progress, description)

    def load(self, spec: ParticipantConfig) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
        """The participant's base model and tokenizer on the run's device and dtype."""
        runtime = self.config.runtime
        return models.load_model(spec, dtype=runtime.dtype, device=runtime.device, seed=self.config.seed)

    def bases(self) -> models.SharedBases:
        """Participants' models over one copy of each base model (``runtime.share_base``), on the run's device."""
        runtime = self.config.runtime
        return models.SharedBases(dtype=runtime.dtype, device=runtime.device, seed=self.config.seed,
                                  share=runtime.share_base)

    def with_lora(self, spec: ParticipantConfig) -> tuple[PeftModel, PreTrainedTokenizerBase]:
        """The participant's model with a fresh LoRA adapter, and its tokenizer."""
        runtime = self.config.runtime
        return models.with_lora(spec, dtype=runtime.dtype, device=runtime.device, seed=self.config.seed)

    def finetune(
        self, spec: ParticipantConfig, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase,
        examples: Sequence[Example], method: str, privacy: PrivacyLedger | None = None,
    ) -> PeftModel:
        """A baseline's fine-tuning, its adapter kept under ``adapters/<method>/<participant>`` (``privacy``: with
        DP-SGD, the participant's ledger)."""
        phase = f"{method}/{spec.name}"
        return training.finetune(spec, model, tokenizer, examples, seed=self.config.seed, phase=phase,
                                 adapter_dir=self.adapter_dir(method, spec.name), write_event=self.log.write,
                                 progress=self.bar(f"train {phase}"), privacy=privacy)

    def evaluate(self, phase: str, model: nn.Module, tokenizer: PreTrainedTokenizerBase) -> scoring.Scored:
        """Score ``model`` on the run's eval set, each domain's on its own (logged as ``eval`` events of ``phase``)."""
        return scoring.evaluate_sets(model, tokenizer, self.split.eval_sets(self.config.task_label), self.config.eval,
                                     domains=bool(self.config.domains), seed=self.config.seed, phase=phase,
                                     write_event=self.log.write, progress=self.progress)

    def record_scores(
        self, spec: ParticipantConfig, role: str, method: str, scored: scoring.Scored, round_: int | None = None,
    ) -> list[ResultRow]:
        """The rows of one scoring, its per-example scores kept in the run folder."""
        return scoring.record_sets(self.run_dir, scored, spec, domains=bool(self.config.domains), role=role,
                                   method=method, scenario=self.scenario, round_=round_)

    def score(
        self, spec: ParticipantConfig, role: str, method: str, model: nn.Module,
        tokenizer: PreTrainedTokenizerBase, round_: int | None = None,
    ) -> list[ResultRow]:
        """:meth:`evaluate` and :meth:`record_scores`, the phase named ``<method>/<participant>``."""
        result = self.evaluate(f"{method}/{spec.name}", model, tokenizer)
        return self.record_scores(spec, role, method, result, round_)
