"""Which steps a federated method runs in a round, in which order, and by which role.

A method is a :class:`Variant` (FedMKT, FedMKT with FedAvg among homogeneous clients, and the
federated baselines LLM2SLM and FedAvg); :func:`round_plan` turns it into one round's
:class:`RoundPlan`. Every transport walks the same plan: the in-process runner step by step (a
checkpoint after each, each client's steps one by one), Flower as messages (the client steps
between two server steps go to each client as one message).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from fedmkt.config import FedMKTConfig

SERVER = "server"
CLIENTS = "clients"  # each client does the step

PRIVATE = "private"  # 1: SFT on the private data
UPLOAD = "upload"  # 2: the public top-k distributions and answer NLLs
SELECT = "server_select"  # 3: the uploads received, DualMinCE teachers chosen and aligned
SERVER_TRAIN = "server_train"  # 4: the LLM's SFT + KD on the public set
SERVER_MESSAGE = "server_message"  # 5-6: the LLM's distributions for every client
DISTILL = "client_kd"  # 7-8: the LLM's message received, chosen and aligned; the client's SFT + KD
FEDAVG = "fedavg"  # the clients' adapters averaged, weighted by private data size


@dataclass(frozen=True)
class Variant:
    """Which federated procedure a phase runs and the method names its rows take."""

    phase: str
    slm_method: str | None  # row name for the clients' scores, None: not scored
    llm_method: str | None  # row name for the server's scores, None: not scored
    exchange: bool = True  # FedMKT's logits exchange (False: plain FedAvg)
    fedavg: bool = False  # average client adapters after each round
    frozen_server: bool = False  # LLM2SLM: the LLM only teaches


@dataclass(frozen=True)
class Step:
    """One step of a round: its name (the ``fedmkt.federation.steps`` function that does it) and its role.

    ``sent``: the step's bytes go to the other role (LLM2SLM's clients compute their upload for their
    own NLLs and send nothing: its frozen LLM learns nothing from them).
    """

    name: str
    role: str
    sent: bool = False


@dataclass(frozen=True)
class RoundPlan:
    """One round: its steps in order, then who is scored on the eval set (none when not scored)."""

    round: int
    steps: tuple[Step, ...]
    scored: tuple[str, ...] = ()

    def names(self) -> list[str]:
        return [step.name for step in self.steps]


VARIANTS = (
    Variant("FedMKT", "FedMKT-SLM", "FedMKT-LLM"),
    Variant("FedMKT-FedAvg", "FedMKT-SLM-FedAvg", "FedMKT-LLM-FedAvg", fedavg=True),
    Variant("LLM2SLM", "LLM2SLM", None, frozen_server=True),
    Variant("FedAvg", "FedAvg", None, exchange=False, fedavg=True),
)
"""Every federated method, with the result rows it can write (an experiment's ``methods`` name rows)."""


def variants_for(methods: list[str]) -> list[Variant]:
    """The federated phases that ``methods`` ask for, with only the requested sides scored."""
    asked = set(methods)
    pick = lambda name: name if name in asked else None  # noqa: E731
    return [replace(v, slm_method=pick(v.slm_method), llm_method=pick(v.llm_method))
            for v in VARIANTS if {v.slm_method, v.llm_method} & asked]


def rows_of(variant: Variant) -> list[str]:
    """The result rows ``variant`` can write (either makes it run)."""
    return [name for name in (variant.slm_method, variant.llm_method) if name]


def round_plan(variant: Variant, fedmkt: FedMKTConfig, round_: int) -> RoundPlan:
    """The steps of ``round_`` of ``variant`` (paper section 3.2), and who is scored after it."""
    steps: list[Step] = []
    if trains_private(fedmkt, round_):
        steps.append(Step(PRIVATE, CLIENTS))
    if variant.exchange:
        learns = not variant.frozen_server  # a frozen LLM takes no uploads and does not train
        steps.append(Step(UPLOAD, CLIENTS, sent=learns))
        if learns:
            steps += [Step(SELECT, SERVER), Step(SERVER_TRAIN, SERVER)]
        steps += [Step(SERVER_MESSAGE, SERVER, sent=True), Step(DISTILL, CLIENTS)]
    if variant.fedavg:
        steps.append(Step(FEDAVG, SERVER, sent=True))
    scored: list[str] = []
    if should_score(round_, fedmkt.rounds, fedmkt.eval_every):
        if variant.llm_method and variant.exchange:
            scored.append(SERVER)
        if variant.slm_method:
            scored.append(CLIENTS)
    return RoundPlan(round_, tuple(steps), tuple(scored))


def trains_private(fedmkt: FedMKTConfig, round_: int) -> bool:
    """Whether clients train on their private data in ``round_`` (every round, or round 1 only)."""
    return fedmkt.train_private_each_round or round_ == 1


def should_score(round_: int, rounds: int, every: int) -> bool:
    return round_ == rounds or (every > 0 and round_ % every == 0)
