"""LoRA adapters via peft: attach, save/load in peft's own format, exchange as state dicts.

Only the adapter is trained and exchanged; the base model stays frozen. Target modules default
to the attention projections, found by looking at the model (linear layers inside a module
whose class name contains ``Attention``), so new architectures need no table here.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch
from peft import (
    LoraConfig,
    PeftModel,
    TaskType,
    get_peft_model,
    get_peft_model_state_dict,
    set_peft_model_state_dict,
)
from safetensors.torch import save_file
from torch import Tensor, nn
from transformers.pytorch_utils import Conv1D

from fedmkt.errors import FedMKTError

_PROJECTIONS = (nn.Linear, Conv1D)  # Conv1D: GPT-2's transposed linear


def _attention_linears(model: nn.Module) -> tuple[list[str], set[str]]:
    """Names of linears inside attention modules, and leaf names of every other linear."""
    modules = dict(model.named_modules())
    inside, outside = [], set()
    for name, module in modules.items():
        if not isinstance(module, _PROJECTIONS):
            continue
        parts = name.split(".")
        ancestors = (modules.get(".".join(parts[:i])) for i in range(1, len(parts)))
        if any(a is not None and "Attention" in type(a).__name__ for a in ancestors):
            inside.append(name)
        else:
            outside.add(parts[-1])
    return inside, outside


@contextmanager
def _quiet_peft() -> Iterator[None]:
    """peft 0.21 reads a property transformers 5 deprecated; the warning is not the user's concern."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*")
        yield


def find_lora_target_modules(model: nn.Module) -> list[str]:
    """Attention projections of ``model`` as peft ``target_modules`` suffixes, in layer order.

    ``q_proj, k_proj, v_proj, o_proj`` for LLaMA/Qwen2/Gemma, ``q_proj, k_proj, v_proj, out_proj``
    for OPT, ``c_attn, attn.c_proj`` for GPT-2 (its MLP also has a ``c_proj``, so the attention one
    is qualified by its parent to keep the MLP out).
    """
    inside, outside = _attention_linears(model)
    targets: list[str] = []
    for name in inside:
        parts = name.split(".")
        suffix = parts[-1] if parts[-1] not in outside else ".".join(parts[-2:])
        if suffix not in targets:
            targets.append(suffix)
    if not targets:
        raise FedMKTError(
            f"no attention projections found in {type(model).__name__}; set lora target_modules explicitly"
        )
    return targets


def targeted_modules(model: nn.Module, targets: list[str]) -> list[nn.Module]:
    """The modules a LoRA adapter with ``target_modules=targets`` wraps: peft's rule for a list, a module whose
    name is a target or ends with ``.<target>``."""
    return [m for n, m in model.named_modules() if any(n == t or n.endswith("." + t) for t in targets)]


def lora_size(model: nn.Module, r: int, target_modules: list[str] | None = None) -> int:
    """Trainable parameters a rank-``r`` adapter on ``model`` has, ``r x (in + out)`` per wrapped projection, with
    the targets :func:`attach_lora` picks; counted from shapes, so ``model`` may live on the meta device."""
    targets = list(target_modules) if target_modules else find_lora_target_modules(model)
    total = 0
    for module in targeted_modules(model, targets):
        if isinstance(module, nn.Linear):
            total += r * (module.in_features + module.out_features)
        elif isinstance(module, Conv1D):  # GPT-2's: weight (in, out)
            total += r * sum(module.weight.shape)
    return total


def attach_lora(
    model: nn.Module,
    *,
    r: int,
    alpha: int,
    dropout: float,
    target_modules: list[str] | None = None,
    seed: int = 0,
) -> PeftModel:
    """Wrap ``model`` with a fresh LoRA adapter (A random from ``seed``, B zero); only it is trainable.

    ``target_modules=None`` uses :func:`find_lora_target_modules`. The global RNG is untouched and
    the result keeps ``model``'s train/eval mode.
    """
    if r < 1:
        raise FedMKTError(f"lora r must be a positive integer, got {r}")
    if not 0.0 <= dropout < 1.0:
        raise FedMKTError(f"lora dropout must be in [0, 1), got {dropout}")
    mode = model.training
    targets = list(target_modules) if target_modules else find_lora_target_modules(model)
    conv1d = any(isinstance(m, Conv1D) for m in targeted_modules(model, targets))
    config = LoraConfig(
        task_type=TaskType.CAUSAL_LM, r=r, lora_alpha=alpha, lora_dropout=dropout,
        target_modules=targets, bias="none", fan_in_fan_out=conv1d,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        try:
            with _quiet_peft():
                wrapped = get_peft_model(model, config)
        except ValueError as err:
            raise FedMKTError(f"lora target_modules {targets} do not fit {type(model).__name__}: {err}"
                              ) from None
    return wrapped.train(mode)  # the wrapper starts in train mode; keep the base model's mode


def as_peft(model: nn.Module) -> PeftModel:
    """``model`` as the PeftModel it must be to hold an adapter; a one-line error for a bare model."""
    if not isinstance(model, PeftModel):
        raise FedMKTError(f"{type(model).__name__} holds no LoRA adapter; expected a peft model (add_lora)")
    return model


def save_adapter(model: nn.Module, folder: str | Path) -> Path:
    """Write ``adapter_config.json`` + ``adapter_model.safetensors`` (peft's format) into ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    as_peft(model).save_pretrained(str(folder), save_embedding_layers=False)
    return folder


def adapter_config_json(model: nn.Module) -> str:
    """The adapter's ``adapter_config.json`` text, for writing an adapter of the same shape elsewhere."""
    config = as_peft(model).peft_config["default"].to_dict()
    return json.dumps({k: sorted(v) if isinstance(v, set) else v for k, v in config.items()}, sort_keys=True)


def save_adapter_state(state: dict[str, Tensor], config_json: str, folder: str | Path) -> Path:
    """Write adapter weights (:func:`get_adapter_state` form) with their config in peft's format.

    Where no model holds the weights (the averaged adapter on a Flower server), this writes what
    :func:`save_adapter` would: ``adapter_config.json`` and ``adapter_model.safetensors``.
    """
    try:
        config = LoraConfig(**json.loads(config_json))
    except (TypeError, ValueError) as err:
        raise FedMKTError(f"adapter config is not a LoRA config: {err}") from None
    config.inference_mode = True  # as PeftModel.save_pretrained writes it
    folder = Path(folder)
    config.save_pretrained(str(folder))
    save_file({k: v.contiguous() for k, v in state.items()}, str(folder / "adapter_model.safetensors"),
              metadata={"format": "pt"})
    return folder


def load_adapter(model: nn.Module, folder: str | Path, *, trainable: bool = False) -> PeftModel:
    """Adapter from ``folder``: wraps a plain model, or loads the weights into an existing PeftModel."""
    folder = Path(folder)
    if not (folder / "adapter_config.json").is_file():
        raise FedMKTError(f"adapter folder {folder} has no adapter_config.json: expected a peft adapter")
    if isinstance(model, PeftModel):
        from peft.utils import load_peft_weights

        set_adapter_state(model, load_peft_weights(str(folder), device=str(_device_of(model))))
        return model
    mode = model.training
    with _quiet_peft():
        return PeftModel.from_pretrained(model, str(folder), is_trainable=trainable).train(mode)


def _device_of(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


def _state(model: nn.Module) -> dict[str, Tensor]:
    # save_embedding_layers=False: we never resize embeddings, and "auto" looks the base model up on the hub.
    return get_peft_model_state_dict(as_peft(model), save_embedding_layers=False)


def get_adapter_state(model: nn.Module) -> dict[str, Tensor]:
    """Adapter weights (detached copies), keyed as peft saves them; the unit FedAvg averages."""
    return {k: v.detach().clone() for k, v in _state(model).items()}


def set_adapter_state(model: nn.Module, state: dict[str, Tensor]) -> None:
    """Load adapter weights from :func:`get_adapter_state` form; keys and shapes must match exactly."""
    current = _state(model)
    missing = sorted(set(current) - set(state))
    unexpected = sorted(set(state) - set(current))
    if missing or unexpected:
        raise FedMKTError(f"adapter state does not match the model: missing {missing[:3]}, "
                          f"unexpected {unexpected[:3]}")
    for key, value in state.items():
        if tuple(value.shape) != tuple(current[key].shape):
            raise FedMKTError(f"adapter state {key}: shape {tuple(value.shape)}, expected "
                              f"{tuple(current[key].shape)}")
    set_peft_model_state_dict(model, state)
