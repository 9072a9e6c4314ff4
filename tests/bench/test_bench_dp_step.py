"""``fedmkt bench step --dp`` on a tiny model: a plain private step and a DP-SGD step, real, with JSON last."""

import json

import pytest
from typer.testing import CliRunner

pytest.importorskip("opacus")

from fedmkt.bench.dp_step import _dp_steps  # noqa: E402
from fedmkt.bench.step import few_shot_examples  # noqa: E402
from fedmkt.bench.step_commands import app  # noqa: E402
from fedmkt.data.tasks import get_task  # noqa: E402
from fedmkt.models.loading import load_model_and_tokenizer  # noqa: E402
from fedmkt.models.lora import attach_lora, get_adapter_state  # noqa: E402
from fedmkt.training.encode import encode_examples  # noqa: E402


def test_step_dp_prints_the_plain_and_dp_figures_and_json_last():
    result = CliRunner().invoke(app, ["step", "--dp", "--model", "tiny-gpt2-bpe", "--batch-size", "3", "--seq", "40",
                                      "--repeats", "2", "--noise-multiplier", "0.5", "--max-grad-norm", "0.1",
                                      "--json"])
    assert result.exit_code == 0, result.output
    assert "DP-SGD" in result.output and "plain SFT" in result.output
    figures = json.loads(result.output.strip().splitlines()[-1])
    assert (figures["batch"], figures["noise_multiplier"], figures["max_grad_norm"]) == (3, 0.5, 0.1)
    assert figures["seq"] <= 40 and figures["plain_seconds"] > 0 and figures["dp_seconds"] > 0
    assert figures["time_ratio"] == pytest.approx(figures["dp_seconds"] / figures["plain_seconds"])
    assert figures["memory_kind"] == "tensors_exact" and figures["dp_peak_bytes"] > figures["plain_peak_bytes"] > 0


def test_each_timed_dp_step_is_a_real_step_that_changes_the_adapter():
    base, tokenizer = load_model_and_tokenizer("tiny-gpt2-bpe")
    model = attach_lora(base, r=4, alpha=8, dropout=0.0)
    encoded = encode_examples(tokenizer, few_shot_examples(get_task("tiny_qa").load("train"), 3), 40)
    before = {k: v.clone() for k, v in get_adapter_state(model).items()}
    seconds = _dp_steps(model, encoded, tokenizer.pad_token_id, 3, noise=1.0, clip=1.0, seed=0)
    assert len(seconds) == 3 and all(s > 0 for s in seconds)
    assert any(not v.equal(before[k]) for k, v in get_adapter_state(model).items())
