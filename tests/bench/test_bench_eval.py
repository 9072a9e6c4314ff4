"""``fedmkt bench eval`` on a tiny model: the full-vocabulary reference agrees with ours exactly."""

import json

import pytest
from typer.testing import CliRunner

from fedmkt.bench.eval import full_vocab_logprobs
from fedmkt.bench.step_commands import app
from fedmkt.data.tasks import get_task
from fedmkt.evaluation.encoding import encode_choices
from fedmkt.evaluation.loglikelihood import full_sequence_logprobs
from fedmkt.models.loading import load_model_and_tokenizer

EVAL_KEYS = {"selected_seconds", "selected_cached_seconds", "full_vocab_seconds", "selected_time_ratio",
             "selected_cached_time_ratio", "selected_peak_bytes", "full_vocab_peak_bytes", "selected_accuracy",
             "selected_cached_accuracy", "full_vocab_accuracy", "identical_accuracy"}


def test_eval_command_prints_json_last_with_identical_accuracy():
    result = CliRunner().invoke(
        app, ["eval", "--model", "tiny-llama-unigram", "--task", "tiny_qa", "--n", "12", "--batch-size", "4",
              "--json"]
    )
    assert result.exit_code == 0, result.output
    figures = json.loads(result.output.strip().splitlines()[-1])
    assert EVAL_KEYS <= figures.keys()
    assert figures["n"] == 12
    assert figures["identical_accuracy"] is True
    assert figures["selected_accuracy"] == figures["selected_cached_accuracy"] == figures["full_vocab_accuracy"]


def test_full_vocab_logprobs_equal_selected_logits():
    model, tokenizer = load_model_and_tokenizer("tiny-gpt2-bpe")
    examples = get_task("tiny_qa").load("test")[:6]
    encoded = [encode_choices(tokenizer, ex.prompt, ex.choices) for ex in examples]
    contexts, choices = [c for c, _ in encoded], [cs for _, cs in encoded]
    ours = full_sequence_logprobs(model, contexts, choices, batch_size=4)
    reference = full_vocab_logprobs(model, contexts, choices, batch_size=4)
    for a, b in zip(ours, reference, strict=True):
        assert a == pytest.approx(b, abs=1e-4)
