"""``fedmkt align`` on two tokenizers trained in the test: coverage, sample, JSON map, cache."""

from __future__ import annotations

import json

import pytest
import typer
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast
from typer.testing import CliRunner

from fedmkt.commands.align import align
from fedmkt.errors import FedMKTError
from fedmkt.models.loading import load_tokenizer

TEXT = ["Question: Which gas do plants absorb?\nAnswer: carbon dioxide", "The sun heats the earth."] * 20


def _save(tmp_path, name, model, pre_tokenizer, decoder, trainer):
    tok = Tokenizer(model)
    tok.pre_tokenizer, tok.decoder = pre_tokenizer, decoder
    tok.train_from_iterator(TEXT, trainer)
    folder = tmp_path / name
    PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="</s>").save_pretrained(folder)
    return folder


@pytest.fixture()
def folders(tmp_path, monkeypatch):
    monkeypatch.setenv("FEDMKT_HOME", str(tmp_path / "home"))
    bpe = _save(
        tmp_path,
        "bpe",
        models.BPE(),
        pre_tokenizers.ByteLevel(add_prefix_space=False),
        decoders.ByteLevel(),
        trainers.BpeTrainer(
            vocab_size=300, special_tokens=["</s>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
        ),
    )
    unigram = _save(
        tmp_path,
        "unigram",
        models.Unigram(),
        pre_tokenizers.Metaspace(),
        decoders.Metaspace(),
        trainers.UnigramTrainer(vocab_size=120, special_tokens=["</s>", "<unk>"], unk_token="<unk>"),
    )
    return bpe, unigram


def _run(*args: str):
    app = typer.Typer()
    app.command()(align)
    return CliRunner().invoke(app, list(args), catch_exceptions=False)


def test_align_prints_coverage_and_writes_json(folders, tmp_path):
    bpe, unigram = folders
    out = tmp_path / "map.json"
    result = _run("--model-a", str(bpe), "--model-b", str(unigram), "--out", str(out), "--samples", "4")
    assert result.exit_code == 0, result.output
    assert "built in" in result.output and "exact" in result.output and "mean" in result.output
    pairs = json.loads(out.read_text(encoding="utf-8"))
    assert pairs["</s>"] == "</s>" and pairs["Ġ"] == "▁" and pairs["Ġd"] == "▁d"
    assert len(pairs) == len(load_tokenizer(str(bpe)))
    again = _run("--model-a", str(bpe), "--model-b", str(unigram))
    assert again.exit_code == 0 and "loaded from cache" in again.output


def test_unknown_models_fail_with_one_clear_line(monkeypatch, tmp_path):
    monkeypatch.setenv("FEDMKT_HOME", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(FedMKTError, match="gemma3-270m") as info:
        load_tokenizer("no-such-model")
    assert "\n" not in str(info.value)


def test_tiny_model_names_work_too(tmp_path, monkeypatch):
    monkeypatch.setenv("FEDMKT_HOME", str(tmp_path))
    result = _run("--model-a", "tiny-gpt2-bpe", "--model-b", "tiny-llama-unigram", "--samples", "2")
    assert result.exit_code == 0, result.output
    assert "exact" in result.output
