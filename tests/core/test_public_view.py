"""PublicView: the public set under one tokenizer; its answer positions are the batched ones (with kd_positions
all: every position a real token follows); uids key the messages, so they must be unique."""

from __future__ import annotations

import pytest
from roles_fixtures import MAX_LENGTH, lora_model, tiny_qa_split

from fedmkt.core.public_view import PublicView
from fedmkt.errors import FedMKTError
from fedmkt.training.batching import collate, pad_id
from fedmkt.training.sft import answer_positions, prediction_positions


def test_positions_are_the_batched_answer_positions():
    public = tiny_qa_split()[0]
    _, tokenizer = lora_model("tiny-gpt2-bpe", 0)
    view = PublicView(tokenizer, public, MAX_LENGTH)
    mask = answer_positions(collate(view.encoded, pad_id(tokenizer))["labels"])
    for row, positions in enumerate(view.positions):
        assert positions.tolist() == mask[row].nonzero().flatten().tolist()
        assert view.ids[row].tolist() == list(view.encoded[row].input_ids)
    assert view.expected_positions() == {uid: int(m.sum()) for uid, m in zip(view.uids, mask, strict=True)}
    assert view.index_of(public[5].uid) == 5 and view.encoded[5].index == 5


def test_duplicate_public_uids_are_refused():
    public = tiny_qa_split()[0]
    model, tokenizer = lora_model("tiny-gpt2-bpe", 0)
    with pytest.raises(FedMKTError, match="uids must be unique"):
        PublicView(tokenizer, [public[0], public[1], public[0]], MAX_LENGTH)


def test_all_positions_are_every_batched_position_a_real_token_follows():
    public = tiny_qa_split()[0]
    _, tokenizer = lora_model("tiny-gpt2-bpe", 0)
    answer, every = PublicView(tokenizer, public, MAX_LENGTH), PublicView(tokenizer, public, MAX_LENGTH, "all")
    batch = collate(every.encoded, pad_id(tokenizer))
    mask = prediction_positions(batch["attention_mask"])
    assert (batch["attention_mask"] == 0).any(), "padded rows"
    for row, positions in enumerate(every.positions):
        assert positions.tolist() == mask[row].nonzero().flatten().tolist() == list(range(len(every.ids[row]) - 1))
        assert every.positions[row][every.answer_rows[row]].tolist() == answer.positions[row].tolist()
        assert answer.answer_rows[row].tolist() == list(range(answer.positions[row].size))
    assert every.expected_positions() == {uid: len(ids) - 1 for uid, ids in zip(every.uids, every.ids, strict=True)}
    with pytest.raises(FedMKTError, match="kd_positions must be 'answer' or 'all', got 'prompt'"):
        PublicView(tokenizer, public, MAX_LENGTH, "prompt")  # type: ignore[arg-type]
