"""The clients of a round: a function of the seed and the round only, in the experiment's order."""

from __future__ import annotations

import random
from collections import Counter

import numpy as np
import pytest
import torch

from fedmkt.federation.sampling import sample_clients, sample_size

NAMES = [f"client-{i}" for i in range(1, 21)]


@pytest.mark.parametrize(("per_round", "n", "size"), [
    (None, 20, 20), (3, 20, 3), (20, 20, 20), (0.1, 20, 2), (0.5, 3, 1), (0.05, 3, 1), (1.0, 7, 7), (0.3, 10, 3),
])
def test_sample_size_is_all_a_count_or_a_fraction_rounded_down_but_never_none(per_round, n, size):
    assert sample_size(per_round, n) == size


def test_a_round_draws_the_same_clients_whatever_else_drew_before():
    first = sample_clients(NAMES, 5, seed=7, round_=3)
    random.random(), np.random.rand(), torch.rand(1)  # the global generators move...
    assert sample_clients(NAMES, 5, seed=7, round_=3) == first  # ...the round's draw does not
    state = np.random.get_state()[1].copy(), torch.get_rng_state()
    sample_clients(NAMES, 5, seed=7, round_=4)
    assert np.array_equal(np.random.get_state()[1], state[0]) and torch.equal(torch.get_rng_state(), state[1])


def test_draws_follow_the_seed_and_round_keep_the_config_order_and_reach_every_client():
    draws = [sample_clients(NAMES, 4, seed=0, round_=r) for r in range(1, 61)]
    assert all(len(d) == len(set(d)) == 4 and d == sorted(d, key=NAMES.index) for d in draws)
    assert len({tuple(d) for d in draws}) > 50  # rounds differ
    assert sample_clients(NAMES, 4, seed=1, round_=1) != draws[0]  # so do seeds
    counts = Counter(name for d in draws for name in d)
    assert set(counts) == set(NAMES) and max(counts.values()) <= 3 * min(counts.values())  # no client left behind


def test_everyone_takes_part_without_a_sample():
    assert sample_clients(NAMES, None, seed=0, round_=1) == NAMES
    assert sample_clients(NAMES, 1.0, seed=0, round_=9) == NAMES
