"""The one entry point: dispatch, percentages, n, intervals, progress, train mode restored."""

from __future__ import annotations

import dataclasses

import pytest
from eval_fixtures import QUESTIONS, mc_examples, memorize, tiny_model

from fedmkt.data.example import Example
from fedmkt.errors import FedMKTError
from fedmkt.evaluation import EvalResult, evaluate


@pytest.fixture(scope="module")
def trained(tokenizer):
    model = tiny_model("gpt2", len(tokenizer))
    texts = [ex.prompt + ex.choices[ex.gold] + "\n" for ex in mc_examples()]
    return memorize(model, tokenizer, texts, steps=60)


def test_multiple_choice_result(trained, tokenizer):
    examples = mc_examples()
    # the last two examples name a distractor as gold: acc = 5/7
    examples[-2:] = [dataclasses.replace(ex, gold=(ex.gold + 1) % len(ex.choices)) for ex in examples[-2:]]
    trained.train()
    seen: list[int] = []
    result = evaluate(trained, tokenizer, examples, batch_size=3, progress=seen.append)
    assert isinstance(result, EvalResult)
    assert trained.training  # mode restored
    assert result.metric == "acc" and result.n == len(examples) == sum(seen)
    assert result.scores == [100.0] * 5 + [0.0] * 2
    assert result.value == pytest.approx(500.0 / 7)
    assert result.ci_low <= result.value <= result.ci_high
    assert result.extra["acc_norm"] == pytest.approx(500.0 / 7)
    assert result.extra["acc_norm_ci_low"] <= result.extra["acc_norm"] <= result.extra["acc_norm_ci_high"]
    assert "acc_pmi" not in result.extra  # only with a premise
    with_pmi = evaluate(trained, tokenizer, examples, batch_size=3, pmi_premise="Answer:")
    assert with_pmi.scores == result.scores and with_pmi.extra["acc_norm"] == result.extra["acc_norm"]
    assert with_pmi.extra["acc_pmi_ci_low"] <= with_pmi.extra["acc_pmi"] <= with_pmi.extra["acc_pmi_ci_high"]
    assert result.predictions == [ex.choices[g] for ex, (_, _, g) in zip(examples, QUESTIONS, strict=True)]
    assert result.uids == [ex.uid for ex in examples]
    same = evaluate(trained, tokenizer, examples, batch_size=1, prefix_cache=False)
    assert same.scores == result.scores and (same.ci_low, same.ci_high) == (result.ci_low, result.ci_high)


def test_generation_result(trained, tokenizer):
    examples = [Example(uid=f"g/{i}", prompt=ex.prompt, target=ex.choices[ex.gold])
                for i, ex in enumerate(mc_examples())]
    result = evaluate(trained, tokenizer, examples, max_new_tokens=16, batch_size=4)
    assert result.metric == "rougeL" and result.n == len(examples) and result.extra == {}
    assert result.predictions == [ex.target.strip() for ex in examples]
    assert result.value == pytest.approx(100.0)


def test_bad_inputs_are_clear_errors(tokenizer):
    model = tiny_model("gpt2", len(tokenizer))
    mixed = [mc_examples()[0], Example(uid="g", prompt="Q:", target=" a")]
    with pytest.raises(FedMKTError, match="mix multiple choice and generation"):
        evaluate(model, tokenizer, mixed)
    with pytest.raises(FedMKTError, match="empty"):
        evaluate(model, tokenizer, [])


def test_prompts_longer_than_the_model_are_cut_not_a_crash(trained, tokenizer):
    """gpt2 has learned position embeddings: indexing past them fails, so the context is cut from the left."""
    examples = mc_examples()
    padded = [dataclasses.replace(ex, prompt="filler words here. " * 20 + ex.prompt) for ex in examples]
    short = evaluate(trained, tokenizer, examples, batch_size=4, n_bootstrap=100)
    limit = max(len(tokenizer(ex.prompt + max(ex.choices, key=len))["input_ids"]) for ex in examples) + 2
    cut = evaluate(trained, tokenizer, padded, batch_size=4, n_bootstrap=100, max_length=limit)
    assert cut.n == short.n
    assert cut.value == short.value  # the filler is what gets cut; the question next to the answer stays
