"""What every phase of a run needs: the config, the data split, the run folder, the log."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from fedmkt.config import ExperimentConfig, ParticipantConfig
from fedmkt.data.example import Example
from fedmkt.data.partition import FederatedSplit
from fedmkt.report.events import EventLog
from fedmkt.runners.progress import ProgressBoard

if TYPE_CHECKING:
    from fedmkt.evaluation.evaluate import EvalResult


@dataclass
class RunContext:
    config: ExperimentConfig
    split: FederatedSplit
    run_dir: Path
    log: EventLog
    board: ProgressBoard
    scenario: str = "baselines"
    resume: bool = False  # continue unfinished phases from their checkpoints
    # base model name -> its zero-shot scoring, so LLM-ZS and SLM-ZS score each model once
    zero_shot_results: dict[str, EvalResult] = field(default_factory=dict)

    def private_data(self, client: ParticipantConfig) -> list[Example]:
        return self.split.private[self.config.clients.index(client)]

    def adapter_dir(self, method: str, participant: str) -> Path:
        return self.run_dir / "adapters" / method / participant
