"""The run's exchange settings: every out-of-range field is named in one line, all at once."""

from __future__ import annotations

import pytest

from fedmkt.core.exchange_settings import ExchangeSettings
from fedmkt.errors import FedMKTError


def test_defaults_are_the_references():
    s = ExchangeSettings(top_k=4)
    assert (s.public_batch_size, s.unmatched_weight, s.kd_weight, s.temperature) == (16, 1.0, 0.1, 1.0)
    assert (s.public_sft, s.kd_positions) == (True, "answer")


@pytest.mark.parametrize(("fields", "named"), [
    ({"top_k": 0}, "top_k must be >= 1, got 0"),
    ({"public_batch_size": 0}, "public_batch_size must be >= 1, got 0"),
    ({"unmatched_weight": 1.5}, "unmatched_weight must be in [0, 1], got 1.5"),
    ({"kd_weight": -0.1}, "kd_weight must be in [0, 1], got -0.1"),
    ({"temperature": 0.0}, "temperature must be > 0, got 0.0"),
    ({"kd_positions": "prompt"}, "kd_positions must be 'answer' or 'all', got 'prompt'"),
    ({"public_sft": False}, "public_sft False (the public-set loss is KD alone) needs kd_weight 1 and unmatched_weight "
                            "0, got 0.1 and 1.0"),
    ({"public_sft": False, "kd_weight": 0.0, "unmatched_weight": 0.0}, "needs kd_weight 1 and unmatched_weight 0, "
                                                                       "got 0.0 and 0.0"),
])
def test_each_bad_field_is_named(fields, named):
    with pytest.raises(FedMKTError, match="exchange settings: ") as error:
        ExchangeSettings(**{"top_k": 4, **fields})
    assert named in str(error.value) and "\n" not in str(error.value)


def test_several_bad_fields_are_named_together():
    with pytest.raises(FedMKTError, match="top_k must be >= 1, got 0; kd_weight must be in"):
        ExchangeSettings(top_k=0, kd_weight=2.0)


def test_the_kd_alone_setting_is_accepted():
    s = ExchangeSettings(top_k=4, public_sft=False, kd_weight=1.0, unmatched_weight=0.0, kd_positions="all")
    assert (s.public_sft, s.kd_positions) == (False, "all")
