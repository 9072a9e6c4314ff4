"""A participant's model as every driver builds it: the same seed gives the same weights, LoRA per its entry."""

from __future__ import annotations

import torch

from fedmkt.config import load_preset
from fedmkt.models.lora import get_adapter_state
from fedmkt.models.shared_base import shares_weights
from fedmkt.setup.models import SharedBases, load_model, with_lora

SPEC = load_preset("tiny")[0].clients[0]  # tiny-gpt2-bpe, LoRA r=8


def test_with_lora_attaches_the_entrys_adapter_on_the_seeded_base_model():
    model, tokenizer = with_lora(SPEC, dtype="float32", device="cpu", seed=3)
    again, _ = with_lora(SPEC, dtype="float32", device="cpu", seed=3)
    state, other = get_adapter_state(model), get_adapter_state(again)
    assert state and all(torch.equal(state[k], other[k]) for k in state)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n for n in trainable)
    assert {p.shape[0] for n, p in model.named_parameters() if "lora_A" in n} == {SPEC.lora.r}
    assert len(tokenizer) > 0


def test_load_model_follows_the_seed_and_dtype():
    a, _ = load_model(SPEC, dtype="float32", device="cpu", seed=0)
    b, _ = load_model(SPEC, dtype="float32", device="cpu", seed=1)
    c, _ = load_model(SPEC, dtype="bfloat16", device="cpu", seed=0)
    first = next(a.parameters())
    assert not torch.equal(first, next(b.parameters()))
    assert first.dtype == torch.float32 and next(c.parameters()).dtype == torch.bfloat16


def test_shared_bases_load_each_model_once_and_give_each_participant_the_adapter_of_its_own_model():
    other = SPEC.model_copy(update={"model": "tiny-qwen2-wordpiece"})
    bases = SharedBases(dtype="float32", device="cpu", seed=3)
    a, b, c = (bases.with_lora(spec)[0] for spec in (SPEC, SPEC, other))
    assert list(bases.bases) == [SPEC.model, other.model]
    assert shares_weights(a, b) and not shares_weights(a, c)
    alone, _ = with_lora(SPEC, dtype="float32", device="cpu", seed=3)
    for model in (a, b):  # the fresh adapter a model of its own gets, and its own adapter tensors
        state, expected = get_adapter_state(model), get_adapter_state(alone)
        assert all(torch.equal(state[k], expected[k]) for k in expected)
    assert not any(p is q for p, q in zip(a.parameters(), b.parameters(), strict=True) if p.requires_grad)


def test_shared_bases_off_loads_a_copy_for_each_participant():
    bases = SharedBases(dtype="float32", device="cpu", seed=3, share=False)
    a, b = (bases.with_lora(SPEC)[0] for _ in range(2))
    assert not bases.bases and not shares_weights(a, b)


def _trained_adapter(spec, folder, seed: int = 5):
    """An adapter of ``spec``'s model with LoRA B weights not zero (so it changes the model), saved to ``folder``."""
    from fedmkt.models.lora import save_adapter, set_adapter_state

    model, _ = with_lora(spec, dtype="float32", device="cpu", seed=0)
    generator = torch.Generator().manual_seed(seed)
    set_adapter_state(model, {k: torch.randn(v.shape, generator=generator) * 0.05
                              for k, v in get_adapter_state(model).items()})
    save_adapter(model, folder)
    return model


def test_a_participant_starts_from_its_adapter_merged_into_the_model_and_is_shared_apart(tmp_path):
    trained = _trained_adapter(SPEC, tmp_path / "teacher").eval()
    spec = SPEC.model_copy(update={"adapter": str(tmp_path / "teacher")})
    merged, tokenizer = load_model(spec, dtype="float32", device="cpu", seed=0)
    plain, _ = load_model(SPEC, dtype="float32", device="cpu", seed=0)
    ids = tokenizer("Question: What color is the sky?\nAnswer:", return_tensors="pt")["input_ids"]
    with torch.no_grad():
        want, got, base = (m(input_ids=ids).logits for m in (trained, merged, plain))
    assert torch.allclose(got, want, atol=1e-5) and not torch.allclose(got, base, atol=1e-3)
    assert not any("lora_" in n for n, _ in merged.named_parameters())  # a plain model: LoRA goes on top of it
    bases = SharedBases(dtype="float32", device="cpu", seed=0)
    a, b = bases.with_lora(spec)[0], bases.with_lora(SPEC)[0]
    assert len(bases.bases) == 2 and not shares_weights(a, b)  # same model name, other weights: not one base


def test_an_adapter_of_another_model_is_one_line_naming_the_participant(tmp_path):
    import pytest

    from fedmkt.errors import FedMKTError

    _trained_adapter(SPEC.model_copy(update={"model": "tiny-qwen2-wordpiece"}), tmp_path / "other")
    spec = SPEC.model_copy(update={"adapter": str(tmp_path / "other"), "name": "client-1"})
    with pytest.raises(FedMKTError) as info:
        load_model(spec, dtype="float32", device="cpu", seed=0)
    assert str(info.value).startswith(f"client-1's adapter {tmp_path / 'other'}: cannot merge it into model")
    assert "\n" not in str(info.value)
