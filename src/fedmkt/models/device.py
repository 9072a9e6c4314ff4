"""``runtime.device``: a torch device name, or ``auto`` for the GPU where there is one."""

from __future__ import annotations

import torch


def resolve_device(device: str) -> str:
    """``"auto"`` is ``cuda`` where torch sees a GPU and ``cpu`` everywhere else; any other name as given."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device
