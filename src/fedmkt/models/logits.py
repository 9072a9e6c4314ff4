"""LM-head logits only where they are needed.

A causal LM's head is ``hidden -> vocab``; for Gemma-3 the vocabulary has 262,144 rows, so
computing logits at every position costs more than the rest of the model. Training takes
loss only on answer tokens and scoring reads only continuation tokens, so we run the
decoder stack once, gather the hidden states at the positions that matter and apply the
head to those rows only.
"""

from __future__ import annotations

from typing import cast

import torch
from torch import Tensor, nn
from transformers import PreTrainedModel


def _causal_lm(model: nn.Module) -> PreTrainedModel:
    """The underlying ``*ForCausalLM`` of a plain or peft-wrapped model."""
    get_base = getattr(model, "get_base_model", None)
    return cast(PreTrainedModel, get_base() if callable(get_base) else model)


def decoder_and_head(model: nn.Module) -> tuple[nn.Module, nn.Linear]:
    """The decoder stack (returns final-normed hidden states) and the LM head of ``model``."""
    lm = _causal_lm(model)
    return lm.get_decoder(), cast(nn.Linear, lm.get_output_embeddings())


def hidden_states(model: nn.Module, input_ids: Tensor, attention_mask: Tensor | None = None) -> Tensor:
    """Final hidden states, shape ``(batch, seq, hidden)``, without computing any logits."""
    decoder, _ = decoder_and_head(model)
    out = decoder(input_ids=input_ids, attention_mask=attention_mask, use_cache=False)
    return out.last_hidden_state if hasattr(out, "last_hidden_state") else out[0]


def head_logits(model: nn.Module, hidden: Tensor) -> Tensor:
    """Apply the LM head (and the model's final-logit soft-capping, if any) to ``(..., hidden)``."""
    lm = _causal_lm(model)
    logits = lm.get_output_embeddings()(hidden)
    cap = getattr(lm.config, "final_logit_softcapping", None)
    if cap:
        logits = torch.tanh(logits / cap) * cap
    return logits


def selected_logits(
    model: nn.Module,
    input_ids: Tensor,
    attention_mask: Tensor | None,
    positions: Tensor,
) -> Tensor:
    """Logits at chosen positions only.

    Args:
        input_ids: ``(batch, seq)`` token ids.
        attention_mask: ``(batch, seq)`` 1 for real tokens, 0 for padding (or ``None``).
        positions: boolean mask ``(batch, seq)``; ``True`` where the next-token distribution
            is wanted (the logits at position ``i`` predict token ``i + 1``).

    Returns:
        ``(n_selected, vocab)`` logits in the model's dtype, rows in row-major order of
        ``positions`` (batch first, then sequence), i.e. ``hidden[positions]``.
    """
    hidden = hidden_states(model, input_ids, attention_mask)
    return head_logits(model, hidden[positions])
