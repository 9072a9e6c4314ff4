"""Many adapters over one copy of the base weights: exact, and each participant's own in every respect."""

from __future__ import annotations

import torch

from fedmkt.models.loading import load_model_and_tokenizer
from fedmkt.models.lora import attach_lora, get_adapter_state
from fedmkt.models.shared_base import shares_weights, sharing_copy
from fedmkt.training.optim import build_optimizer

NAME = "tiny-gpt2-bpe"  # ties its LM head to its embeddings


def _base():
    return load_model_and_tokenizer(NAME, dtype="float32", device="cpu", seed=0)


def _batch(tokenizer):
    ids = tokenizer(["the cat sat on the mat", "a dog ran"], return_tensors="pt", padding=True)
    return ids["input_ids"], ids["attention_mask"]


def _step(model, ids, mask, seed: int) -> None:
    """One AdamW step with weight decay, dropout drawn from ``seed``."""
    optimizer = build_optimizer(model, lr=1e-2, weight_decay=0.1, betas=(0.9, 0.95))
    model.train()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        loss = model(input_ids=ids, attention_mask=mask, labels=ids).loss
        loss.backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)


def test_a_copy_holds_the_same_weight_tensors_and_keeps_ties():
    base, _ = _base()
    copy = sharing_copy(base)
    assert copy is not base
    for (name, p), (_, q) in zip(base.named_parameters(), copy.named_parameters(), strict=True):
        assert p is q, name
    assert all(a is b for a, b in zip(base.buffers(), copy.buffers(), strict=True))
    assert copy.get_output_embeddings().weight is copy.get_input_embeddings().weight
    assert list(copy.modules())[1] is not list(base.modules())[1]  # its own module objects


def test_adapters_on_copies_start_and_train_exactly_as_on_models_of_their_own():
    """Same initial adapter, same dropout draws, same step: bit for bit, two participants in turn."""
    base, tokenizer = _base()
    shared = [attach_lora(sharing_copy(base), r=4, alpha=8, dropout=0.2) for _ in range(2)]
    own = [attach_lora(_base()[0], r=4, alpha=8, dropout=0.2) for _ in range(2)]
    assert shares_weights(shared[0], shared[1]) and not shares_weights(own[0], own[1])
    ids, mask = _batch(tokenizer)
    for seed, (a, b) in enumerate(zip(shared, own, strict=True)):
        _step(a, ids, mask, seed)
        _step(b, ids, mask, seed)
    for a, b in zip(shared, own, strict=True):
        state_a, state_b = get_adapter_state(a), get_adapter_state(b)
        assert all(torch.equal(state_a[k], state_b[k]) for k in state_b)
        a.eval(), b.eval()
        with torch.no_grad():
            logits = [model(input_ids=ids, attention_mask=mask).logits for model in (a, b)]
        assert torch.equal(*logits)


def test_training_one_participant_leaves_the_others_adapter_grads_mode_and_base_untouched():
    base, tokenizer = _base()
    first, second = (attach_lora(sharing_copy(base), r=4, alpha=8, dropout=0.1) for _ in range(2))
    base_before = {n: p.detach().clone() for n, p in base.named_parameters()}
    second_before = get_adapter_state(second)
    second.eval()
    _step(first, *_batch(tokenizer), seed=0)
    assert first.training and not second.training  # train/eval mode is each participant's own
    assert all(p.grad is None for p in second.parameters())
    after = get_adapter_state(second)
    assert all(torch.equal(after[k], second_before[k]) for k in after)  # no step, no weight decay
    assert all(torch.equal(p, base_before[n]) for n, p in base.named_parameters())  # frozen, shared base
    moved = get_adapter_state(first)
    assert any(not torch.equal(moved[k], second_before[k]) for k in moved)  # the trained one did move
