"""A participant's model as every driver builds it: the base model, and a fresh LoRA adapter on it.

A federated phase holds many participants at once; :class:`SharedBases` loads each base model once
and gives every participant its own adapter over that one copy of the weights
(``fedmkt.models.shared_base``), so memory grows by an adapter per client, not by a model.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from peft import PeftModel
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from fedmkt.config import ParticipantConfig
from fedmkt.errors import FedMKTError
from fedmkt.models.loading import load_model_and_tokenizer
from fedmkt.models.lora import attach_lora, load_adapter
from fedmkt.models.shared_base import sharing_copy


def load_model(
    spec: ParticipantConfig, *, dtype: str, device: str, seed: int
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """The participant's base model and tokenizer (``seed`` only matters for the random tiny models), with the
    participant's ``adapter`` merged in when it names one."""
    model, tokenizer = load_model_and_tokenizer(spec.model, dtype=dtype, device=device, seed=seed)
    return (model if spec.adapter is None else merged_adapter(model, spec.adapter, spec.name)), tokenizer


def merged_adapter(model: PreTrainedModel, folder: str, participant: str) -> PreTrainedModel:
    """``model`` with the LoRA adapter in ``folder`` merged into its weights: a plain model that knows what the
    adapter learned (a teacher trained beforehand: experiment C, docs/data.md); one line naming the participant
    if the adapter does not fit the model."""
    try:
        merged = load_adapter(model, folder).merge_and_unload()
    except (FedMKTError, OSError, RuntimeError, ValueError, KeyError) as error:
        reason = " ".join(str(error).split())[:300]
        raise FedMKTError(f"{participant}'s adapter {folder}: cannot merge it into model {model.name_or_path!r} "
                          f"({reason}); expected a peft adapter trained on this model") from None
    return merged


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


@dataclass
class SharedBases:
    """Participants' models with LoRA, each base model loaded once (``share`` False: a load each, as before).

    A base is keyed by its model name: within one run the dtype, device and seed are the run's, so the
    same name is the same weights (tiny models are rebuilt bit for bit from the seed). Each participant
    gets :func:`~fedmkt.models.shared_base.sharing_copy` of the base with its fresh adapter attached,
    from the same seed as a model of its own would get it, so its initial adapter is the same too.
    """

    dtype: str
    device: str
    seed: int
    share: bool = True
    bases: dict[str, tuple[PreTrainedModel, PreTrainedTokenizerBase]] = field(default_factory=dict)

    def with_lora(self, spec: ParticipantConfig) -> tuple[PeftModel, PreTrainedTokenizerBase]:
        """The participant's model with a fresh LoRA adapter over the shared base, and its tokenizer."""
        if not self.share:
            return with_lora(spec, dtype=self.dtype, device=self.device, seed=self.seed)
        key = spec.model if spec.adapter is None else f"{spec.model}\n{spec.adapter}"  # a merged adapter: other weights
        if key not in self.bases:
            self.bases[key] = load_model(spec, dtype=self.dtype, device=self.device, seed=self.seed)
        base, tokenizer = self.bases[key]
        return attach_spec_lora(sharing_copy(base), spec), tokenizer
