"""Checks of a config against the models it names, done once before any training.

Some settings can only be judged once the models are known: ``fedmkt.top_k`` larger than a
participant's vocabulary asks for more distribution entries than that model has tokens. The
message code would quietly send vocabulary-wide rows instead (``fedmkt.core.messages``); a
config asking for that is a mistake, so it stops the run with one line, before hours of
baselines, rather than after them. Tokenizers alone are loaded (no weights), so the check
costs seconds; it also surfaces a broken tokenizer (no vocabulary, no tokenizer files) up front.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from fedmkt.errors import FedMKTError
from fedmkt.models.loading import load_tokenizer


def vocabulary_sizes(models: Iterable[str]) -> dict[str, int]:
    """model name -> number of tokens its tokenizer knows (``len(tokenizer)``, added tokens included)."""
    return {name: len(load_tokenizer(name)) for name in dict.fromkeys(models)}


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


def check_models_fit(top_k: int, models: Iterable[str], *, exchanges_distributions: bool = True) -> dict[str, int]:
    """Load every model's tokenizer once (one-line errors for broken ones) and check ``top_k`` against them.

    ``exchanges_distributions``: whether the run's methods send top-k distributions at all
    (baselines and plain FedAvg do not, so ``top_k`` is then irrelevant and not checked).
    Returns the vocabulary sizes.
    """
    sizes = vocabulary_sizes(models)
    if exchanges_distributions:
        check_top_k(top_k, sizes)
    return sizes
