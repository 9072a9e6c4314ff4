"""Session fixtures for the evaluation tests; the builders live in ``eval_fixtures``."""

from __future__ import annotations

import pytest
from eval_fixtures import train_tokenizer
from transformers import PreTrainedTokenizerFast


@pytest.fixture(scope="session")
def tokenizer() -> PreTrainedTokenizerFast:
    return train_tokenizer()


@pytest.fixture(scope="session")
def bos_tokenizer() -> PreTrainedTokenizerFast:
    """Prepends ``<s>`` like Gemma's tokenizer does."""
    return train_tokenizer(add_bos=True)
