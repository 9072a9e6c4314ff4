"""The global generators' states survive the JSON a checkpoint stores them in."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
import torch

from fedmkt.runners.rng_state import capture_rng, check_rng, restore_rng


def test_rng_states_round_trip():
    random.seed(1)
    np.random.seed(2)
    torch.manual_seed(3)
    saved = json.loads(json.dumps(capture_rng()))  # what the manifest stores
    first = (random.random(), np.random.rand(3).tolist(), torch.rand(3).tolist(), np.random.randn())
    restore_rng(saved)
    assert (random.random(), np.random.rand(3).tolist(), torch.rand(3).tolist(), np.random.randn()) == first


@pytest.mark.parametrize("state", [{"python": 1}, {"python": [3, [1, 2], None], "numpy": {}, "torch": "AAAA"}])
def test_a_state_no_generator_takes_is_refused_before_any_is_changed(state):
    before = random.getstate()
    with pytest.raises((TypeError, ValueError, KeyError)):
        check_rng(state)
    assert random.getstate() == before
