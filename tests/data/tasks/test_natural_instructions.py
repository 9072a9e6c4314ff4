"""Natural-Instructions v1: instruction + input prompt, all outputs as references, a fixed hash split."""

from __future__ import annotations

import pytest

from fedmkt.data.tasks import get_task
from fedmkt.data.tasks.natural_instructions import format_ni, split_of


def subtask(prefix: str, n: int) -> dict:
    examples = [
        {"input": f"Sentence {i}.", "target": [f"Answer {i}.", f" Answer {i}. ", "alt"]} for i in range(n)
    ]
    examples.append({"input": "no output", "target": [""]})  # dropped: nothing to learn or score
    return {"name": "x", "description": "short", "task_prefix": prefix, "examples": examples}


def test_prompts_references_groups_and_split(write_bigbench_task):
    write_bigbench_task("natural_instructions/subtask001_a", subtask("Definition: do A. Prompt: A it.", 300))
    write_bigbench_task("natural_instructions/subtask002_b", subtask("Definition: do B.", 100))
    task = get_task("natural_instructions")
    train, test = task.load("train"), task.load("test")
    assert len(train) + len(test) == 400
    assert 10 <= len(test) <= 80  # about a tenth
    assert not {e.uid for e in train} & {e.uid for e in test}
    assert all(split_of(e.uid) == "test" for e in test)
    e = next(e for e in train + test if e.uid == "natural_instructions/subtask001_a/7")
    assert e.prompt == "Definition: do A. Prompt: A it.\n\nInput: Sentence 7.\nOutput:"
    assert e.references == ("Answer 7.", "alt") and e.target == " Answer 7."
    assert e.group == "subtask001_a" and e.choices == ()
    assert {x.group for x in train} == {"subtask001_a", "subtask002_b"}


def test_the_split_is_fixed_by_uid_alone():
    uids = [f"natural_instructions/subtask0/{i}" for i in range(2000)]
    assert [split_of(u) for u in uids] == [split_of(u) for u in uids]
    assert 150 < sum(split_of(u) == "test" for u in uids) < 250
    assert format_ni(" Do it. ", " x ") == "Do it.\n\nInput: x\nOutput:"


@pytest.mark.real
@pytest.mark.bigbench
def test_real_natural_instructions_has_61_subtasks_and_193k_examples():
    task = get_task("natural_instructions")
    train, test = task.load("train"), task.load("test")
    assert len(train) + len(test) == 193_249  # 193,250 minus the one example without an output
    assert (len(train), len(test)) == (173_836, 19_413)
    assert len({e.group for e in train}) == 61 and len({e.group for e in test}) == 61
    assert len({e.uid for e in train + test}) == len(train) + len(test)
    for e in train[::50] + test[::10]:
        assert (
            e.prompt.startswith("Definition:")
            and "\n\nInput: " in e.prompt
            and e.prompt.endswith("\nOutput:")
        )
        assert e.references and all(r.strip() for r in e.references)
        assert e.target == " " + e.references[0]
