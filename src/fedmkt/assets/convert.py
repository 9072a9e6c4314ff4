"""Turn a GGUF checkpoint into a plain transformers folder (safetensors + tokenizer), and check it.

Loading a GGUF with transformers de-quantizes every tensor (13-31 s, 2-3 GB peak RAM), and a
GGUF-loaded model refuses ``save_pretrained``. So it is done once: the de-quantized weights
are copied into a model built ``from_config`` (config without ``quantization_config``),
saved as safetensors, and every later load takes 2-3 s.

Weights are saved in bfloat16 by default: they are de-quantized 4-bit values, so bf16 keeps
what precision there is at half the disk of float32 (Gemma-3-270M: 543 MiB), and loaders
cast to their run dtype anyway. ``verify_plain_folder`` reloads the folder the way users will
(plain ``from_pretrained``) and checks that (1) every tensor equals the GGUF tensor cast to the
saved dtype bit for bit, (2) the tokenizer gives the same ids on a few probe texts, and (3) the
mean next-token loss on a sentence matches the GGUF model's within ``loss_tolerance`` (bf16
rounding moves it by ~1e-3; float32 folders match to ~1e-6).
"""

from __future__ import annotations

import contextlib
import copy
import io
import math
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase
from transformers.utils import logging as hf_logging

from fedmkt.errors import FedMKTError

VERIFY_TEXT = (
    "Question: Which gas do plants take in from the air to make their food?\n"
    "Answer: Plants take in carbon dioxide and use sunlight to turn it into sugar."
)
PROBE_TEXTS = (
    VERIFY_TEXT,
    "  Leading spaces, tabs\tand\nnewlines; naïve café — 東京 🙂 1234567.89",
    "def f(x):\n    return x ** 2  # code",
)
DTYPES = {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}


@contextmanager
def quiet_transformers() -> Iterator[None]:
    """Silence transformers' progress bars and info/warning logs (they would break a rich display).

    The GGUF de-quantization bar is a bare ``tqdm`` that ignores transformers' switch, so
    stderr is captured too; failures still surface as exceptions.
    """
    bars = hf_logging.is_progress_bar_enabled()
    verbosity = hf_logging.get_verbosity()
    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    try:
        with contextlib.redirect_stderr(io.StringIO()):
            yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()


def load_gguf(path: Path) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """The de-quantized float32 model and the tokenizer stored in one GGUF file."""
    if not path.is_file():
        raise FedMKTError(f"GGUF file {path} does not exist")
    with quiet_transformers():
        tokenizer = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
        model = AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name, dtype=torch.float32)
    return model.eval(), tokenizer


def plain_copy(gguf_model: PreTrainedModel, dtype: torch.dtype = torch.bfloat16) -> PreTrainedModel:
    """A model of the same architecture, without GGUF quantization state, holding the weights in ``dtype``.

    ``load_state_dict(strict=True)`` guarantees that every tensor found a home (and that the
    architecture built from the config is the one the GGUF describes). The model is built in
    ``dtype`` directly and ``load_state_dict`` rounds while copying, so no second float32 copy
    of the weights is held (the peak, ~3.5 GB for Gemma-3-270M, is in ``load_gguf``).
    """
    config = copy.deepcopy(gguf_model.config)
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    config.dtype = dtype
    with quiet_transformers():
        model = AutoModelForCausalLM.from_config(config, dtype=dtype)
    model.load_state_dict(gguf_model.state_dict(), strict=True)
    model.eval()
    model.generation_config = copy.deepcopy(gguf_model.generation_config)
    return model


def parameter_count(model: torch.nn.Module) -> int:
    """Number of distinct parameters (tied embeddings counted once)."""
    return sum(p.numel() for p in model.parameters())


def write_plain_folder(
    gguf_model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    dest: Path,
    dtype: torch.dtype = torch.bfloat16,
) -> int:
    """Save ``gguf_model``'s weights (as ``dtype`` safetensors), config and ``tokenizer`` into ``dest``.

    Returns the parameter count.
    """
    model = plain_copy(gguf_model, dtype)
    with quiet_transformers():
        model.save_pretrained(dest, safe_serialization=True)
        tokenizer.save_pretrained(dest)
    return parameter_count(model)


def mean_token_loss(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, text: str) -> float:
    """Mean next-token cross-entropy (nats) of ``text`` under ``model``, computed in float32."""
    ids = tokenizer(text, return_tensors="pt").input_ids  # (1, seq)
    with torch.no_grad():
        logits = model(input_ids=ids).logits.float()  # (1, seq, vocab)
    loss = torch.nn.functional.cross_entropy(logits[0, :-1], ids[0, 1:])
    return float(loss)


def verify_plain_folder(
    folder: Path,
    gguf_model: PreTrainedModel,
    gguf_tokenizer: PreTrainedTokenizerBase,
    dtype: torch.dtype = torch.bfloat16,
    loss_tolerance: float = 0.05,
) -> dict[str, Any]:
    """Reload ``folder`` with plain ``from_pretrained`` and compare it with the GGUF model (see module doc).

    Raises FedMKTError on the first difference; returns the measured losses for the manifest.
    """
    with quiet_transformers():
        tokenizer = AutoTokenizer.from_pretrained(folder)
        model = AutoModelForCausalLM.from_pretrained(folder).eval()
    if model.dtype != dtype:
        raise FedMKTError(f"{folder}/config.json: reloads as {model.dtype}, expected {dtype}")
    for text in PROBE_TEXTS:
        want, got = gguf_tokenizer(text).input_ids, tokenizer(text).input_ids
        if want != got:
            raise FedMKTError(
                f"{folder}: saved tokenizer gives {got[:12]}... for {text[:30]!r}, GGUF gives {want[:12]}..."
            )
    reference = gguf_model.state_dict()
    saved = model.state_dict()
    if set(saved) != set(reference):
        differ = sorted(set(saved) ^ set(reference))[:5]
        raise FedMKTError(f"{folder}: tensor names differ from the GGUF model: {differ}")
    for name, tensor in reference.items():
        if not torch.equal(saved[name], tensor.to(dtype)):
            raise FedMKTError(f"{folder}: tensor {name} differs from the GGUF tensor cast to {dtype}")
    gguf_loss = mean_token_loss(gguf_model, gguf_tokenizer, VERIFY_TEXT)
    plain_loss = mean_token_loss(model.float(), tokenizer, VERIFY_TEXT)
    if not (math.isfinite(plain_loss) and abs(plain_loss - gguf_loss) <= loss_tolerance):
        raise FedMKTError(
            f"{folder}: loss on the check sentence is {plain_loss:.4f}, the GGUF model gives {gguf_loss:.4f} "
            f"(tolerance {loss_tolerance})"
        )
    return {"check_text_loss_gguf": gguf_loss, "check_text_loss_saved": plain_loss}
