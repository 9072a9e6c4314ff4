"""Checks of a config against the models it names, done once before any training.

Some settings can only be judged once the models are known: ``fedmkt.top_k`` larger than a
participant's vocabulary asks for more distribution entries than that model has tokens. The
message code would quietly send vocabulary-wide rows instead (``fedmkt.core.messages``); a
config asking for that is a mistake, so it stops the run with one line, before hours of
baselines, rather than after them. Tokenizers alone are loaded (no weights), so the check
costs seconds; it also surfaces a broken tokenizer (no vocabulary, no tokenizer files) up front.

Likewise a model's context (its positions, read from its config without loading weights): a
``train.max_length`` past it would index positions the model does not have.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

from transformers import AutoConfig, PreTrainedTokenizerBase

from fedmkt.assets.registry import MODEL_ASSETS, model_dir
from fedmkt.errors import FedMKTError
from fedmkt.models.loading import load_tokenizer
from fedmkt.models.tiny import MAX_POSITIONS, is_tiny_name


def load_tokenizers(models: Iterable[str]) -> dict[str, PreTrainedTokenizerBase]:
    """model name -> its tokenizer, each distinct name loaded once (one-line errors for broken ones)."""
    return {name: load_tokenizer(name) for name in dict.fromkeys(models)}


def vocabulary_sizes(models: Iterable[str]) -> dict[str, int]:
    """model name -> number of tokens its tokenizer knows (``len(tokenizer)``, added tokens included)."""
    return {name: len(tokenizer) for name, tokenizer in load_tokenizers(models).items()}


def check_top_k(top_k: int, vocab_sizes: Mapping[str, int], field: str = "fedmkt.top_k") -> None:
    """Raise a one-line `FedMKTError` if ``top_k`` exceeds any vocabulary in ``vocab_sizes``.

    Args:
        top_k: next-token entries each participant sends per answer position.
        vocab_sizes: participant or model name -> its vocabulary size.
        field: the config field named in the message.
    """
    if not vocab_sizes:
        return
    name, smallest = min(vocab_sizes.items(), key=lambda item: (item[1], item[0]))
    if top_k > smallest:
        raise FedMKTError(f"'{field}' is {top_k}, larger than the vocabulary of model {name!r} ({smallest} "
                          f"tokens); expected at most {smallest}")


def context_length(name: str) -> int | None:
    """Positions model ``name`` can attend to (``max_position_embeddings``, as evaluation reads it), or None.

    Read from the model's config alone (no weights): a tiny model's fixed table, a packaged or
    local folder's ``config.json``, or a hub id's (cached) config. Packaged models must be fetched.
    """
    if is_tiny_name(name):
        return MAX_POSITIONS
    folder = Path(name).expanduser()
    source: str | Path = model_dir(name) if name in MODEL_ASSETS else folder if folder.is_dir() else name
    try:
        config = AutoConfig.from_pretrained(source)
    except (OSError, ValueError, KeyError) as err:
        reason = next((line.strip() for line in str(err).splitlines() if line.strip()), type(err).__name__)
        raise FedMKTError(f"model {name!r}: cannot read its config.json ({reason}); expected a transformers "
                          "model folder, a packaged model or a hub id") from None
    positions = getattr(config, "max_position_embeddings", None)
    return positions if isinstance(positions, int) and positions > 0 else None


def check_max_length(max_length: int, positions: int | None, model: str, field: str) -> None:
    """Raise a one-line `FedMKTError` if training sequences of ``max_length`` tokens overrun the model's positions."""
    if positions is not None and max_length > positions:
        raise FedMKTError(f"'{field}' is {max_length}, more than the {positions} positions of model {model!r}; "
                          f"expected at most {positions}")
