"""LoRA: targets found per architecture, only adapters train, save/load and state exchange are exact."""

import json

import pytest
import torch

from fedmkt.errors import FedMKTError
from fedmkt.models.lora import (
    adapter_config_json,
    attach_lora,
    find_lora_target_modules,
    get_adapter_state,
    load_adapter,
    save_adapter,
    save_adapter_state,
    set_adapter_state,
)
from fedmkt.models.tiny import TINY_ARCHS, build_tiny_model

IDS = torch.tensor([[5, 17, 42, 9, 3, 77, 8]])
EXPECTED = {
    "llama": ["q_proj", "k_proj", "v_proj", "o_proj"],
    "qwen2": ["q_proj", "k_proj", "v_proj", "o_proj"],
    "gemma3": ["q_proj", "k_proj", "v_proj", "o_proj"],
    "opt": ["k_proj", "v_proj", "q_proj", "out_proj"],
    "gpt2": ["c_attn", "attn.c_proj"],  # the MLP's c_proj stays frozen
}


def _randomise(model, seed):
    """Give the adapter non-zero B matrices so it changes outputs (a fresh one is the identity)."""
    gen = torch.Generator().manual_seed(seed)
    state = {k: torch.randn(v.shape, generator=gen) * 0.1 for k, v in get_adapter_state(model).items()}
    set_adapter_state(model, state)
    return state


def _logits(model):
    with torch.no_grad():
        return model(input_ids=IDS).logits


@pytest.mark.parametrize("arch", TINY_ARCHS)
def test_targets_found_and_only_lora_weights_train(arch):
    base, _ = build_tiny_model(f"tiny-{arch}-bpe")
    assert find_lora_target_modules(base) == EXPECTED[arch]
    model = attach_lora(base, r=4, alpha=8, dropout=0.0)
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    layers = base.config.num_hidden_layers
    assert len(trainable) == 2 * layers * len(EXPECTED[arch])
    assert all("lora_A" in n or "lora_B" in n for n in trainable)
    if arch == "gpt2":
        assert not any(".mlp." in n for n in trainable)


def test_fresh_adapter_is_identity_and_seeded_without_touching_global_rng():
    base, _ = build_tiny_model("tiny-llama-unigram")
    before = _logits(base)
    rng = torch.get_rng_state()
    a = attach_lora(base, r=4, alpha=8, dropout=0.0, seed=5)
    assert torch.equal(torch.get_rng_state(), rng)
    torch.testing.assert_close(_logits(a), before)
    b = attach_lora(build_tiny_model("tiny-llama-unigram")[0], r=4, alpha=8, dropout=0.0, seed=5)
    sa, sb = get_adapter_state(a), get_adapter_state(b)
    assert all(torch.equal(sa[k], sb[k]) for k in sa)


def test_target_override_and_bad_override():
    base, _ = build_tiny_model("tiny-llama-bpe")
    model = attach_lora(base, r=2, alpha=4, dropout=0.0, target_modules=["q_proj", "v_proj"])
    assert sorted(model.peft_config["default"].target_modules) == ["q_proj", "v_proj"]
    with pytest.raises(FedMKTError, match="target_modules"):
        attach_lora(build_tiny_model("tiny-llama-bpe")[0], r=2, alpha=4, dropout=0.0, target_modules=["nope"])


@pytest.mark.parametrize("arch", ["llama", "gpt2"])
def test_saved_adapter_loads_into_a_fresh_model_with_identical_outputs(arch, tmp_path):
    name = f"tiny-{arch}-unigram"
    model = attach_lora(build_tiny_model(name, seed=1)[0], r=4, alpha=8, dropout=0.1)
    _randomise(model, seed=0)
    expected = _logits(model.eval())
    save_adapter(model, tmp_path / "adapter")
    assert (tmp_path / "adapter" / "adapter_model.safetensors").is_file()
    assert json.loads((tmp_path / "adapter" / "adapter_config.json").read_text())["r"] == 4

    fresh = load_adapter(build_tiny_model(name, seed=1)[0], tmp_path / "adapter")
    torch.testing.assert_close(_logits(fresh), expected)
    assert not any(p.requires_grad for p in fresh.parameters())  # loaded for inference by default

    other = attach_lora(build_tiny_model(name, seed=1)[0], r=4, alpha=8, dropout=0.1, seed=9)
    assert load_adapter(other, tmp_path / "adapter") is other  # into an existing adapter
    torch.testing.assert_close(_logits(other.eval()), expected)


def test_missing_adapter_folder_is_a_clear_error(tmp_path):
    with pytest.raises(FedMKTError, match="adapter_config.json"):
        load_adapter(build_tiny_model("tiny-gpt2-bpe")[0], tmp_path)


def test_a_bare_model_has_no_adapter_to_read_save_or_set(tmp_path):
    bare = build_tiny_model("tiny-gpt2-bpe")[0]
    for call in (lambda: get_adapter_state(bare), lambda: save_adapter(bare, tmp_path / "a"),
                 lambda: set_adapter_state(bare, {}), lambda: adapter_config_json(bare)):
        with pytest.raises(FedMKTError, match="GPT2LMHeadModel holds no LoRA adapter"):
            call()


def test_adapter_state_round_trip_and_mismatch():
    source = attach_lora(build_tiny_model("tiny-qwen2-wordpiece")[0], r=4, alpha=8, dropout=0.0)
    state = _randomise(source, seed=3)
    got = get_adapter_state(source)
    assert set(got) == set(state) and all(torch.equal(got[k], state[k]) for k in state)
    got[next(iter(got))].add_(1.0)  # a copy: the model is not changed through it
    assert all(torch.equal(get_adapter_state(source)[k], state[k]) for k in state)

    target = attach_lora(build_tiny_model("tiny-qwen2-wordpiece")[0], r=4, alpha=8, dropout=0.0, seed=7)
    set_adapter_state(target, get_adapter_state(source))
    torch.testing.assert_close(_logits(target), _logits(source))
    with pytest.raises(FedMKTError, match="missing"):
        set_adapter_state(target, dict(list(state.items())[1:]))
    wrong = attach_lora(build_tiny_model("tiny-qwen2-wordpiece")[0], r=2, alpha=8, dropout=0.0)
    with pytest.raises(FedMKTError, match="shape"):
        set_adapter_state(wrong, state)


def test_weights_without_a_model_are_saved_as_peft_saves_the_model(tmp_path):
    """What a Flower server writes for the averaged client adapter: the same files as ``save_adapter``."""
    name = "tiny-gpt2-bpe"
    model = attach_lora(build_tiny_model(name, seed=1)[0], r=4, alpha=8, dropout=0.1)
    state = _randomise(model, seed=2)
    save_adapter(model, tmp_path / "from-model")
    save_adapter_state(state, adapter_config_json(model), tmp_path / "from-state")
    # peft writes target_modules from a set, in the order of this process's string hashes (PYTHONHASHSEED)
    read = lambda folder: {k: sorted(v) if k == "target_modules" else v  # noqa: E731
                           for k, v in json.loads((tmp_path / folder / "adapter_config.json").read_text()).items()}
    assert read("from-state") == read("from-model")
    fresh = load_adapter(build_tiny_model(name, seed=1)[0], tmp_path / "from-state")
    torch.testing.assert_close(_logits(fresh), _logits(model.eval()))
    with pytest.raises(FedMKTError, match="not a LoRA config"):
        save_adapter_state(state, '{"r": 4, "no_such_field": 1}', tmp_path / "bad")
