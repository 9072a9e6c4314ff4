"""Tiny models: every arch x tokenizer builds, tokenizers behave like real ones, builds are deterministic."""

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from transformers import AutoTokenizer

from fedmkt.errors import FedMKTError
from fedmkt.models import tiny
from fedmkt.models.tiny import (
    TINY_ARCHS,
    TINY_TOKENIZERS,
    build_tiny_model,
    build_tiny_tokenizer,
    parse_tiny_name,
)

TEXT = "Question: What is 3 plus 14?\nAnswer: 17. The water boils at 100 degrees, said Emma!"
ONE_LINE = "Question: What is 3 plus 14? Answer: 17. Reverse the word apple: elppa (it's easy)."


@pytest.mark.parametrize("arch", TINY_ARCHS)
@pytest.mark.parametrize("kind", TINY_TOKENIZERS)
def test_every_arch_and_tokenizer_builds_and_runs(arch, kind):
    model, tok = build_tiny_model(f"tiny-{arch}-{kind}", seed=0)
    ids = torch.tensor([tok(TEXT)["input_ids"]])
    with torch.no_grad():
        logits = model(input_ids=ids).logits
    assert not model.training
    assert logits.shape == (1, ids.shape[1], len(tok))
    assert torch.isfinite(logits).all()
    assert model.config.eos_token_id == tok.eos_token_id and model.config.pad_token_id == tok.pad_token_id
    assert sum(p.numel() for p in model.parameters()) < 400_000


@pytest.mark.parametrize("kind", TINY_TOKENIZERS)
def test_tokenizers_round_trip_and_have_all_special_tokens(kind):
    tok = build_tiny_tokenizer(kind)
    text = ONE_LINE if kind == "wordpiece" else TEXT  # WordPiece, like BERT, keeps no newlines
    ids = tok(text)["input_ids"]
    assert tok.decode(ids, skip_special_tokens=True) == text
    assert tok.unk_token_id not in ids
    for role in ("bos_token_id", "eos_token_id", "pad_token_id", "unk_token_id"):
        assert getattr(tok, role) is not None
    assert tok.pad_token_id != tok.eos_token_id
    assert 500 <= len(tok) <= 2000


def test_tokenizer_kinds_use_their_markers():
    pieces = {kind: build_tiny_tokenizer(kind).tokenize(" water boils") for kind in TINY_TOKENIZERS}
    assert pieces["bpe"][0] == "Ġwater"
    assert pieces["unigram"][0] == "▁water"
    assert any(p.startswith("##") for p in build_tiny_tokenizer("wordpiece").tokenize("boils"))
    unigram, bpe = build_tiny_tokenizer("unigram"), build_tiny_tokenizer("bpe")
    assert unigram("x")["input_ids"][0] == unigram.bos_token_id  # Gemma/LLaMA-like: bos prepended
    assert bpe("x")["input_ids"][0] != bpe.bos_token_id  # GPT-2-like: nothing prepended


def test_unigram_falls_back_to_bytes_for_unseen_characters():
    tok = build_tiny_tokenizer("unigram")
    text = "Tea costs 3 € in 東京"
    ids = tok(text, add_special_tokens=False)["input_ids"]
    assert tok.unk_token_id not in ids
    assert "<0xE2>" in tok.convert_ids_to_tokens(ids)  # first byte of "€"
    assert tok.decode(ids) == text


@pytest.mark.parametrize("kind", TINY_TOKENIZERS)
def test_tokenizer_saves_and_reloads_with_auto_tokenizer(kind, tmp_path):
    tok = build_tiny_tokenizer(kind)
    tok.save_pretrained(tmp_path)
    again = AutoTokenizer.from_pretrained(tmp_path)
    assert again(TEXT)["input_ids"] == tok(TEXT)["input_ids"]
    assert (again.bos_token, again.eos_token, again.pad_token, again.unk_token) == (
        tok.bos_token, tok.eos_token, tok.pad_token, tok.unk_token)


def test_tokenizer_wrappers_are_independent_but_training_is_cached():
    a, b = build_tiny_tokenizer("bpe"), build_tiny_tokenizer("bpe")
    a.padding_side = "left"
    assert b.padding_side == "right"
    assert tiny._trained.cache_info().hits > 0


_FINGERPRINT = (
    "import hashlib; from fedmkt.models.tiny import build_tiny_tokenizer as b; "
    "print(*(hashlib.sha256(b(k).backend_tokenizer.to_str().encode()).hexdigest() for k in {kinds!r}))"
)


def test_tokenizer_training_is_identical_in_another_process():
    # Trainers keep state in hash maps seeded per process; a second process is the real check.
    code = _FINGERPRINT.format(kinds=TINY_TOKENIZERS)
    env = {**os.environ, "PYTHONPATH": str(Path(tiny.__file__).parents[2])}
    here = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          env=env).stdout.split()
    mine = [hashlib.sha256(build_tiny_tokenizer(k).backend_tokenizer.to_str().encode()).hexdigest()
            for k in TINY_TOKENIZERS]
    assert here == mine


def test_same_name_and_seed_give_same_weights_and_leave_global_rng_alone():
    state = torch.get_rng_state()
    m1, _ = build_tiny_model("tiny-llama-unigram", seed=3)
    m2, _ = build_tiny_model("tiny-llama-unigram", seed=3)
    m3, _ = build_tiny_model("tiny-llama-unigram", seed=4)
    assert torch.equal(torch.get_rng_state(), state)
    s1, s2, s3 = m1.state_dict(), m2.state_dict(), m3.state_dict()
    assert all(torch.equal(s1[k], s2[k]) for k in s1)
    assert not all(torch.equal(s1[k], s3[k]) for k in s1)


def test_size_m_is_larger_than_default():
    small, _ = build_tiny_model("tiny-llama-unigram")
    medium, _ = build_tiny_model("tiny-llama-unigram-m")
    assert sum(p.numel() for p in medium.parameters()) > sum(p.numel() for p in small.parameters())
    assert parse_tiny_name("tiny-llama-unigram-m").name == "tiny-llama-unigram-m"
    assert parse_tiny_name("tiny-gpt2-bpe").size == "s"


@pytest.mark.parametrize("name", ["tiny-llama", "tiny-mamba-bpe", "tiny-gpt2-spm", "tiny-gpt2-bpe-xl"])
def test_bad_tiny_names_raise_one_line_errors(name):
    with pytest.raises(FedMKTError, match="tiny"):
        build_tiny_model(name)
