"""``fedmkt bench precision`` on a tiny model, and the autocast switch it measures."""

import json

import torch
from typer.testing import CliRunner

from fedmkt.bench.commands import app
from fedmkt.models.loading import load_model_and_tokenizer
from fedmkt.models.precision import mixed_precision, resolve_autocast


def test_precision_command_prints_json_last():
    result = CliRunner().invoke(
        app, ["precision", "--model", "tiny-gpt2-bpe", "--n", "6", "--batch-size", "2", "--seq", "32", "--top-k", "8",
              "--repeats", "1", "--json"]
    )
    assert result.exit_code == 0, result.output
    figures = json.loads(result.output.strip().splitlines()[-1])
    assert figures["n"] == 6 and figures["batch"] == 2 and figures["seq"] <= 32
    assert figures["step_seconds_fp32"] > 0 and figures["step_seconds_autocast"] > 0
    assert figures["step_speedup"] == figures["step_seconds_fp32"] / figures["step_seconds_autocast"]
    assert 0 <= figures["prediction_agreement"] <= 100
    assert 0 <= figures["accuracy_fp32"] <= 100 and 0 <= figures["accuracy_autocast"] <= 100


def test_autocast_runs_linears_in_bf16_and_off_leaves_fp32():
    model, tokenizer = load_model_and_tokenizer("tiny-llama-bpe")
    ids = torch.tensor([tokenizer.encode("the cat sat")])
    with mixed_precision("bfloat16", "cpu") as dtype:
        assert dtype is torch.bfloat16
        assert model(input_ids=ids).logits.dtype is torch.bfloat16
    with mixed_precision("off", "cpu") as dtype:
        assert dtype is None
        assert model(input_ids=ids).logits.dtype is torch.float32
    assert next(model.parameters()).dtype is torch.float32  # weights are never cast


def test_auto_means_bf16_only_where_the_hardware_has_it():
    assert resolve_autocast("off", torch.device("cpu")) is None
    assert resolve_autocast("bfloat16", torch.device("cpu")) is torch.bfloat16
    assert resolve_autocast("auto", torch.device("meta")) is None
