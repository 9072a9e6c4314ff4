"""FedAvg of LoRA adapters among homogeneous clients (McMahan et al., 2017).

Paper section 3.2: "homogeneous clients may add FedAvg of their LoRA weights" after the
public-set phase (step 8), and the FedAvg baseline of section 4. Only adapters are averaged:
the base models are frozen and identical. Each client's weight is its private data size.
Averaging happens in float64 and is cast back to each tensor's dtype.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import torch
from torch import Tensor, nn

from fedmkt.errors import FedMKTError
from fedmkt.models.lora import get_adapter_state, set_adapter_state


def fedavg_states(states: Sequence[Mapping[str, Tensor]], weights: Sequence[float]) -> dict[str, Tensor]:
    """Weighted elementwise mean ``sum_i w_i * state_i / sum_i w_i`` of adapter state dicts.

    Args:
        states: one state dict per client (``get_adapter_state``), same keys and shapes.
        weights: one non-negative weight per state (e.g. private data sizes), positive sum.

    Returns:
        New tensors with the first state's dtypes and devices.
    """
    if not states or len(states) != len(weights):
        raise FedMKTError(
            f"fedavg: expected one weight per state, got {len(states)} states and {len(weights)} weights"
        )
    if any(w < 0 for w in weights) or not sum(weights) > 0:
        raise FedMKTError(f"fedavg: weights must be >= 0 with a positive sum, got {list(weights)}")
    keys = list(states[0])
    for i, state in enumerate(states[1:], start=1):
        if set(state) != set(keys):
            raise FedMKTError(
                f"fedavg: adapter {i} has other keys than adapter 0 (clients must be homogeneous)"
            )
        for key in keys:
            if state[key].shape != states[0][key].shape:
                raise FedMKTError(
                    f"fedavg: {key} has shape {tuple(state[key].shape)} in adapter {i}, "
                    f"{tuple(states[0][key].shape)} in adapter 0"
                )
    total = float(sum(weights))
    averaged = {}
    for key in keys:
        ref = states[0][key]
        acc = torch.zeros(ref.shape, dtype=torch.float64)
        for state, weight in zip(states, weights, strict=True):
            acc += state[key].detach().cpu().double() * (float(weight) / total)
        averaged[key] = acc.to(dtype=ref.dtype, device=ref.device)
    return averaged


class HasAdapter(Protocol):
    """What :func:`fedavg_clients` needs of a client (``fedmkt.core.client.Client`` fits)."""

    @property
    def name(self) -> str: ...

    @property
    def model(self) -> nn.Module: ...

    @property
    def n_private(self) -> int: ...


@dataclass(frozen=True)
class FedAvgReport:
    """Who was averaged, with which weights (normalised), and how long it took."""

    clients: list[str]
    weights: list[float]
    seconds: float

    def to_dict(self) -> dict:
        return {"clients": self.clients, "weights": self.weights, "seconds": self.seconds}


def fedavg_clients(clients: Sequence[HasAdapter]) -> FedAvgReport:
    """Average the clients' adapters weighted by private data size and load the mean into each."""
    start = time.perf_counter()
    states = [get_adapter_state(c.model) for c in clients]
    sizes = [float(c.n_private) for c in clients]
    mean = fedavg_states(states, sizes)
    for client in clients:
        device = next(client.model.parameters()).device
        set_adapter_state(client.model, {k: v.to(device) for k, v in mean.items()})
    total = sum(sizes)
    return FedAvgReport([c.name for c in clients], [s / total for s in sizes], time.perf_counter() - start)
