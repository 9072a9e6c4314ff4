"""Whether a run's models fit in memory at once, said before anything is loaded.

A federated phase holds the server's model and every client's for its whole length; with
``runtime.share_base`` (the default) one copy of each distinct base model, else a copy per
participant. Weight sizes come from the models' configs (``models.footprint``), so a config that
cannot fit stops in preflight with one line saying what it needs, not minutes later by the
kernel's OOM killer. The baselines hold one or two models at a time, far less.
"""

from __future__ import annotations

from collections import Counter

from fedmkt.config import ExperimentConfig, ParticipantConfig
from fedmkt.errors import FedMKTError
from fedmkt.federation.plan import Variant, variants_for
from fedmkt.models.footprint import available_bytes, weight_bytes

GIB = 1 << 30

WORKING_SET = 1.2
"""Weights times this: each training step's activations, gradients and AdamW state of the adapter,
the public set's logits. SmolLM2-135M clients and server, 8 public and 4 private samples each,
one copy per participant: 2,007 MiB peak RSS with one client, 6,173 MiB with eight (issue 19), i.e.
about 1.15x the weights per copy past the process's own."""

PROCESS = 1 * GIB
"""The interpreter, torch, transformers, tokenizers and data before the first model."""


def _base(participant: ParticipantConfig) -> str:
    """A base model as ``SharedBases`` keys it: the model, and the adapter merged into it if any (other weights)."""
    return participant.model if participant.adapter is None else f"{participant.model} + {participant.adapter}"


def phase_copies(config: ExperimentConfig, variant: Variant, share: bool) -> Counter[str]:
    """Base model -> copies of its weights ``variant``'s phase holds at once (``share``: one per base model)."""
    bases = [_base(config.server)] if variant.exchange else []
    bases += [_base(c) for c in config.clients]
    if not share:
        return Counter(bases)
    copies = Counter(dict.fromkeys(bases, 1))
    if variant.frozen_server:  # LLM2SLM's teacher is loaded without an adapter, apart from the clients' base
        copies[_base(config.server)] += 1 if _base(config.server) in {_base(c) for c in config.clients} else 0
    return copies


def needed_bytes(config: ExperimentConfig, copies: Counter[str]) -> int:
    runtime = config.runtime
    models = {_base(p): p.model for p in [config.server, *config.clients]}
    weights = sum(n * weight_bytes(models[base], runtime.dtype, runtime.device) for base, n in copies.items())
    return int(weights * WORKING_SET) + PROCESS


def check_memory(config: ExperimentConfig, available: int | None = None) -> None:
    """Raise a one-line `FedMKTError` when a federated phase of ``config`` needs more than ``available`` bytes
    (default: the run's device's free memory, ``models.footprint.available_bytes``)."""
    share = config.runtime.share_base
    phases = [(v, phase_copies(config, v, share)) for v in variants_for(config.method_names)]
    if not phases:
        return
    variant, copies = max(phases, key=lambda item: needed_bytes(config, item[1]))
    need = needed_bytes(config, copies)
    free = available_bytes(config.runtime.device) if available is None else available
    if need <= free:
        return
    held = ", ".join(f"{n} x {name}" for name, n in copies.most_common())
    advice = "use fewer clients or smaller models"
    if not share:
        shared = needed_bytes(config, phase_copies(config, variant, True))
        advice = f"set runtime.share_base: true (one copy of each model: about {shared / GIB:.1f} GiB) or {advice}"
    raise FedMKTError(
        f"{config.name}: the {variant.phase} phase holds {sum(copies.values())} copies of model weights at once "
        f"({held}): about {need / GIB:.1f} GiB with activations, more than the {free / GIB:.1f} GiB available on "
        f"{config.runtime.device}; {advice}"
    )
