"""Context/continuation ids are cut the way lm-evaluation-harness cuts them."""

from __future__ import annotations

import pytest
from tokenizers import Tokenizer, models
from transformers import PreTrainedTokenizerFast

from fedmkt.errors import FedMKTError
from fedmkt.evaluation.encoding import encode_choices, encode_prompt, pad_batch, prefix_ids

PROMPT = "Question: Which gas do plants absorb?\nAnswer:"
CHOICES = (" carbon dioxide", " oxygen", " helium")


def test_bos_follows_the_tokenizer(tokenizer, bos_tokenizer):
    assert prefix_ids(tokenizer) == []
    assert prefix_ids(bos_tokenizer) == [bos_tokenizer.bos_token_id]
    assert encode_prompt(bos_tokenizer, PROMPT) == bos_tokenizer(PROMPT)["input_ids"]
    assert encode_prompt(tokenizer, PROMPT) == tokenizer(PROMPT)["input_ids"]


@pytest.mark.parametrize("fixture", ["tokenizer", "bos_tokenizer"])
def test_split_at_prompt_boundary_of_the_whole_encoding(fixture, request):
    tok = request.getfixturevalue(fixture)
    context, conts = encode_choices(tok, PROMPT, CHOICES)
    assert context == tok(PROMPT)["input_ids"]
    for choice, cont in zip(CHOICES, conts, strict=True):
        assert context + cont == tok(PROMPT + choice)["input_ids"]
        assert tok.decode(cont) == choice


def test_trailing_prompt_space_moves_to_the_choice(tokenizer):
    context, conts = encode_choices(tokenizer, "Answer: ", ["ice", "fog"])
    assert context == tokenizer("Answer:")["input_ids"]
    assert [tokenizer.decode(c) for c in conts] == [" ice", " fog"]


def test_merge_across_boundary_keeps_one_shared_context():
    # "c" + "d" merges into "cd": the prompt's last token fuses with choice 0 but not choice 1.
    vocab = {"<s>": 0, "</s>": 1, "a": 2, "b": 3, "c": 4, "d": 5, "e": 6, "cd": 7}
    bpe = Tokenizer(models.BPE(vocab=vocab, merges=[("c", "d")]))
    tok = PreTrainedTokenizerFast(tokenizer_object=bpe, bos_token="<s>", eos_token="</s>")
    context, conts = encode_choices(tok, "abc", ["d", "e"])
    assert context == [2, 3]  # "ab": the longest prefix every whole encoding shares
    assert conts == [[7], [4, 6]]  # "cd" and "c e": true pieces of each whole-string encoding
    context, conts = encode_choices(tok, "c", ["d"])
    assert context == [0] and conts == [[7]]  # nothing shared: condition on BOS, as lm-eval does


def test_empty_choice_is_a_clear_error(tokenizer):
    with pytest.raises(FedMKTError, match="example q1: choice 1"):
        encode_choices(tokenizer, PROMPT, [" oxygen", ""], uid="q1")


def test_pad_batch_sides():
    ids, mask = pad_batch([[5, 6, 7], [8]], left=True)
    assert ids.tolist() == [[5, 6, 7], [0, 0, 8]] and mask.tolist() == [[1, 1, 1], [0, 0, 1]]
    ids, mask = pad_batch([[5, 6, 7], [8]], left=False)
    assert ids.tolist() == [[5, 6, 7], [8, 0, 0]] and mask.tolist() == [[1, 1, 1], [1, 0, 0]]


@pytest.mark.parametrize("fixture", ["tokenizer", "bos_tokenizer"])
def test_a_prompt_too_long_for_the_model_loses_its_oldest_tokens_and_keeps_bos(fixture, request):
    tok = request.getfixturevalue(fixture)
    long_prompt = "Background: " + "plants grow and " * 40 + PROMPT
    full, conts = encode_choices(tok, long_prompt, CHOICES)
    longest = max(len(c) for c in conts)
    limit = len(full) // 2 + longest
    cut, cut_conts = encode_choices(tok, long_prompt, CHOICES, max_length=limit)
    assert cut_conts == conts  # continuations are never cut
    assert len(cut) + longest == limit
    keep = len(prefix_ids(tok))
    assert cut[:keep] == full[:keep] and cut[keep:] == full[len(full) - (len(cut) - keep):]
    assert encode_choices(tok, PROMPT, CHOICES, max_length=limit)[0] == encode_choices(tok, PROMPT, CHOICES)[0]


def test_generation_prompts_leave_room_for_the_new_tokens(bos_tokenizer):
    long_prompt = "plants grow and " * 40 + PROMPT
    ids = encode_prompt(bos_tokenizer, long_prompt, max_length=30, new_tokens=10)
    assert len(ids) == 20 and ids[0] == bos_tokenizer.bos_token_id
    assert ids[1:] == encode_prompt(bos_tokenizer, long_prompt)[-19:]


def test_a_continuation_longer_than_the_model_is_a_clear_error(tokenizer):
    with pytest.raises(FedMKTError, match="no room"):
        encode_choices(tokenizer, PROMPT, CHOICES, max_length=2, uid="q7")
