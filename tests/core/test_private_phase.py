"""private_phase: workflow step 1, plain SFT without a privacy ledger (as before it existed), DP-SGD with one."""

from __future__ import annotations

import pytest
import torch
from roles_fixtures import MAX_LENGTH, lora_model, tiny_qa_split, train_args

from fedmkt.core.train_phase import private_phase, train_phase
from fedmkt.models.lora import get_adapter_state
from fedmkt.training.batching import pad_id
from fedmkt.training.encode import encode_examples
from fedmkt.training.sft import sft_loss


def _trained(privacy=None, plain: bool = False):
    private = tiny_qa_split()[1][0]
    model, tokenizer = lora_model("tiny-gpt2-bpe", 0)
    encoded = encode_examples(tokenizer, private, MAX_LENGTH)
    steps: list[dict] = []
    if plain:
        report = train_phase("a", model, pad_id(tokenizer), encoded, sft_loss, train_args(), "private",
                             log=steps.append)
    else:
        report = private_phase("a", model, pad_id(tokenizer), encoded, train_args(), privacy, log=steps.append)
    return get_adapter_state(model), report, steps


def test_without_a_ledger_it_is_bit_for_bit_the_plain_sft_phase():
    adapter, report, steps = _trained()
    plain_adapter, plain_report, plain_steps = _trained(plain=True)
    assert adapter.keys() == plain_adapter.keys()
    assert all(torch.equal(adapter[k], plain_adapter[k]) for k in adapter)
    assert report.mean_loss == plain_report.mean_loss and [s["loss"] for s in steps] == [s["loss"] for s in plain_steps]
    assert "clipped" not in report.metrics and "batch" not in steps[0]


def test_with_a_ledger_it_trains_with_dp_sgd_and_the_ledger_counts_the_steps():
    pytest.importorskip("opacus")
    from fedmkt.privacy.budget import DPSettings, PrivacyLedger

    ledger = PrivacyLedger(DPSettings(1.0, 0.5, 1e-3), secret=5)
    adapter, report, steps = _trained(privacy=ledger)
    plain_adapter, _, _ = _trained(plain=True)
    assert report.phase == "private" and report.steps == len(steps) == ledger.steps == 4  # 16 examples, 4 a step
    assert ledger.history == [(1.0, 0.25, 4)] and ledger.phases == 1 and ledger.spent() > 0
    assert {"batch", "clipped"} <= set(steps[0]) and 0 <= report.metrics["clipped"] <= 1
    assert any(not torch.equal(adapter[k], plain_adapter[k]) for k in adapter)
