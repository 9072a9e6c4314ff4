"""train_phase: one participant's training phase on encoded examples, and its report."""

from __future__ import annotations

import pytest
import torch
from roles_fixtures import MAX_LENGTH, lora_model, tiny_qa_split, train_args

from fedmkt.core.train_phase import train_phase
from fedmkt.errors import FedMKTError
from fedmkt.models.lora import get_adapter_state
from fedmkt.training.batching import pad_id
from fedmkt.training.encode import encode_examples
from fedmkt.training.sft import sft_loss


def test_train_phase_changes_the_adapter_and_reports_the_phase():
    public = tiny_qa_split()[0]
    model, tokenizer = lora_model("tiny-gpt2-bpe", 0)
    encoded = encode_examples(tokenizer, public, MAX_LENGTH)
    before = get_adapter_state(model)
    steps = []
    report = train_phase("a", model, pad_id(tokenizer), encoded, sft_loss, train_args(), "public", log=steps.append)
    after = get_adapter_state(model)
    assert report.steps == 4 and report.examples == len(public) and report.tokens > 0
    assert report.metrics["sft_loss"] == pytest.approx(report.mean_loss)
    assert [s["step"] for s in steps] == [1, 2, 3, 4] and steps[0]["participant"] == "a"
    assert {s["phase"] for s in steps} == {"public"}
    assert any(not torch.equal(before[k], after[k]) for k in before)
    assert report.to_dict()["phase"] == "public"
    with pytest.raises(FedMKTError, match="a: nothing to train on in phase private"):
        train_phase("a", model, pad_id(tokenizer), [], sft_loss, train_args(), "private")
