"""How close a top-k message is to the gold answers it was computed on.

Both sides distil on the public set, whose gold answers they also train on with SFT. Where a
teacher's most probable token is the gold token at nearly every answer position, distilling
toward it teaches little that SFT on the same answers does not; the two numbers here, logged
with every outgoing message, say how much room the knowledge transfer has.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from fedmkt.core.messages import SampleDistributions


@dataclass(frozen=True)
class GoldAgreement:
    """Over all answer positions of a message.

    Attributes:
        top1: share of positions whose most probable token is the gold next token.
        prob: mean probability the message gives the gold token (0 where it is outside the top-k).
    """

    top1: float
    prob: float


def gold_agreement(samples: Sequence[SampleDistributions], gold_ids: Sequence[np.ndarray]) -> GoldAgreement:
    """``samples[i]``'s rows against ``gold_ids[i]``, the gold next token at each of its answer positions.

    Ids are the sender's own (the sender knows its tokenization of the gold answers). An empty
    message gives NaN for both.
    """
    hits, mass, positions = 0, 0.0, 0
    for sample, gold in zip(samples, gold_ids, strict=True):
        if sample.n_positions != len(gold):
            raise ValueError(f"{sample.uid}: {sample.n_positions} rows for {len(gold)} gold tokens")
        is_gold = sample.token_ids.astype(np.int64) == np.asarray(gold, dtype=np.int64)[:, None]  # (n_pos, k)
        hits += int(is_gold[:, 0].sum())
        mass += float((sample.probs.astype(np.float64) * is_gold).sum())
        positions += len(gold)
    if positions == 0:
        return GoldAgreement(float("nan"), float("nan"))
    return GoldAgreement(hits / positions, mass / positions)
