"""One copy of a base model's weights under many participants, each with its own module tree and adapter.

Clients of a federation (and the server, when it runs the same model) usually start from the same
frozen base; only their LoRA adapters differ. :func:`sharing_copy` gives each participant its own
module objects (so its own LoRA layers, dropout modules, train/eval flags and forward hooks) around
the *same* parameter and buffer tensors as the template: a participant costs its adapter and a few
kilobytes of Python objects, not a copy of the model.

Why not peft's several adapters on one model (``add_adapter``/``set_adapter``)? Those share one
module tree: the active adapter, the train/eval mode and the frozen flags are global, so every
use of a participant's model would have to switch them first, and peft saves a non-default
adapter in a subfolder with its name. Here nothing is switched: a participant's model is an
ordinary ``PeftModel`` with its ``default`` adapter, and every computation on it is the one a
participant with its own copy would run, bit for bit (the same weight tensors, the same ops).

The base weights are frozen by the first adapter attached (peft sets ``requires_grad`` False on
them, for every tree that shares them); nothing writes to them, so sharing is safe.
"""

from __future__ import annotations

import copy
from typing import TypeVar

from torch import nn

M = TypeVar("M", bound=nn.Module)


def sharing_copy(model: M) -> M:
    """``model``'s module tree copied, every parameter and buffer the same tensor as ``model``'s.

    Tied weights stay tied (a tensor reached twice is the same tensor in the copy); configs and
    other plain attributes are copied, so a participant may change its own without touching others.
    """
    shared = {id(tensor): tensor for tensor in (*model.parameters(), *model.buffers())}
    return copy.deepcopy(model, memo=shared)


def shares_weights(a: nn.Module, b: nn.Module) -> bool:
    """Whether every base weight of ``b`` is a tensor of ``a`` (adapters aside): the two share one base."""
    storages = {p.untyped_storage().data_ptr() for p in a.parameters()}
    frozen = [p for p in b.parameters() if not p.requires_grad]
    return bool(frozen) and all(p.untyped_storage().data_ptr() in storages for p in frozen)
