"""Hub-only tasks: offline they fail with one line naming the dataset; rows convert as documented."""

from __future__ import annotations

import pytest

from fedmkt.data.tasks import get_task
from fedmkt.data.tasks.hub import dialogsum_example, wic_example
from fedmkt.errors import FedMKTError


@pytest.mark.parametrize(
    ("name", "hub_name"),
    [("wic", "aps/super_glue"), ("dialogsum", "knkarthick/dialogsum"),
     ("super_natural_instructions", "Muennighoff/natural-instructions")],
)  # fmt: skip
def test_offline_load_is_a_one_line_error_naming_the_dataset(name, hub_name, tmp_path, monkeypatch):
    import datasets

    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)  # conftest also sets HF_HUB_OFFLINE=1
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path)  # nothing cached from earlier runs
    task = get_task(name)
    with pytest.raises(FedMKTError) as info:
        task.load(task.train_split)
    message = str(info.value)
    assert "\n" not in message
    assert f"task {name!r} needs the Hugging Face hub" in message and repr(hub_name) in message


def test_wic_rows_use_the_word_as_it_appears_in_the_first_sentence():
    row = {"word": "bank", "sentence1": "He sat on the Bank.", "sentence2": "The bank was closed.",
           "start1": 14, "end1": 18, "start2": 4, "end2": 8, "idx": 5, "label": 0}  # fmt: skip
    e = wic_example(row, "train")
    assert e.prompt == (
        "Sentence 1: He sat on the Bank.\nSentence 2: The bank was closed.\n"
        "Question: Is the word 'Bank' used in the same way in the two sentences above?\nAnswer:"
    )
    assert (e.uid, e.choices, e.gold, e.target, e.group) == ("wic/train/5", (" no", " yes"), 0, " no", "no")


def test_dialogsum_rows_use_every_summary_as_a_reference():
    row = {
        "id": "test_1",
        "dialogue": "#Person1#: Hi.\n#Person2#: Hello.",
        "topic": "Greeting",
        "summary1": "Two people greet.",
        "summary2": "They say hi.",
        "summary3": "Two people greet.",
    }
    e = dialogsum_example(row, "test")
    assert e.prompt == "Summarize the following dialogue.\n\n#Person1#: Hi.\n#Person2#: Hello.\nSummary:"
    assert e.references == ("Two people greet.", "They say hi.") and e.target == " Two people greet."
    assert (e.uid, e.group) == ("dialogsum/test/test_1", "greeting")


def test_dialogsum_rows_of_one_dialogue_pool_their_summaries(monkeypatch):
    from fedmkt.data.tasks import hub

    rows = [
        {"id": "test_0_1", "dialogue": "#Person1#: Hi.", "summary": "A greets.", "topic": "hi"},
        {"id": "test_0_2", "dialogue": "#Person1#: Hi. ", "summary": "Someone says hi.", "topic": "hi"},
        {"id": "test_1_1", "dialogue": "#Person1#: Bye.", "summary": "A leaves.", "topic": "bye"},
    ]
    monkeypatch.setattr(hub, "load_hub_split", lambda task, path, config, split: rows)
    first, second = hub.load_dialogsum("test")
    assert (first.uid, first.references) == ("dialogsum/test/test_0_1", ("A greets.", "Someone says hi."))
    assert (second.uid, second.references) == ("dialogsum/test/test_1_1", ("A leaves.",))


def test_sni_keeps_the_first_instances_of_each_task(monkeypatch):
    from datasets import Dataset

    from fedmkt.data.tasks import hub

    table = Dataset.from_dict(
        {
            "task_name": ["task001_a"] * 3 + ["task002_b"] * 2,
            "id": [f"task{t}-{i}" for t, i in [("001", 0), ("001", 1), ("001", 2), ("002", 0), ("002", 1)]],
            "definition": ["Do A."] * 3 + ["Do B."] * 2,
            "inputs": ["x0", "x1", "x2", "y0", "y1"],
            "targets": ["A0", "A1", "A2", "B0", ""],
        }
    )
    monkeypatch.setattr(hub, "load_hub_split", lambda task, path, config, split: table)
    examples = hub.load_sni("train", max_per_task=2)
    assert [e.uid for e in examples] == [
        "super_natural_instructions/train/task001-0",
        "super_natural_instructions/train/task001-1",
        "super_natural_instructions/train/task002-0",  # task002-1 has no target
    ]
    assert examples[0].prompt == "Do A.\n\nInput: x0\nOutput:"
    assert (examples[0].target, examples[0].references, examples[0].group) == (" A0", ("A0",), "task001_a")
