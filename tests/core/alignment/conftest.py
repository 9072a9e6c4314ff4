"""Session fixtures: one trained tokenizer of each kind (see ``tokenizer_kinds``)."""

from __future__ import annotations

import pytest
from transformers import PreTrainedTokenizerFast

from fedmkt.core.alignment import TokenSurfaces, token_surfaces

from .tokenizer_kinds import KINDS


@pytest.fixture(scope="session")
def tokenizers_by_kind() -> dict[str, PreTrainedTokenizerFast]:
    return {name: build() for name, build in KINDS.items()}


@pytest.fixture(scope="session")
def surfaces_by_kind(tokenizers_by_kind: dict[str, PreTrainedTokenizerFast]) -> dict[str, TokenSurfaces]:
    return {name: token_surfaces(tok) for name, tok in tokenizers_by_kind.items()}
