"""Mixed precision: run the matmuls in bfloat16 while weights, LoRA and all loss maths stay fp32.

Why autocast and not ``runtime.dtype: bfloat16``: bf16 weights make LoRA's optimizer updates
round away and the log-softmax over 49k-262k logits lose digits; autocast keeps fp32 master
weights and only casts the inputs of linear layers and attention (torch's CPU and CUDA
autocast op lists), and every loss in fedmkt upcasts logits to fp32 before its log-softmax.
On a CPU with ``avx512_bf16``/AMX the matmuls run natively in bf16; elsewhere they are
emulated and slower, so ``auto`` turns autocast on only where the hardware has it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from functools import cache
from typing import Literal

import torch

from fedmkt.models.device import resolve_device

AutocastMode = Literal["off", "bfloat16", "auto"]


@cache
def cpu_has_native_bf16() -> bool:
    """True when this CPU advertises bf16 matmul instructions (Linux ``/proc/cpuinfo`` flags)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            flags = f.read()
    except OSError:
        return False
    return any(flag in flags for flag in ("avx512_bf16", "amx_bf16"))


def resolve_autocast(mode: AutocastMode, device: torch.device) -> torch.dtype | None:
    """The autocast dtype ``mode`` means on ``device`` (None: run in the weights' dtype)."""
    if mode == "off":
        return None
    if mode == "bfloat16":
        return torch.bfloat16
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else None
    return torch.bfloat16 if device.type == "cpu" and cpu_has_native_bf16() else None


@contextlib.contextmanager
def mixed_precision(mode: AutocastMode, device: torch.device | str) -> Iterator[torch.dtype | None]:
    """Autocast every forward pass inside the block as ``mode`` says; yields the dtype used."""
    device = torch.device(resolve_device(device) if isinstance(device, str) else device)
    dtype = resolve_autocast(mode, device)
    if dtype is None:
        yield None
        return
    with torch.autocast(device.type, dtype=dtype):
        yield dtype
