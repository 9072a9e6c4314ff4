"""Which clients take part in a round (``fedmkt.clients_per_round``), the same on every transport.

A federation of many clients trains a few per round, as FlowerTune samples 10% of its nodes. The
sample is a function of the run's seed and the round alone (its own numpy ``Generator``, never the
global RNG), so a resumed run, a Flower ServerApp and the in-process runner all draw the same clients,
and no other random draw of the run moves. The clients drawn are listed in the experiment's order.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

SAMPLE_STREAM = 0x5A4D
"""Keeps this stream apart from any other ``default_rng`` seeded with the run's seed and a round."""


def sample_size(per_round: int | float | None, n_clients: int) -> int:
    """How many of ``n_clients`` take part: all (None), a count, or a fraction rounded down (at least one)."""
    if per_round is None:
        return n_clients
    if isinstance(per_round, float):
        return min(n_clients, max(1, int(per_round * n_clients + 1e-9)))
    return min(n_clients, per_round)


def sample_clients(names: Sequence[str], per_round: int | float | None, seed: int, round_: int) -> list[str]:
    """The clients of ``round_``: every one of ``names`` (None, or a size of all), else a draw without
    replacement from ``seed`` and ``round_``, in ``names``' order."""
    size = sample_size(per_round, len(names))
    if size >= len(names):
        return list(names)
    rng = np.random.default_rng([SAMPLE_STREAM, seed, round_])
    chosen = sorted(int(i) for i in rng.choice(len(names), size=size, replace=False))
    return [names[i] for i in chosen]
