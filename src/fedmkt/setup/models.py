"""A participant's model as every driver builds it: the base model, and a fresh LoRA adapter on it."""

from __future__ import annotations

from peft import PeftModel
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from fedmkt.config import ParticipantConfig
from fedmkt.models.loading import load_model_and_tokenizer
from fedmkt.models.lora import attach_lora


def load_model(
    spec: ParticipantConfig, *, dtype: str, device: str, seed: int
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """The participant's base model and tokenizer (``seed`` only matters for the random tiny models)."""
    return load_model_and_tokenizer(spec.model, dtype=dtype, device=device, seed=seed)


def attach_spec_lora(model: PreTrainedModel, spec: ParticipantConfig) -> PeftModel:
    """A fresh LoRA adapter with the participant's settings (the only trainable weights)."""
    lora = spec.lora
    return attach_lora(model, r=lora.r, alpha=lora.alpha, dropout=lora.dropout, target_modules=lora.target_modules)


def with_lora(
    spec: ParticipantConfig, *, dtype: str, device: str, seed: int
) -> tuple[PeftModel, PreTrainedTokenizerBase]:
    """The participant's model with a fresh LoRA adapter, and its tokenizer."""
    model, tokenizer = load_model(spec, dtype=dtype, device=device, seed=seed)
    return attach_spec_lora(model, spec), tokenizer
