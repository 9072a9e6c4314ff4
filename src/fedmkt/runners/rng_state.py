"""The global random number generators' states (python, numpy, torch), as JSON a checkpoint keeps.

A resumed step must draw the same numbers as the uninterrupted run (dropout masks, shuffles
seeded from the global generators), so a checkpoint records every generator's state at its
commit and a resume puts them back before the next step.
"""

from __future__ import annotations

import base64
import random

import numpy as np
import torch


def capture_rng() -> dict:
    """The global python, numpy and torch (CPU, and CUDA if in use) RNG states, JSON-ready."""
    version, internal, gauss = random.getstate()
    numpy_state = np.random.get_state(legacy=False)
    numpy_state["state"] = {**numpy_state["state"], "key": numpy_state["state"]["key"].tolist()}
    encode = lambda t: base64.b64encode(t.numpy().tobytes()).decode("ascii")  # noqa: E731
    cuda = [encode(s) for s in torch.cuda.get_rng_state_all()] if torch.cuda.is_initialized() else []
    return {"python": [version, list(internal), gauss], "numpy": numpy_state,
            "torch": encode(torch.get_rng_state()), "cuda": cuda}


def _decode_rng(state: dict) -> tuple[tuple, dict, torch.Tensor]:
    """The python, numpy and torch states of :func:`capture_rng`'s JSON, as their setters take them."""
    version, internal, gauss = state["python"]
    numpy_state = dict(state["numpy"])
    numpy_state["state"] = {**numpy_state["state"],
                            "key": np.asarray(numpy_state["state"]["key"], dtype=np.uint32)}
    return (version, tuple(internal), gauss), numpy_state, _decode_tensor(state["torch"])


def _decode_tensor(text: str) -> torch.Tensor:
    return torch.frombuffer(bytearray(base64.b64decode(text, validate=True)), dtype=torch.uint8)


def check_rng(state: dict) -> None:
    """Raise if ``state`` is not one :func:`restore_rng` can apply (tried on throwaway generators)."""
    python, numpy_state, torch_state = _decode_rng(state)
    random.Random().setstate(python)
    np.random.RandomState().set_state(numpy_state)
    torch.Generator().set_state(torch_state)


def restore_rng(state: dict) -> None:
    """Inverse of :func:`capture_rng` (CUDA states only when the same number of devices is in use)."""
    python, numpy_state, torch_state = _decode_rng(state)
    random.setstate(python)
    np.random.set_state(numpy_state)
    torch.set_rng_state(torch_state)
    decode = _decode_tensor
    if state.get("cuda") and torch.cuda.is_available() and torch.cuda.device_count() == len(state["cuda"]):
        torch.cuda.set_rng_state_all([decode(s) for s in state["cuda"]])
