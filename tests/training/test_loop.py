"""The generic loop: token-weighted accumulation, logging, progress, errors, RNG hygiene."""

from dataclasses import replace

import pytest
import torch

from fedmkt.data.example import Example
from fedmkt.errors import FedMKTError
from fedmkt.models.lora import attach_lora
from fedmkt.models.tiny import build_tiny_model
from fedmkt.training.batching import BucketedBatches, collate
from fedmkt.training.encode import encode_examples
from fedmkt.training.loop import TrainArgs, train
from fedmkt.training.sft import sft_loss

EXAMPLES = [
    Example("a", "Question: What is 3 plus 4?\nAnswer:", " 7"),
    Example("b", "Question: Reverse the word garden.\nAnswer:", " nedrag"),
    Example("c", "Question: What is twelve minus five?\nAnswer:", " seven"),
    Example("d", "Question: Where does a whale usually live?\nAnswer:", " in oceans"),
]


def _setup(name="tiny-llama-unigram"):
    base, tok = build_tiny_model(name, seed=0)
    model = attach_lora(base, r=4, alpha=8, dropout=0.0, seed=0)
    return model, encode_examples(tok, EXAMPLES, max_length=64), tok.pad_token_id


def _grads(model):
    return {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}


def test_two_by_two_accumulation_equals_one_batch_of_four():
    args = dict(lr=1e-3, max_steps=1, max_grad_norm=0.0, warmup_ratio=0.0)
    model_a, enc, pad = _setup()
    train(model_a, [collate(enc, pad)], sft_loss, TrainArgs(batch_size=4, grad_accum=1, **args))
    model_b, _, _ = _setup()
    halves = [collate(enc[:2], pad), collate(enc[2:], pad)]
    train(model_b, halves, sft_loss, TrainArgs(batch_size=2, grad_accum=2, **args))
    ga, gb = _grads(model_a), _grads(model_b)
    assert any(g.abs().sum() > 0 for g in ga.values())
    for name in ga:
        torch.testing.assert_close(gb[name], ga[name], rtol=1e-4, atol=1e-7)


class Recorder:
    def __init__(self):
        self.calls = []

    def start(self, total_steps):
        self.calls.append(("start", total_steps))

    def update(self, step, loss, tokens_per_second):
        self.calls.append(("update", step, loss, tokens_per_second))

    def finish(self):
        self.calls.append(("finish",))


def test_logs_one_record_per_step_reports_progress_and_restores_state():
    model, enc, pad = _setup("tiny-gpt2-bpe")
    batches = [collate(enc[i:i + 1], pad) for i in range(3)]
    records, progress = [], Recorder()
    rng = torch.get_rng_state()
    stats = train(model, batches, sft_loss, TrainArgs(lr=1e-3, epochs=2, batch_size=1, grad_accum=2),
                  progress, records.append)
    assert torch.equal(torch.get_rng_state(), rng)
    assert not model.training  # was in eval mode before
    assert stats.steps == 4 and stats.micro_batches == 6 and len(stats.losses) == 4
    assert [r["step"] for r in records] == [1, 2, 3, 4] and [r["epoch"] for r in records] == [0, 0, 1, 1]
    assert {"loss", "lr", "grad_norm", "tokens", "seconds", "sft_loss"} <= set(records[0])
    assert sum(r["tokens"] for r in records) == stats.tokens == 2 * sum(len(e) for e in enc[:3])
    assert progress.calls[0] == ("start", 4) and progress.calls[-1] == ("finish",)
    assert [c[1] for c in progress.calls if c[0] == "update"] == [1, 2, 3, 4]
    assert all(c[3] > 0 for c in progress.calls if c[0] == "update")


def test_max_steps_stops_early():
    model, enc, pad = _setup()
    batches = [collate(enc[i:i + 1], pad) for i in range(4)]
    records = []
    stats = train(model, batches, sft_loss, TrainArgs(lr=1e-3, epochs=3, batch_size=1, max_steps=5),
                  log=records.append)
    assert stats.steps == 5 and len(records) == 5


def test_non_finite_loss_names_the_step():
    model, enc, pad = _setup()
    calls = []

    def exploding(model, batch):
        loss, metrics = sft_loss(model, batch)
        calls.append(1)
        return (loss * float("nan") if len(calls) == 3 else loss), metrics

    batches = [collate(enc[i:i + 1], pad) for i in range(4)]
    with pytest.raises(FedMKTError, match="optimizer step 2 .micro-batch 1"):
        train(model, batches, exploding, TrainArgs(lr=1e-3, batch_size=1, grad_accum=2))
    assert not model.training


def test_non_finite_gradient_names_the_step():
    model, enc, pad = _setup()

    def nan_gradient(model, batch):
        loss, metrics = sft_loss(model, batch)
        first = next(p for p in model.parameters() if p.requires_grad)
        return loss + (first.sum() * 0).sqrt(), metrics  # adds 0 to the value, 0 * inf = nan to the gradient

    with pytest.raises(FedMKTError, match="gradient norm is nan at optimizer step 1"):
        train(model, [collate(enc, pad)], nan_gradient, TrainArgs(lr=1e-3))
    before = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
    with pytest.raises(FedMKTError, match="gradient norm is nan at optimizer step 1"):  # also without clipping
        train(model, [collate(enc, pad)], nan_gradient, TrainArgs(lr=1e-3, max_grad_norm=0.0))
    assert all(torch.equal(p, before[n]) for n, p in model.named_parameters() if p.requires_grad)


def test_untrainable_model_and_bad_arguments_are_clear_errors():
    base, tok = build_tiny_model("tiny-opt-bpe")
    base.requires_grad_(False)
    with pytest.raises(FedMKTError, match="no trainable parameters"):
        train(base, [], sft_loss, TrainArgs())
    with pytest.raises(FedMKTError, match=r"training\.lr = -1"):
        TrainArgs(lr=-1)
    with pytest.raises(FedMKTError, match=r"training\.betas"):
        TrainArgs(betas=(0.9, 1.5))
    assert TrainArgs(betas=[0.8, 0.9]).betas == (0.8, 0.9)


def test_each_epoch_trains_on_that_epochs_order():
    """The loop asks the batches for every epoch's own (reshuffled) order, not the first one again."""
    model, enc, pad = _setup()
    twelve = [replace(ex, index=i) for i, ex in enumerate(enc * 3)]  # positions 0..11, as encode_examples numbers
    batches = BucketedBatches(twelve, batch_size=2, pad_id=pad, seed=5, bucket_batches=1)
    seen = []

    def recording(model, batch):
        seen.append(batch["index"].tolist())
        return sft_loss(model, batch)

    train(model, batches, recording, TrainArgs(lr=1e-3, epochs=3, batch_size=2))
    per_epoch = [seen[i * len(batches):(i + 1) * len(batches)] for i in range(3)]
    assert per_epoch == [batches.order(epoch) for epoch in range(3)], "the loop did not train on each epoch's order"
    assert per_epoch[0] != per_epoch[1] != per_epoch[2], "every epoch trained on the same order"
