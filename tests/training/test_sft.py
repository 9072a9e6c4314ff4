"""SFT loss: selected-logits CE equals the dense reference; a few steps learn; real models train."""

import pytest
import torch
from torch import nn

from fedmkt.assets.registry import model_dir
from fedmkt.data.example import Example
from fedmkt.models.loading import load_model_and_tokenizer
from fedmkt.models.lora import attach_lora, get_adapter_state
from fedmkt.models.tiny import build_tiny_model
from fedmkt.training.batching import BucketedBatches, collate
from fedmkt.training.encode import encode_examples
from fedmkt.training.loop import TrainArgs
from fedmkt.training.sft import (
    answer_logits,
    answer_positions,
    prediction_positions,
    sequence_logits,
    sft_loss,
    train_sft,
)

QA = [Example(f"qa/{a}-{b}", f"Question: What is {a} plus {b}?\nAnswer:", f" {a + b}")
      for a, b in [(1, 2), (3, 4), (5, 6), (7, 1), (2, 9), (8, 8), (0, 5), (6, 3)]]
MIXED = [*QA[:3], Example("rev/1", "Question: Reverse the word garden.\nAnswer:", " nedrag"),
         Example("sci/1", "Question: Where does a whale usually live?\nAnswer:", " in oceans")]


def _dense_loss(model, batch):
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    return nn.CrossEntropyLoss(ignore_index=-100)(
        logits[:, :-1].reshape(-1, logits.shape[-1]).float(), batch["labels"][:, 1:].reshape(-1))


@pytest.mark.parametrize("name", ["tiny-llama-unigram", "tiny-gpt2-bpe", "tiny-gemma3-wordpiece"])
def test_selected_logits_loss_and_gradient_equal_the_dense_reference(name):
    base, tok = build_tiny_model(name, seed=0)
    model = attach_lora(base, r=4, alpha=8, dropout=0.0)
    for p in model.parameters():  # B = 0 would hide half the gradient
        if p.requires_grad:
            torch.nn.init.normal_(p, std=0.05, generator=torch.Generator().manual_seed(1))
    batch = collate(encode_examples(tok, MIXED, max_length=64), tok.pad_token_id)  # padded rows
    assert (batch["attention_mask"] == 0).any()
    assert int(answer_positions(batch["labels"]).sum()) == int((batch["labels"][:, 1:] != -100).sum())

    loss, metrics = sft_loss(model, batch)
    grads = torch.autograd.grad(loss, [p for p in model.parameters() if p.requires_grad])
    dense = _dense_loss(model, batch)
    dense_grads = torch.autograd.grad(dense, [p for p in model.parameters() if p.requires_grad])
    torch.testing.assert_close(loss, dense, rtol=1e-5, atol=1e-6)
    assert metrics["sft_loss"] == pytest.approx(float(dense.detach()), rel=1e-5)
    for g, d in zip(grads, dense_grads, strict=True):
        torch.testing.assert_close(g, d, rtol=1e-4, atol=1e-7)


def test_answer_logits_are_the_full_logits_at_answer_positions_with_their_targets():
    model, tok = build_tiny_model("tiny-gpt2-bpe", seed=0)
    batch = collate(encode_examples(tok, MIXED, max_length=64), tok.pad_token_id)
    with torch.no_grad():
        answers = answer_logits(model, batch)
        full = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    shifted = batch["labels"][:, 1:]
    per_row = (shifted != -100).sum(dim=1)
    assert answers.counts() == per_row.tolist() and len(set(answers.counts())) > 1
    assert answers.sample_index().tolist() == [r for r, n in enumerate(per_row.tolist()) for _ in range(n)]
    torch.testing.assert_close(answers.logits, full[:, :-1][shifted != -100], rtol=1e-4, atol=1e-5)
    assert answers.targets.tolist() == shifted[shifted != -100].tolist()


def _eval_loss(model, tok):
    model.eval()
    with torch.no_grad():
        batches = BucketedBatches(encode_examples(tok, QA, 64), 8, tok.pad_token_id, shuffle=False)
        return float(sft_loss(model, next(iter(batches.epoch(0))))[0])


def test_a_few_sft_steps_reduce_the_loss_on_a_fixed_set():
    base, tok = build_tiny_model("tiny-qwen2-bpe", seed=0)
    model = attach_lora(base, r=8, alpha=32, dropout=0.0)
    before = _eval_loss(model, tok)
    args = TrainArgs(lr=1e-2, epochs=8, batch_size=4, warmup_ratio=0.1, weight_decay=0.0, seed=0)
    stats = train_sft(model, tok, QA, args)
    after = _eval_loss(model, tok)
    assert stats.steps == 16
    assert after < 0.6 * before, (before, after)


@pytest.mark.real
@pytest.mark.parametrize("name", ["smollm2-135m", "gemma3-270m"])
def test_one_lora_sft_step_on_a_packaged_model(name):
    if not (model_dir(name) / "config.json").is_file():
        pytest.skip(f"{model_dir(name)} is absent; run `fedmkt assets fetch {name}`")
    torch.set_num_threads(2)
    base, tok = load_model_and_tokenizer(name)
    model = attach_lora(base, r=8, alpha=16, dropout=0.05, target_modules=["q_proj", "k_proj", "v_proj",
                                                                           "o_proj"])
    before = get_adapter_state(model)
    examples = [Example("r/1", "Question: Which gas do plants take in?\nAnswer:", " carbon dioxide"),
                Example("r/2", "Question: What is 2 plus 3?\nAnswer:", " 5")]
    records = []
    args = TrainArgs(lr=1e-3, batch_size=2, warmup_ratio=0.0)
    stats = train_sft(model, tok, examples, args, log=records.append)
    after = get_adapter_state(model)
    assert stats.steps == 1 and all(torch.isfinite(torch.tensor(r["loss"])) for r in records)
    assert 0 < records[0]["loss"] < 20
    assert any(not torch.equal(before[k], after[k]) for k in before)


def test_sequence_logits_are_the_full_logits_wherever_a_real_token_follows():
    model, tok = build_tiny_model("tiny-gpt2-bpe", seed=0)
    batch = collate(encode_examples(tok, MIXED, max_length=64), tok.pad_token_id)
    lengths = batch["attention_mask"].sum(dim=1)
    assert len(set(lengths.tolist())) > 1, "padded rows"
    with torch.no_grad():
        scored = sequence_logits(model, batch)
        answers = answer_logits(model, batch)
        full = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    assert scored.counts() == (lengths - 1).tolist()
    positions = prediction_positions(batch["attention_mask"])
    torch.testing.assert_close(scored.logits, full[positions], rtol=1e-4, atol=1e-5)
    assert scored.targets.tolist() == [int(batch["input_ids"][r, c + 1]) for r, c in positions.nonzero().tolist()]
    assert scored.answer is not None and answers.answer is None
    torch.testing.assert_close(scored.logits[scored.answer], answers.logits)
    assert torch.equal(scored.targets[scored.answer], answers.targets)
