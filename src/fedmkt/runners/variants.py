"""Which federated procedure a phase runs (FedMKT, its FedAvg variant, LLM2SLM, plain FedAvg), and
the small pieces every driver of the rounds shares: per-round training settings and when to score.
"""

from __future__ import annotations

from dataclasses import dataclass

from fedmkt.config import FedMKTConfig


@dataclass(frozen=True)
class Variant:
    """Which federated procedure a phase runs and the method names its rows take."""

    phase: str
    slm_method: str | None  # row name for the clients' scores, None: not scored
    llm_method: str | None  # row name for the server's scores, None: not scored
    exchange: bool = True  # FedMKT's logits exchange (False: plain FedAvg)
    fedavg: bool = False  # average client adapters after each round
    frozen_server: bool = False  # LLM2SLM: the LLM only teaches


def variants_for(methods: list[str]) -> list[Variant]:
    """The federated phases that ``methods`` ask for, with only the requested sides scored."""
    asked = set(methods)
    pick = lambda name: name if name in asked else None  # noqa: E731
    out: list[Variant] = []
    if {"FedMKT-SLM", "FedMKT-LLM"} & asked:
        out.append(Variant("FedMKT", pick("FedMKT-SLM"), pick("FedMKT-LLM")))
    if {"FedMKT-SLM-FedAvg", "FedMKT-LLM-FedAvg"} & asked:
        out.append(Variant("FedMKT-FedAvg", pick("FedMKT-SLM-FedAvg"), pick("FedMKT-LLM-FedAvg"), fedavg=True))
    if "LLM2SLM" in asked:
        out.append(Variant("LLM2SLM", "LLM2SLM", None, frozen_server=True))
    if "FedAvg" in asked:
        out.append(Variant("FedAvg", "FedAvg", None, exchange=False, fedavg=True))
    return out


def trains_private(fedmkt: FedMKTConfig, round_: int) -> bool:
    """Whether clients train on their private data in ``round_`` (every round, or round 1 only)."""
    return fedmkt.train_private_each_round or round_ == 1


def should_score(round_: int, rounds: int, every: int) -> bool:
    return round_ == rounds or (every > 0 and round_ % every == 0)
