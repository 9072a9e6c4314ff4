"""acc / acc_norm / acc_pmi picks, and a model trained on the gold answers getting them right."""

from __future__ import annotations

import dataclasses

import pytest
from eval_fixtures import mc_examples, memorize, tiny_model

from fedmkt.errors import FedMKTError
from fedmkt.evaluation.multiple_choice import choice_length, pick, pick_pmi, score_multiple_choice


def test_choice_length_drops_only_the_delimiter_space():
    assert choice_length(" carbon dioxide") == len("carbon dioxide")
    assert choice_length("  two") == 4
    assert choice_length(" ") == 1  # never divide by zero


def test_acc_takes_the_raw_sum_and_acc_norm_the_per_character_mean():
    # -2 over 1 char is -2.0 per char; -3 over 10 chars is -0.3 per char.
    assert pick([-2.0, -3.0], [" a", " bbbbbbbbbb"]) == (0, 1)
    assert pick([-1.0, -1.0], [" a", " b"]) == (0, 0)  # ties go to the first choice


def test_acc_pmi_discounts_what_is_likely_after_the_premise_alone():
    # " yes" is likelier after the question (-1 against -2), but far likelier after "Answer:" alone
    # (-0.5 against -3): relative to its prior, " no" gained more from the question.
    assert pick_pmi([-1.0, -2.0], [-0.5, -3.0]) == 1
    assert pick_pmi([-1.0, -2.0], [-1.0, -1.0]) == 0  # a flat prior leaves the raw pick


@pytest.fixture(scope="module")
def trained(tokenizer):
    model = tiny_model("llama", len(tokenizer))
    texts = [ex.prompt + ex.choices[ex.gold] for ex in mc_examples()]
    return memorize(model, tokenizer, texts, steps=60)


@pytest.mark.parametrize("prefix_cache", [True, False])
def test_trained_model_picks_the_gold_choice(trained, tokenizer, prefix_cache):
    examples = mc_examples()
    scores = score_multiple_choice(trained, tokenizer, examples, batch_size=3, prefix_cache=prefix_cache)
    assert scores.acc == [1.0] * len(examples)
    assert scores.acc_norm == [1.0] * len(examples)
    assert scores.pred == [ex.gold for ex in examples]
    # mark a distractor as gold: the same predictions now count as wrong
    wrong = [dataclasses.replace(ex, gold=(ex.gold + 1) % len(ex.choices)) for ex in examples]
    again = score_multiple_choice(trained, tokenizer, wrong, prefix_cache=prefix_cache)
    assert again.acc == [0.0] * len(wrong)


def test_bad_gold_is_a_clear_error(tokenizer):
    model = tiny_model("gpt2", len(tokenizer))
    bad = dataclasses.replace(mc_examples()[0], gold=7)
    with pytest.raises(FedMKTError, match=r"example t/0: field 'gold' is 7; expected an index in \[0, 4\)"):
        score_multiple_choice(model, tokenizer, [bad])


@pytest.mark.parametrize("prefix_cache", [True, False])
def test_acc_pmi_subtracts_each_choices_score_after_the_premise_alone(trained, tokenizer, prefix_cache):
    examples = mc_examples()
    scores = score_multiple_choice(trained, tokenizer, examples, prefix_cache=prefix_cache, pmi_premise="Answer:")
    alone = score_multiple_choice(trained, tokenizer, [dataclasses.replace(ex, prompt="Answer:") for ex in examples],
                                  prefix_cache=prefix_cache)
    expected = [pick_pmi(ll, prior) for ll, prior in zip(scores.loglikelihoods, alone.loglikelihoods, strict=True)]
    assert scores.pred_pmi == expected
    assert scores.acc_pmi == [float(p == ex.gold) for p, ex in zip(expected, examples, strict=True)]
    assert score_multiple_choice(trained, tokenizer, examples).acc_pmi == []  # no premise: not scored
