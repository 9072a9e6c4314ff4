"""Config-against-model checks: top_k must fit every vocabulary; broken tokenizers stop the run early."""

import pytest

from fedmkt.errors import FedMKTError
from fedmkt.models.checks import check_max_length, check_top_k, context_length, load_tokenizers, vocabulary_sizes
from fedmkt.models.tiny import build_tiny_model, build_tiny_tokenizer


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


def test_load_tokenizers_loads_each_model_once_and_names_a_broken_one():
    tokenizers = load_tokenizers(["tiny-gpt2-bpe", "tiny-llama-unigram", "tiny-gpt2-bpe"])
    assert list(tokenizers) == ["tiny-gpt2-bpe", "tiny-llama-unigram"]
    assert tokenizers["tiny-gpt2-bpe"]("a cat")["input_ids"]
    with pytest.raises(FedMKTError, match="tiny model 'tiny-nope-bpe': unknown architecture"):
        load_tokenizers(["tiny-gpt2-bpe", "tiny-nope-bpe"])


def test_context_length_is_what_evaluation_reads_from_the_model(tmp_path):
    """Read from the config alone; the same number as the loaded model's max_position_embeddings."""
    model, tokenizer = build_tiny_model("tiny-opt-bpe", seed=0)
    assert context_length("tiny-opt-bpe") == model.config.max_position_embeddings
    model.config.max_position_embeddings = 96
    model.save_pretrained(tmp_path / "m")
    tokenizer.save_pretrained(tmp_path / "m")
    assert context_length(str(tmp_path / "m")) == 96
    (tmp_path / "m" / "config.json").write_text("{not json")
    with pytest.raises(FedMKTError, match="cannot read its config.json"):
        context_length(str(tmp_path / "m"))


def test_max_length_past_the_positions_names_the_field():
    check_max_length(96, 96, "m", "server.train.max_length")  # equal fits
    check_max_length(10**6, None, "m", "server.train.max_length")  # no limit known: nothing to check
    with pytest.raises(FedMKTError) as caught:
        check_max_length(97, 96, "m", "clients[1].train.max_length")
    assert str(caught.value) == "'clients[1].train.max_length' is 97, more than the 96 positions of model 'm'; " \
                                "expected at most 96"
