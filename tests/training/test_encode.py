"""Encoding: prompt tokens are masked, the answer (+ eos) is labelled and survives truncation."""

import pytest

from fedmkt.data.example import Example
from fedmkt.errors import FedMKTError
from fedmkt.models.tiny import TINY_TOKENIZERS, build_tiny_tokenizer
from fedmkt.training.encode import IGNORE_INDEX, encode_example, encode_examples

EX = Example("t/1", "Question: What is 3 plus 4?\nAnswer:", " 7")
FILLER = "The water boils at one hundred degrees. " * 20
LONG = Example("t/2", f"Question: {FILLER}What is 12 plus 5?\nAnswer:", " 17")


def _answer(tok, enc):
    return [t for t in enc.labels if t != IGNORE_INDEX]


@pytest.mark.parametrize("kind", TINY_TOKENIZERS)
def test_prompt_is_masked_and_answer_plus_eos_labelled(kind):
    tok = build_tiny_tokenizer(kind)
    enc = encode_example(tok, EX, max_length=64, index=3)
    assert enc.index == 3 and len(enc.labels) == len(enc.input_ids)
    answer = _answer(tok, enc)
    assert answer[-1] == tok.eos_token_id
    assert tok.decode(answer[:-1]).strip() == "7"
    n_context = len(enc.input_ids) - len(answer)
    assert all(label == IGNORE_INDEX for label in enc.labels[:n_context])
    assert list(enc.input_ids[n_context:]) == answer  # labels are the ids themselves, not shifted
    assert tok.decode(enc.input_ids[:n_context], skip_special_tokens=True) == EX.prompt.replace(
        "\n", " " if kind == "wordpiece" else "\n")


@pytest.mark.parametrize("kind", TINY_TOKENIZERS)
def test_long_prompt_is_cut_on_the_left_and_answer_kept(kind):
    tok = build_tiny_tokenizer(kind)
    full = encode_example(tok, LONG, max_length=1000)
    cut = encode_example(tok, LONG, max_length=16)
    assert len(full) > 16 and len(cut) == 16
    assert _answer(tok, cut) == _answer(tok, full)
    if kind == "unigram":  # the tokenizer's <bos> stays first
        assert cut.input_ids[0] == tok.bos_token_id
    assert tok.decode(cut.input_ids, skip_special_tokens=True).endswith("12 plus 5? Answer: 17".replace(
        "? Answer", "?\nAnswer" if kind != "wordpiece" else "? Answer"))


def test_answer_longer_than_max_length_keeps_its_start_and_drops_eos():
    tok = build_tiny_tokenizer("bpe")
    ex = Example("t/3", "Question: Say it.\nAnswer:", " one two three four five six seven eight nine ten")
    enc = encode_example(tok, ex, max_length=5)
    assert len(enc) == 5 and enc.labels[0] == IGNORE_INDEX
    answer = _answer(tok, enc)
    assert len(answer) == 4 and tok.eos_token_id not in answer
    assert tok.decode(answer).startswith(" one two")


def test_bad_examples_are_clear_errors():
    tok = build_tiny_tokenizer("bpe")
    with pytest.raises(FedMKTError, match="target is empty"):
        encode_example(tok, Example("t/4", "Question: x", ""), 32)
    with pytest.raises(FedMKTError, match="prompt is empty"):
        encode_example(tok, Example("t/5", "", " 7"), 32)


def test_encode_examples_numbers_them():
    tok = build_tiny_tokenizer("unigram")
    encoded = encode_examples(tok, [EX, LONG, EX], max_length=32)
    assert [e.index for e in encoded] == [0, 1, 2]
    assert encoded[0] == encode_example(tok, EX, 32, index=0)
