"""Training arguments from a participant's entry, the round's reshuffle, and the baselines' fine-tuning."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from fedmkt.config import load_preset
from fedmkt.data.tasks import get_task
from fedmkt.errors import FedMKTError
from fedmkt.models.lora import get_adapter_state, load_adapter
from fedmkt.setup.models import load_model
from fedmkt.setup.training import finetune, round_args, train_args

SPEC = load_preset("tiny")[0].clients[0]


def test_train_args_carry_every_train_field_and_the_round_moves_the_seed():
    spec = SPEC.model_copy(update={"train": SPEC.train.model_copy(update={
        "lr": 1e-4, "epochs": 3, "batch_size": 5, "grad_accum": 2, "weight_decay": 0.2, "betas": (0.8, 0.9),
        "warmup_ratio": 0.3, "max_grad_norm": 0.5, "max_length": 40, "max_steps": 7})})
    args = train_args(spec, seed=11)
    expected = {"lr": 1e-4, "epochs": 3, "batch_size": 5, "grad_accum": 2, "weight_decay": 0.2,
                "betas": (0.8, 0.9), "warmup_ratio": 0.3, "max_grad_norm": 0.5, "max_length": 40,
                "max_steps": 7, "seed": 11}
    assert {k: getattr(args, k) for k in expected} == expected
    assert round_args(spec, 11, 3) == dataclasses.replace(args, seed=3011)


def test_finetune_trains_logs_and_saves_the_adapter(tmp_path):
    spec = SPEC.model_copy(update={"train": SPEC.train.model_copy(update={"batch_size": 4, "epochs": 1})})
    model, tokenizer = load_model(spec, dtype="float32", device="cpu", seed=0)
    events = []
    peft = finetune(spec, model, tokenizer, get_task("tiny_qa").load("train")[:8], seed=0, phase="Standalone/c",
                    adapter_dir=tmp_path / "adapter", write_event=lambda event, **f: events.append((event, f)))
    steps = [f for e, f in events if e == "train_step"]
    assert [f["step"] for f in steps] == [1, 2]
    assert all(f["phase"] == "Standalone/c" and f["data"] == "private" for f in steps)
    assert events[-1][0] == "train_end" and events[-1][1]["steps"] == 2
    saved, _ = load_model(spec, dtype="float32", device="cpu", seed=0)
    reloaded = get_adapter_state(load_adapter(saved, tmp_path / "adapter"))
    trained = get_adapter_state(peft)
    assert all(torch.equal(reloaded[k], trained[k]) for k in trained)
    assert any(v.abs().sum() > 0 for k, v in trained.items() if "lora_B" in k), "the adapter trained"
    fresh, _ = load_model(spec, dtype="float32", device="cpu", seed=0)
    with pytest.raises(FedMKTError, match="nothing to train"):
        finetune(spec, fresh, tokenizer, [], seed=0, phase="x", adapter_dir=tmp_path / "none",
                 write_event=lambda *a, **f: None)
    assert not (tmp_path / "none").exists()
