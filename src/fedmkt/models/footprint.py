"""How much memory a model's weights take, known before any weight is read.

A model is built from its config on torch's ``meta`` device (shapes, no storage), so a run can
say what it will need, and refuse in one line what the machine cannot hold, before the kernel's
OOM killer ends it mid-load. Tied weights count once, as they are stored once.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import psutil
import torch
from transformers import AutoConfig, AutoModelForCausalLM

from fedmkt.assets.registry import MODEL_ASSETS, model_dir
from fedmkt.errors import FedMKTError
from fedmkt.models.device import resolve_device
from fedmkt.models.loading import resolve_dtype
from fedmkt.models.lora import lora_size
from fedmkt.models.tiny import build_tiny_model, is_tiny_name


def _meta_model(name: str) -> torch.nn.Module:
    """Model ``name`` with shapes and no storage (tiny models are built: they are tiny)."""
    if is_tiny_name(name):
        return build_tiny_model(name)[0]
    folder = Path(name).expanduser()
    source: str | Path = model_dir(name) if name in MODEL_ASSETS else folder if folder.is_dir() else name
    try:
        config = AutoConfig.from_pretrained(source)
    except (OSError, ValueError, KeyError) as err:
        raise FedMKTError(f"model {name!r}: cannot read its config.json ({type(err).__name__}); expected a "
                          "transformers model folder, a packaged model or a hub id") from None
    with torch.device("meta"):
        return AutoModelForCausalLM.from_config(config)


@cache
def parameter_count(name: str) -> int:
    """Parameters of model ``name`` (tied ones once), from its config alone."""
    return sum(p.numel() for p in _meta_model(name).parameters())


@cache
def lora_parameter_count(name: str, r: int, target_modules: tuple[str, ...] | None = None) -> int:
    """Trainable parameters of a rank-``r`` LoRA adapter on model ``name`` (``r x (in + out)`` per targeted
    layer, targets as :func:`~fedmkt.models.lora.attach_lora` picks them), from the config alone: what DP-SGD's
    noise is spread over (docs/privacy.md)."""
    return lora_size(_meta_model(name), r, list(target_modules) if target_modules else None)


def weight_bytes(name: str, dtype: str, device: str) -> int:
    """Bytes of model ``name``'s weights in the run's ``dtype`` on ``device`` (``runtime.dtype`` ``auto`` resolved)."""
    return parameter_count(name) * torch.empty((), dtype=resolve_dtype(dtype, device)).element_size()


def available_bytes(device: str) -> int:
    """Memory a new allocation can get: free GPU memory on a CUDA device, else the system's available memory."""
    dev = torch.device(resolve_device(device))
    if dev.type == "cuda" and torch.cuda.is_available():
        return int(torch.cuda.mem_get_info(dev)[0])
    return int(psutil.virtual_memory().available)
