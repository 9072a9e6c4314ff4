"""models.footprint: what a model and its LoRA adapter hold, from the config alone (no weights read)."""

from __future__ import annotations

import pytest

from fedmkt.models.footprint import lora_parameter_count
from fedmkt.models.lora import attach_lora
from fedmkt.models.tiny import build_tiny_model


@pytest.mark.parametrize("name", ["tiny-gpt2-bpe", "tiny-opt-unigram", "tiny-llama-unigram"])
@pytest.mark.parametrize("r", [1, 8])
def test_the_lora_count_is_the_attached_adapters_trainable_parameters(name, r):
    """GPT-2's Conv1D and the Linear projections of OPT and LLaMA, with the targets attach_lora picks."""
    model = attach_lora(build_tiny_model(name)[0], r=r, alpha=2 * r, dropout=0.0)
    assert lora_parameter_count(name, r) == sum(p.numel() for p in model.parameters() if p.requires_grad)


def test_named_target_modules_count_only_those_layers():
    model = attach_lora(build_tiny_model("tiny-llama-unigram")[0], r=4, alpha=8, dropout=0.0,
                        target_modules=["q_proj"])
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert lora_parameter_count("tiny-llama-unigram", 4, ("q_proj",)) == trainable
    assert trainable < lora_parameter_count("tiny-llama-unigram", 4)
