"""Config-against-model checks: top_k must fit every vocabulary; broken tokenizers stop the run early."""

import pytest

from fedmkt.errors import FedMKTError
from fedmkt.models.checks import check_models_fit, check_top_k, vocabulary_sizes
from fedmkt.models.tiny import build_tiny_tokenizer


def test_vocabulary_sizes_are_the_tokenizers_lengths():
    sizes = vocabulary_sizes(["tiny-gpt2-bpe", "tiny-qwen2-wordpiece", "tiny-gpt2-bpe"])
    assert sizes == {"tiny-gpt2-bpe": len(build_tiny_tokenizer("bpe")),
                     "tiny-qwen2-wordpiece": len(build_tiny_tokenizer("wordpiece"))}


def test_top_k_larger_than_the_smallest_vocabulary_names_the_field_and_the_model():
    sizes = vocabulary_sizes(["tiny-llama-unigram", "tiny-qwen2-wordpiece"])
    smallest = sizes["tiny-qwen2-wordpiece"]
    assert smallest < sizes["tiny-llama-unigram"]
    check_top_k(smallest, sizes)  # equal is fine: the whole distribution
    with pytest.raises(FedMKTError) as caught:
        check_top_k(smallest + 1, sizes)
    assert str(caught.value) == (f"'fedmkt.top_k' is {smallest + 1}, larger than the vocabulary of model "
                                 f"'tiny-qwen2-wordpiece' ({smallest} tokens); expected at most {smallest}")


def test_check_models_fit_skips_top_k_when_nothing_is_exchanged():
    models = ["tiny-llama-unigram", "tiny-gpt2-bpe"]
    assert check_models_fit(10**6, models, exchanges_distributions=False)["tiny-gpt2-bpe"] > 0
    with pytest.raises(FedMKTError, match="'fedmkt.top_k' is 1000000"):
        check_models_fit(10**6, models)
    with pytest.raises(FedMKTError, match="tiny model 'tiny-nope-bpe': unknown architecture"):
        check_models_fit(8, ["tiny-nope-bpe"])
