"""The ordered list of phases a config asks for; each phase returns its result rows."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from fedmkt.baselines.centralized import centralized_llm
from fedmkt.baselines.standalone import standalone
from fedmkt.baselines.zero_shot import llm_zero_shot, slm_zero_shot
from fedmkt.config import ExperimentConfig
from fedmkt.federation.plan import variants_for
from fedmkt.report.results import ResultRow
from fedmkt.runners.federated import federated_phase
from fedmkt.setup.context import RunContext


@dataclass(frozen=True)
class Phase:
    id: str
    run: Callable[[RunContext], list[ResultRow]]


def plan_phases(config: ExperimentConfig) -> list[Phase]:
    phases: list[Phase] = []
    if "LLM-ZS" in config.method_names:
        phases.append(Phase("LLM-ZS", llm_zero_shot))
    if "SLM-ZS" in config.method_names:
        phases.append(Phase("SLM-ZS", slm_zero_shot))
    if "Standalone" in config.method_names:
        phases += [Phase(f"Standalone/{c.name}", partial(standalone, client=c)) for c in config.clients]
    if "Centralized-LLM" in config.method_names:
        phases.append(Phase("Centralized-LLM", centralized_llm))
    phases += [Phase(v.phase, partial(federated_phase, variant=v)) for v in variants_for(config.method_names)]
    return phases
