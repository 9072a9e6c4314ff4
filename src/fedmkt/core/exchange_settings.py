"""What a run fixes for every round of the exchange: bound when the server and clients are built.

Paper section 3.2: the size of the messages (top-k), the public pass's batch size, how alignment
fallback rows count, and the public-phase loss (lambda, temperature, whether the public answers are
trained on, which positions are distilled) do not change from round to round, so each role takes
them once, at construction, and a round's calls name only the round.
The experiment file's ``fedmkt`` section is turned into these by ``fedmkt.setup.roles``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from fedmkt.errors import FedMKTError

KDPositions = Literal["answer", "all"]
KD_POSITIONS: tuple[KDPositions, ...] = ("answer", "all")
"""Which positions of a public sample are sent and distilled: its answer's, or every one that predicts a token."""


@dataclass(frozen=True)
class ExchangeSettings:
    """The per-run settings of the logits exchange.

    Attributes:
        top_k: distribution entries per answer position, in every message sent and expected.
        public_batch_size: batch size of the public pass (steps 2 and 5; no effect on the numbers).
        unmatched_weight: KD weight of alignment fallback rows (``targets_from_aligned``), in ``[0, 1]``.
        kd_weight: lambda of ``(1 - lambda) * SFT + lambda * KD``, in ``[0, 1]``; the reference uses 0.1.
        temperature: KD softmax temperature, ``> 0``.
        public_sft: both sides also train on the public set's gold answers (the paper's loss); False: the
            public-set loss is KD alone, with no gold one-hot at unaligned positions, so it needs
            ``kd_weight`` 1 and ``unmatched_weight`` 0 (``fedmkt.core.kd_training``).
        kd_positions: ``answer`` (every message row and KD target is an answer position) or ``all``
            (every position of the sample that predicts a token, prompt included).
    """

    top_k: int
    public_batch_size: int = 16
    unmatched_weight: float = 1.0
    kd_weight: float = 0.1
    temperature: float = 1.0
    public_sft: bool = True
    kd_positions: KDPositions = "answer"

    def __post_init__(self) -> None:
        problems = [
            f"{name} must be {expected}, got {value!r}"
            for name, value, ok, expected in (
                ("top_k", self.top_k, self.top_k >= 1, ">= 1"),
                ("public_batch_size", self.public_batch_size, self.public_batch_size >= 1, ">= 1"),
                ("unmatched_weight", self.unmatched_weight, 0.0 <= self.unmatched_weight <= 1.0, "in [0, 1]"),
                ("kd_weight", self.kd_weight, 0.0 <= self.kd_weight <= 1.0, "in [0, 1]"),
                ("temperature", self.temperature, self.temperature > 0, "> 0"),
                ("kd_positions", self.kd_positions, self.kd_positions in KD_POSITIONS, "'answer' or 'all'"),
            )
            if not ok
        ]
        if not self.public_sft and (self.kd_weight != 1.0 or self.unmatched_weight != 0.0):
            problems.append(
                f"public_sft False (the public-set loss is KD alone) needs kd_weight 1 and unmatched_weight 0, "
                f"got {self.kd_weight!r} and {self.unmatched_weight!r}"
            )
        if problems:
            raise FedMKTError(f"exchange settings: {'; '.join(problems)}")
